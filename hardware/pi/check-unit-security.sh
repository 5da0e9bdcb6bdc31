#!/usr/bin/env bash
# Fail when packguard.service's systemd exposure score is above the limit (default 2.0).
# Usage: hardware/pi/check-unit-security.sh [MAX [UNIT-FILE]]   (needs systemd-analyze; installs systemd if missing)
#   UNIT-FILE defaults to packguard.service beside this script (packguard-telemetry.service is checked too).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
max=${1:-2.0}
unit=${2:-$here/packguard.service}

if ! command -v systemd-analyze >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

out=$(SYSTEMD_COLORS=0 systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || {
    echo "$out" >&2
    echo "check-unit-security: systemd-analyze failed" >&2
    exit 1
}
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' | tail -n1)
if [ -z "$level" ]; then
    echo "$out" >&2
    echo "check-unit-security: no exposure level in systemd-analyze output" >&2
    exit 1
fi
printf '%s\n' "$out" | grep -E '^✗' || true
if awk -v l="$level" -v m="$max" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
    echo "check-unit-security: $(basename "$unit") exposure $level (limit $max): ok"
else
    echo "check-unit-security: $(basename "$unit") exposure $level exceeds $max" >&2
    exit 1
fi
