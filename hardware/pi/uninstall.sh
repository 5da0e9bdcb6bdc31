#!/usr/bin/env bash
# Remove PackGuard from this Raspberry Pi. Idempotent.
# Stops the service first: SIGTERM makes PackGuard switch every relay off before it exits.
# Keeps /etc/packguard, /var/lib/packguard, the packguard user, the packguard-admin group and the
# config.txt block unless --purge.
# Never removes the gpio / i2c groups (the OS and other software use them).
#
# Usage: sudo hardware/pi/uninstall.sh [--purge] [--destdir DIR]
set -euo pipefail

purge=0 destdir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --purge) purge=1; shift ;;
        --destdir) destdir=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
D=${destdir%/}
live() { [ -z "$destdir" ]; }
say() { echo "uninstall.sh: $*"; }
if live && [ "$(id -u)" -ne 0 ]; then
    exec sudo "$0" "$@"
fi

if live && systemctl list-unit-files packguard.service >/dev/null 2>&1; then
    systemctl disable --now packguard.service 2>/dev/null || true
    say "stopped and disabled packguard.service"
fi

rm_file() {
    if [ -e "$D$1" ]; then rm -f "$D$1"; say "removed $1"; fi
}
rm_file /etc/systemd/system/packguard.service
rm_file /usr/local/bin/packguard
rm_file /usr/local/lib/packguard/check-gpio-release
rmdir "$D/usr/local/lib/packguard" 2>/dev/null || true
rm_file /etc/udev/rules.d/60-packguard.rules
rm_file /etc/modules-load.d/packguard.conf
wd_removed=0
if [ -e "$D/etc/systemd/system.conf.d/packguard-watchdog.conf" ]; then
    rm_file /etc/systemd/system.conf.d/packguard-watchdog.conf
    wd_removed=1
fi

if [ "$purge" -eq 1 ]; then
    if [ -d "$D/etc/packguard" ]; then rm -rf "$D/etc/packguard"; say "removed /etc/packguard"; fi
    if [ -d "$D/var/lib/packguard" ]; then rm -rf "$D/var/lib/packguard"; say "removed /var/lib/packguard"; fi
    if live && id -u packguard >/dev/null 2>&1; then userdel packguard && say "removed user packguard"; fi
    if live && getent group packguard-admin >/dev/null; then groupdel packguard-admin && say "removed group packguard-admin"; fi
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
    done
fi

if live; then
    if [ "$wd_removed" -eq 1 ]; then systemctl daemon-reexec || true; fi
    systemctl daemon-reload || true
    udevadm control --reload 2>/dev/null || true
fi
say "done"
