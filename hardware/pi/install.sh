#!/usr/bin/env bash
# Install PackGuard on a Raspberry Pi (Raspberry Pi OS / Debian). Idempotent: run it again after
# every update. Steps:
#   1. build the release binaries (swift build -c release --static-swift-stdlib) as the invoking user,
#      then re-run via sudo
#   2. create the system groups gpio and i2c if the OS has none, the unprivileged user packguard and
#      the group packguard-admin (who may reset and release force-off)
#   3. udev rule giving those groups the GPIO / I2C devices; i2c-dev loaded at boot
#   4. install /usr/local/bin/packguard and packguard-daemon (and packguard-bench, packguard-telemetry from next to it), its
#      start check, the unit, and /etc/packguard/packguard.yaml
#      (an existing config is never overwritten: the new default is written next to it as .default)
#   5. hardware watchdog: systemd feeds it (default), or PackGuard owns it, or none
#   6. the firmware lines of hardware/pi/config.txt in config.txt, between PackGuard markers
#   7. packguard check-config on the installed config, then enable (and restart) the service;
#      if config.txt changed, the service starts at the next boot instead (a reboot is needed)
#
# Usage: hardware/pi/install.sh [options]     (as your normal user; it builds, then calls sudo)
#   --no-build               install the binary given by --binary (default .build/release/packguard)
#   --binary PATH            binary to install
#   --hw-watchdog MODE       systemd (default) | packguard | none   (match watchdog.hardware in the config)
#   --no-boot-config         leave config.txt alone (then add hardware/pi/config.txt yourself)
#   --no-start               enable but do not (re)start the service now
#   --destdir DIR            stage every file under DIR and change nothing on this system (for tests)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=1 binary="" hw_watchdog=systemd boot_config=1 start=1 destdir=""
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --binary) binary=${2:?}; shift 2 ;;
        --hw-watchdog) hw_watchdog=${2:?}; shift 2 ;;
        --hw-watchdog=*) hw_watchdog=${1#*=}; shift ;;
        --no-boot-config) boot_config=0; shift ;;
        --no-start) start=0; shift ;;
        --destdir) destdir=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$hw_watchdog" in systemd|packguard|none) ;; *) echo "install.sh: --hw-watchdog systemd|packguard|none" >&2; exit 2 ;; esac

live() { [ -z "$destdir" ]; }     # true when installing onto this system
D=${destdir%/}
say() { echo "install.sh: $*"; }

# 1. build: as the invoking user, so swift is on PATH and .build stays theirs -------------------
if [ "$build" -eq 1 ]; then
    if ! command -v swift >/dev/null 2>&1; then
        echo "install.sh: swift is not on PATH. Run this script as your normal user (it calls sudo" >&2
        echo "            itself), or pass --no-build --binary PATH." >&2
        exit 1
    fi
    # The Swift runtime linked in: the daemon then maps no Swift shared library (peak memory, README).
    say "building the release binaries (swift build -c release --static-swift-stdlib)"
    (cd "$repo" && swift build -c release --static-swift-stdlib)
    binary=$(cd "$repo" && swift build -c release --static-swift-stdlib --show-bin-path)/packguard
fi
binary=${binary:-$repo/.build/release/packguard}
[ -x "$binary" ] || { echo "install.sh: no executable at $binary" >&2; exit 1; }
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
# `packguard run` (the service) becomes packguard-daemon: without it nothing would run.
[ -x "$(dirname "$binary")/packguard-daemon" ] \
    || { echo "install.sh: no packguard-daemon next to $binary: the service runs it (build every product: swift build -c release --static-swift-stdlib)" >&2; exit 1; }
