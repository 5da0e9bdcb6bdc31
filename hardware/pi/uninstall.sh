#!/usr/bin/env bash
# Remove PackGuard from this Raspberry Pi: everything hardware/pi/install.sh added except the configuration.
# Idempotent. Stops the service first: SIGTERM makes PackGuard switch every relay off before it exits.
# Removes the unit, the binary and start check, the udev rule, the i2c-dev modules-load entry, the systemd
# watchdog setting, the state directory (/var/lib/packguard), the user and group packguard, the group
# packguard-admin, the gpio / i2c
# groups only if install.sh created them (the OS's own are kept), and the PackGuard block of config.txt
# (takes effect at the next boot). Keeps /etc/packguard (the configuration) unless --purge.
#
# Usage: sudo hardware/pi/uninstall.sh [--purge] [--destdir DIR]
set -euo pipefail

purge=0 destdir=""
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --purge) purge=1; shift ;;
        --destdir) destdir=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
D=${destdir%/}
live() { [ -z "$destdir" ]; }
say() { echo "uninstall.sh: $*"; }
if live && [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "${args[@]}"
fi

if live && [ -n "$(systemctl list-unit-files --no-legend packguard.service 2>/dev/null)" ]; then
    systemctl disable --now packguard.service >/dev/null 2>&1 || systemctl stop packguard.service || true
    say "stopped and disabled packguard.service"
fi

rm_file() {
    if [ -e "$D$1" ] || [ -L "$D$1" ]; then rm -f "$D$1"; say "removed $1"; fi
}
rm_tree() {
    if [ -e "$D$1" ]; then rm -rf "$D$1"; say "removed $1"; fi
}
created_groups=$(cat "$D/usr/local/lib/packguard/created-groups" 2>/dev/null || true)
rm_file /etc/systemd/system/packguard.service
rm_file /etc/systemd/system/multi-user.target.wants/packguard.service
rm_file /usr/local/bin/packguard
rm_file /usr/local/bin/packguard-daemon
rm_file /usr/local/bin/packguard-bench
rm_file /usr/local/bin/packguard-telemetry
rm_tree /usr/local/lib/packguard
rm_file /etc/udev/rules.d/60-packguard.rules
rm_file /etc/modules-load.d/packguard.conf
wd_removed=0
if [ -e "$D/etc/systemd/system.conf.d/packguard-watchdog.conf" ]; then
    rm_file /etc/systemd/system.conf.d/packguard-watchdog.conf
    rmdir "$D/etc/systemd/system.conf.d" 2>/dev/null || true
    wd_removed=1
fi
rm_tree /var/lib/packguard
rm_tree /run/packguard

# config.txt: the block between the PackGuard markers, and the backup install.sh made before adding it.
for c in /boot/firmware/config.txt /boot/config.txt; do
    f=$D$c
    [ -f "$f" ] || continue
    if grep -q '^# PackGuard begin' "$f"; then
        tmp=$(mktemp)
        awk '/^# PackGuard begin/ { skip = 1; next } /^# PackGuard end/ { skip = 0; next } !skip' "$f" >"$tmp"
        cat "$tmp" >"$f"
        rm -f "$tmp"
        say "removed the PackGuard block from $c (takes effect at the next boot)"
    fi
    rm_file "$c.packguard-backup"
done

if [ "$purge" -eq 1 ]; then
    rm_tree /etc/packguard
fi

if live; then
    if id -u packguard >/dev/null 2>&1; then userdel packguard && say "removed user packguard"; fi
    if getent group packguard >/dev/null; then groupdel packguard && say "removed group packguard"; fi
    if getent group packguard-admin >/dev/null; then groupdel packguard-admin && say "removed group packguard-admin"; fi
    for g in $created_groups; do
        if getent group "$g" >/dev/null; then groupdel "$g" && say "removed group $g (created by install.sh)"; fi
    done
    if [ -d /etc/packguard ]; then
        # The kept configuration belonged to group packguard, which is gone: root's until the next install.
        chgrp -R root /etc/packguard
        say "kept /etc/packguard (the configuration; --purge removes it)"
    fi
    if [ "$wd_removed" -eq 1 ]; then systemctl daemon-reexec || true; fi
    systemctl daemon-reload || true
    systemctl reset-failed packguard.service 2>/dev/null || true
    # Without the rule the devices go back to the kernel's defaults (root, 0600).
    udevadm control --reload 2>/dev/null || true
    udevadm trigger --subsystem-match=gpio --subsystem-match=i2c-dev 2>/dev/null || true
    udevadm trigger --sysname-match='watchdog*' 2>/dev/null || true
fi
say "done"
