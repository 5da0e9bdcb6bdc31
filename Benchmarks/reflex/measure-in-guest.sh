#!/bin/bash
# Reaction latency on a real kernel, side by side: the C reflex baseline (reflex.c: event -> set
# value, the floor any controller can reach) and `packguard run`, each timed from outside by
# latency.c through gpio-sim's sysfs: a write of the Discharge Enable line's `pull` (the BMS
# releasing its open-drain output) to the discharge relay line's `value` reading 0.
#
# Runs inside the rig's qemu guest (rig/run.sh, rig/guest-init.sh), after the gpio-sim chip with
# lines GPIO0..GPIO27 exists. Nothing may hold GPIO27 or GPIO20 when it starts; it leaves both
# released and every other line untouched. The guest's root file system is read-only, so the C
# programs must be built on the host first: `make -C Benchmarks/reflex`.
#
# Usage: measure-in-guest.sh [--sim DIR] [--packguard BIN] [--count N] [--scratch DIR]
#   --sim        sysfs directory of the gpio-sim chip (default: $SIM, as guest-init.sh exports it)
#   --packguard  the packguard binary (default: $PACKGUARD_PERF_BIN, else $PACKGUARD_BIN); use a
#                release build (`swift build -c release`): a debug build measures the debug build
#   --count      timed edges per program (default: $RIG_PERF_EDGES, else 1000), after 20 warm-up edges
#   --scratch    a writable directory (default: $SCRATCH, else /tmp)
# Output, one line each (also the protocol rig/run.sh reads from the console):
#   RIG-PERF reflex n=1000 p50_us=.. p99_us=.. max_us=.. min_us=.. mean_us=.. read_us=..
#   RIG-PERF packguard n=1000 p50_us=.. ... build=release
#   RIG-PERF-FAILED <what> | <why>        (and exit 1)
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
sim=${SIM:-}
bin=${PACKGUARD_PERF_BIN:-${PACKGUARD_BIN:-}}
count=${RIG_PERF_EDGES:-1000}
scratch=${SCRATCH:-/tmp}
while [ $# -gt 0 ]; do
    case "$1" in
        --sim) sim=$2; shift 2 ;;
        --packguard) bin=$2; shift 2 ;;
        --count) count=$2; shift 2 ;;
        --scratch) scratch=$2; shift 2 ;;
        *) echo "usage: $0 [--sim DIR] [--packguard BIN] [--count N] [--scratch DIR]" >&2; exit 2 ;;
    esac
done

failed() { echo "RIG-PERF-FAILED $1 | $2"; exit 1; }
[ -d "$sim/sim_gpio27" ] && [ -d "$sim/sim_gpio20" ] || failed "setup" "no gpio-sim lines under '$sim' (--sim)"
[ -x "$here/build/reflex" ] && [ -x "$here/build/latency" ] \
    || failed "setup" "no $here/build/{reflex,latency}: run 'make -C Benchmarks/reflex' on the host first"
[ -x "$bin" ] || failed "setup" "no packguard binary '$bin' (--packguard)"
case "$bin" in */release/*) build=release ;; */debug/*) build=debug ;; *) build=unknown ;; esac

# The shipped configuration's lines: Discharge Enable (input, active-low, pull-up) and the
# discharge relay (output, active-high). reflex requests the same lines with the same polarity.
ENABLE=GPIO27 RELAY=GPIO20
pull_file=$sim/sim_gpio${ENABLE#GPIO}/pull
value_file=$sim/sim_gpio${RELAY#GPIO}/value
work=$scratch/perf
mkdir -p "$work" || failed "setup" "cannot create $work"
meter() { "$here/build/latency" --pull "$pull_file" --value "$value_file" --count "$count" --warmup 20 --label "$1" 2>&1; }
# Waits up to 30 s for a line in FILE matching PATTERN while PID lives.
wait_for_line() {
    local i
    for i in $(seq 300); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
stop() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# 1. The reflex baseline.
"$here/build/reflex" "$ENABLE" "$RELAY" >"$work/reflex.log" 2>&1 &
reflex=$!
wait_for_line "$work/reflex.log" "reflex: ready" "$reflex" || failed "reflex" "did not start: $(tr '\n' ' ' <"$work/reflex.log")"
result=$(meter reflex) || { stop "$reflex"; failed "reflex" "$result"; }
stop "$reflex"
echo "RIG-PERF $result"

# 2. packguard run: the shipped configuration with timings shortened so that a cycle is quick
# (the relay re-closes 20 ms after the enable returns, the smallest qualifyMs the configuration
# accepts; no minimum off time; no chatter lockout at this rate) and scratch paths.
config=$work/packguard.yaml
awk -v sock="$work/control.sock" -v state="$work/state" '
    /^[A-Za-z]/ { section = $1 }
    section == "timing:" && /^  startupHoldMs:/ { sub(/: [0-9]+/, ": 0") }
    section == "timing:" && /^  qualifyMs:/ { sub(/: [0-9]+/, ": 20") }
    section == "timing:" && /^  minOffMs:/ { sub(/: [0-9]+/, ": 0") }
    section == "timing:" && /^  chatterLimit:/ { sub(/: [0-9]+/, ": 100") }
    section == "timing:" && /^  chatterWindowS:/ { sub(/: [0-9]+/, ": 1") }
    section == "paths:" && /^  controlSocket:/ { sub(/controlSocket: [^ ]*/, "controlSocket: " sock) }
    section == "paths:" && /^  stateDirectory:/ { sub(/stateDirectory: [^ ]*/, "stateDirectory: " state) }
    { print }' "$repo/hardware/pi/packguard.yaml" >"$config"
checked=$("$bin" check-config "$config" 2>&1) || failed "packguard" "configuration: $checked"
"$bin" run --config "$config" >"$work/packguard.log" 2>&1 &
daemon=$!
wait_for_line "$work/packguard.log" "ready:" "$daemon" \
    || { stop "$daemon"; failed "packguard" "not ready: $(tail -3 "$work/packguard.log" | tr '\n' ' ')"; }
result=$(meter packguard) || { stop "$daemon"; failed "packguard" "$result; log: $(tail -3 "$work/packguard.log" | tr '\n' ' ')"; }
stop "$daemon"
echo "RIG-PERF $result build=$build"