if live && [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "${args[@]}" --no-build --binary "$binary"
fi

# helpers: install a file only when its content or mode differs (return 1 when unchanged) ----------
put() {  # put MODE SRC DEST
    local mode=$1 src=$2 dest=$D$3
    mkdir -p "$(dirname "$dest")"
    if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
        return 1
    fi
    install -m "$mode" "$src" "$dest.packguard-new"
    mv -f "$dest.packguard-new" "$dest"
    say "installed $3"
}
put_text() {  # put_text MODE DEST TEXT
    local tmp rc=0
    tmp=$(mktemp)
    printf '%s\n' "$3" >"$tmp"
    put "$1" "$tmp" "$2" || rc=$?
    rm -f "$tmp"
    return "$rc"
}

# 2. groups and user ------------------------------------------------------------------------------
# Groups this script creates are listed in created-groups, so that uninstall.sh removes those and no others.
created_groups=/usr/local/lib/packguard/created-groups
if live; then
    for g in gpio i2c; do
        if ! getent group "$g" >/dev/null; then
            say "creating system group $g"
            groupadd --system "$g"
            mkdir -p "$(dirname "$created_groups")"
            echo "$g" >>"$created_groups"
        fi
    done
    if ! id -u packguard >/dev/null 2>&1; then
        say "creating system user packguard"
        useradd --system --user-group --home-dir /var/lib/packguard --no-create-home \
            --shell /usr/sbin/nologin --comment "PackGuard contactor controller" packguard
    fi
    # control.adminGroup's default: its members may `reset` and `force-off off` (README "Running it").
    getent group packguard-admin >/dev/null || { say "creating system group packguard-admin"; groupadd --system packguard-admin; }
fi

# 3. device access ---------------------------------------------------------------------------------
rules='# PackGuard: GPIO character devices and I2C adapters for the gpio / i2c groups
SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"
SUBSYSTEM=="i2c-dev", GROUP="i2c", MODE="0660"'
if [ "$hw_watchdog" = packguard ]; then
    rules="$rules"'
KERNEL=="watchdog*", GROUP="packguard", MODE="0660"'
fi
put_text 0644 /etc/udev/rules.d/60-packguard.rules "$rules" || true
put_text 0644 /etc/modules-load.d/packguard.conf "i2c-dev" || true
if live; then
    modprobe i2c-dev 2>/dev/null || true
    udevadm control --reload 2>/dev/null || true
    udevadm trigger --subsystem-match=gpio --subsystem-match=i2c-dev 2>/dev/null || true
    # The watchdog's devices are in other subsystems (watchdog, misc): matched by name.
    if [ "$hw_watchdog" = packguard ]; then udevadm trigger --sysname-match='watchdog*' 2>/dev/null || true; fi
    # The service starts below: the devices' new group and mode must be in place by then.
    udevadm settle --timeout=10 2>/dev/null || true
fi

# 4. binary, start check, unit, config -------------------------------------------------------------
put 0755 "$binary" /usr/local/bin/packguard || true
put 0755 "$(dirname "$binary")/packguard-daemon" /usr/local/bin/packguard-daemon || true
# `packguard bench`, `simulate` and `telemetry` run these (they live apart so the daemon stays small).
for sibling in packguard-bench packguard-telemetry; do
    if [ -x "$(dirname "$binary")/$sibling" ]; then
        put 0755 "$(dirname "$binary")/$sibling" "/usr/local/bin/$sibling" || true
    else
        say "warning: no $sibling next to $binary: the service runs, but \`packguard ${sibling#packguard-}\` will not"
    fi
done
put 0755 "$here/check-gpio-release.sh" /usr/local/lib/packguard/check-gpio-release || true
put 0644 "$here/packguard.service" /etc/systemd/system/packguard.service || true
mkdir -p "$D/etc/packguard"
chmod 0750 "$D/etc/packguard"
cfg=$D/etc/packguard/packguard.yaml
if [ ! -f "$cfg" ]; then
    put 0640 "$here/packguard.yaml" /etc/packguard/packguard.yaml || true
elif ! cmp -s "$here/packguard.yaml" "$cfg"; then
    if put 0640 "$here/packguard.yaml" /etc/packguard/packguard.yaml.default; then
        say "kept your /etc/packguard/packguard.yaml; compare it with packguard.yaml.default"
    fi
fi
if live; then
    chgrp packguard "$D/etc/packguard" "$cfg"
    if [ -f "$cfg.default" ]; then chgrp packguard "$cfg.default"; fi
fi

# 4b. CAN (can.enabled: true): the unit drop-in that lets packguard see can0, and can0 brought up at
#     boot listen-only at can.bitrate, before packguard starts (hardware/can.md) ----------------------
effective=$("$binary" check-config "$cfg" 2>/dev/null || true)
can_section=$(printf '%s\n' "$effective" | awk '/^[a-z]/ { in_can = ($1 == "can:") } in_can')
if printf '%s\n' "$can_section" | grep -qx '  enabled: true'; then
    can_if=$(printf '%s\n' "$can_section" | sed -n 's/^  interface: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p')
    can_rate=$(printf '%s\n' "$can_section" | sed -n 's/^  bitrate: \([0-9]*\)$/\1/p')
    mkdir -p "$D/etc/systemd/system/packguard.service.d"
    put 0644 "$here/packguard-can.conf" /etc/systemd/system/packguard.service.d/can.conf || true
    can_unit=$(mktemp)
    cat >"$can_unit" <<UNIT
[Unit]
Description=CAN interface $can_if for PackGuard, listen-only at $can_rate bit/s
Before=packguard.service
BindsTo=sys-subsystem-net-devices-$can_if.device
After=sys-subsystem-net-devices-$can_if.device

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ip link set $can_if up type can bitrate $can_rate listen-only on
ExecStop=/usr/sbin/ip link set $can_if down

[Install]
WantedBy=multi-user.target
UNIT
    put 0644 "$can_unit" /etc/systemd/system/packguard-can.service || true
    rm -f "$can_unit"
    if live; then systemctl enable packguard-can.service >/dev/null; fi
    say "CAN: $can_if listen-only at $can_rate bit/s at boot (packguard-can.service), unit drop-in can.conf"
fi

# 5. hardware watchdog -----------------------------------------------------------------------------
wdconf=/etc/systemd/system.conf.d/packguard-watchdog.conf
wd_changed=0
if [ "$hw_watchdog" = systemd ]; then
    # BCM2835/2711 watchdog: at most ~15 s. PID 1 feeds it; a hung kernel or PID 1 resets the SoC,
    # which returns every GPIO to its reset state (inputs, pull-down on GPIO9-27): relays off.
    if put_text 0644 "$wdconf" $'# PackGuard: systemd feeds the hardware watchdog.\n[Manager]\nRuntimeWatchdogSec=15s'; then
        wd_changed=1
    fi
elif [ -f "$D$wdconf" ]; then
    rm -f "$D$wdconf"
    wd_changed=1
    say "removed $wdconf (hardware watchdog: $hw_watchdog)"
fi

# 6. firmware config.txt ---------------------------------------------------------------------------
reboot_needed=0
if [ "$boot_config" -eq 1 ]; then
    bootcfg=""
    for c in /boot/firmware/config.txt /boot/config.txt; do
        if [ -f "$D$c" ]; then bootcfg=$D$c; break; fi
    done
    if [ -z "$bootcfg" ]; then
        say "no config.txt found: add the lines of hardware/pi/config.txt to it yourself"
    else
        block=$(printf '# PackGuard begin (managed by hardware/pi/install.sh)\n[all]\n%s\n# PackGuard end' \
            "$(grep -v '^#' "$here/config.txt" | sed '/^$/d')")
        new=$(mktemp)
        awk -v block="$block" '
            /^# PackGuard begin/ { skip = 1; if (!done) { print block; done = 1 }; next }
            /^# PackGuard end/   { skip = 0; next }
            !skip { print }
            END { if (!done) { print ""; print block } }' "$bootcfg" >"$new"
        if ! cmp -s "$new" "$bootcfg"; then
            [ -f "$bootcfg.packguard-backup" ] || cp -p "$bootcfg" "$bootcfg.packguard-backup"
            cat "$new" >"$bootcfg"
            say "updated ${bootcfg#"$D"} (backup ${bootcfg#"$D"}.packguard-backup): reboot needed"
            reboot_needed=1
        fi
        rm -f "$new"
    fi
fi

# 7. validate and enable ---------------------------------------------------------------------------
if ! live; then
    say "staged under $D (nothing enabled)"
    exit 0
fi
say "checking the installed config as user packguard"
runuser -u packguard -- /usr/local/bin/packguard check-config /etc/packguard/packguard.yaml
if [ "$wd_changed" -eq 1 ]; then
    systemctl daemon-reexec   # PID 1 re-reads system.conf.d: the watchdog setting applies now
fi
systemctl daemon-reload
systemctl enable packguard.service >/dev/null
say "enabled packguard.service"
if [ "$reboot_needed" -eq 1 ]; then
    say "config.txt changed: reboot now (sudo reboot); PackGuard starts at boot"
elif [ "$start" -eq 1 ]; then
    systemctl restart packguard.service
    say "packguard.service (re)started. Status: systemctl status packguard; logs: journalctl -u packguard"
fi
