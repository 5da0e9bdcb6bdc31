#!/bin/bash
# Reaction latency on a real kernel, side by side in one boot: the C reflex baseline (reflex.c: event ->
# set value, the floor any controller can reach), a 10-line Python gpiod script (mirror.py, Debian's
# python3-libgpiod 1.6) and `packguard run`, each timed from outside by latency.c through gpio-sim's
# sysfs: a write of the Discharge Enable line's `pull` (the BMS releasing its open-drain output) to the
# discharge relay line's `value` reading 0. Each program runs twice: idle, then with two CPU hogs
# (busy shell loops, one per CPU of the rig's guest, at the default priority).
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
# Environment: RIG_PERF_SCHEDULING (fifo|other) and RIG_PERF_LOCK_MEMORY (true|false) override the
#   configuration's realtime.scheduling and realtime.lockMemory; RIG_PERF_CONFIG, the configuration the daemon's is made from (default: hardware/pi/packguard.yaml;
#   an older build needs the shipped file of its own version). RIG_PERF_SETTLE_MS: the meter's --settle-ms
#   (default 0).
# Output, one line each (also the protocol rig/run.sh reads from the console):
#   RIG-PERF <program> condition=<idle|load> n=1000 p50_us=.. p99_us=.. max_us=.. min_us=.. mean_us=.. read_us=.. hwm_kib=..
#     programs: reflex, python, packguard (this one ends in build=release|debug|unknown)
#   RIG-PERF-SYSCALLS <program> cycles=200 per_cycle=.. top=call:per_cycle,...   (idle; see count_syscalls)
#   RIG-PROFILE packguard ...   (with RIG_PERF_PROFILE=1: perf report lines, the hottest symbols first)
#   RIG-PERF-FAILED <program> condition=<idle|load> | <why>   (that program is skipped, the others still run;
#                                                              exit 1 at the end)
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
any_failed=0
# One program's failure in one condition: reported, and the others still run.
failed_one() { echo "RIG-PERF-FAILED $1 | $2"; any_failed=1; }
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
# meter NAME [latency options]: times the program now running (COUNT edges after 20 warm-up edges by default).
# The meter runs SCHED_FIFO 40, above any program it times (packguard's control thread runs at 10), and spins
# on a CPU of its own: it is never the one that waits, so idle or under load it times the program, not itself.
# The guest's RT throttling is off while it runs (else the spinning meter stalls 50 ms in every second).
# The meter has the last CPU to itself and every measured program the others: a program (or a thread of
# one) that is not SCHED_FIFO and woke on the meter's CPU would wait there behind it, for seconds (seen
# once with the Python script under load: no reaction within 5 s).
cpus=$(nproc)
meter_pin=() program_pin=()
if [ "$cpus" -ge 2 ] && command -v taskset >/dev/null; then
    meter_pin=(taskset -c "$((cpus - 1))")
    program_pin=(taskset -c "0-$((cpus - 2))")
fi
meter() {
    local name=$1; shift
    ${meter_pin[@]+"${meter_pin[@]}"} chrt -f 40 "$here/build/latency" --pull "$pull_file" --value "$value_file" --count "$count" --warmup 20 \
        --label "$name condition=$condition" --settle-ms "${RIG_PERF_SETTLE_MS:-0}" "$@" 2>&1
}
rt_runtime=$(cat /proc/sys/kernel/sched_rt_runtime_us 2>/dev/null)
echo -1 >/proc/sys/kernel/sched_rt_runtime_us 2>/dev/null
restore_rt_runtime() { [ -z "$rt_runtime" ] || echo "$rt_runtime" >/proc/sys/kernel/sched_rt_runtime_us 2>/dev/null; }
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

# The meter needs a clock in microseconds: under TCG the kernel sometimes starts on jiffies (4 ms) when
# its TSC calibration is disturbed by a busy host. Switch to the TSC when the kernel has it.
clocksource=/sys/devices/system/clocksource/clocksource0
if [ "$(cat "$clocksource/current_clocksource" 2>/dev/null)" != tsc ] \
    && grep -qw tsc "$clocksource/available_clocksource" 2>/dev/null; then
    echo tsc >"$clocksource/current_clocksource" 2>/dev/null
fi
echo "RIG-NOTE perf: clocksource $(cat "$clocksource/current_clocksource" 2>/dev/null || echo unknown) (available: $(cat "$clocksource/available_clocksource" 2>/dev/null)), CPUs online $(cat /sys/devices/system/cpu/online 2>/dev/null), usable $(nproc)"
if [ "$(cat "$clocksource/current_clocksource" 2>/dev/null)" != tsc ]; then
    echo "RIG-NOTE perf: the kernel on the clock: $(dmesg 2>/dev/null | grep -iE 'tsc|clocksource' | tail -4 | tr '\n' ';')"
fi
python=/usr/bin/python3
hogs=()
start_hogs() {
    local i
    for i in 1 2; do ( while :; do :; done ) & hogs+=($!); done
}
stop_hogs() {
    local hog
    for hog in "${hogs[@]}"; do kill -KILL "$hog" 2>/dev/null; wait "$hog" 2>/dev/null; done
    hogs=()
}
trap 'stop_hogs; restore_rt_runtime' EXIT

# measure_program NAME READY SUFFIX COMMAND...: starts COMMAND, waits for READY in its output (the
# program now follows the input), times it, stops it, and prints its RIG-PERF line (SUFFIX appended)
# or its RIG-PERF-FAILED line.
measure_program() {
    local name=$1 ready=$2 suffix=$3; shift 3
    local log="$work/$name-$condition.log" pid result
    ${program_pin[@]+"${program_pin[@]}"} "$@" >"$log" 2>&1 &
    pid=$!
    if ! wait_for_line "$log" "$ready" "$pid"; then
        stop "$pid"
        failed_one "$name condition=$condition" "did not start: $(tail -3 "$log" | tr '\n' ' ')"
        return
    fi
    if ! result=$(meter "$name"); then
        stop "$pid"
        failed_one "$name condition=$condition" "$result; log: $(tail -3 "$log" | tr '\n' ' ')"
        return
    fi
    # Peak resident size over the whole run (a Python script's interpreter included).
    local hwm; hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null)
    # What the resident set is made of now (VmHWM is its peak): KiB per mapped file, anonymous
    # memory (heap, thread stacks) as [anon], the largest first.
    local resident; resident=$(awk '
        /^[0-9a-f]+-[0-9a-f]+ / { name = NF >= 6 ? $6 : "[anon]"; sub(/.*\//, "", name) }
        /^Rss:/ { kib[name] += $2 }
        END { for (n in kib) if (kib[n] > 0) printf "%d %s\n", kib[n], n }' "/proc/$pid/smaps" 2>/dev/null \
        | sort -rn | head -10 | awk '{ printf "%s%s:%d", sep, $2, $1; sep = " " }')
    stop "$pid"
    [ -z "$resident" ] || echo "RIG-NOTE perf: $name condition=$condition resident KiB by mapping: $resident"
    echo "RIG-PERF $result hwm_kib=${hwm:-?}$suffix"
    # Anything the program said besides its relay changes (a warning, a missed deadline) is worth seeing.
    local said; said=$(grep -v -E 'relay (opened|closed)|ready' "$log" | sort | uniq -c | sort -rn | head -16 | tr -s ' ' | tr '\n' ';')
    [ -z "$said" ] || echo "RIG-NOTE perf: $name condition=$condition said: $said"
}

# packguard run: the shipped configuration with timings shortened so that a cycle is quick
# (the relay re-closes 20 ms after the enable returns, the smallest qualifyMs the configuration
# accepts; no minimum off time; no chatter lockout at this rate) and scratch paths.
config=$work/packguard.yaml
awk -v sock="$work/control.sock" -v state="$work/state" -v scheduling="${RIG_PERF_SCHEDULING:-}" -v lock="${RIG_PERF_LOCK_MEMORY:-}" '
    /^[A-Za-z]/ { section = $1 }
    section == "timing:" && /^  startupHoldMs:/ { sub(/: [0-9]+/, ": 0") }
    section == "timing:" && /^  qualifyMs:/ { sub(/: [0-9]+/, ": 20") }
    section == "timing:" && /^  minOffMs:/ { sub(/: [0-9]+/, ": 0") }
    section == "timing:" && /^  chatterLimit:/ { sub(/: [0-9]+/, ": 100") }
    section == "timing:" && /^  chatterWindowS:/ { sub(/: [0-9]+/, ": 1") }
    section == "paths:" && /^  controlSocket:/ { sub(/controlSocket: [^ ]*/, "controlSocket: " sock) }
    section == "paths:" && /^  stateDirectory:/ { sub(/stateDirectory: [^ ]*/, "stateDirectory: " state) }
    section == "realtime:" && scheduling != "" && /^  scheduling:/ { sub(/scheduling: [a-z]+/, "scheduling: " scheduling) }
    section == "realtime:" && lock != "" && /^  lockMemory:/ { sub(/lockMemory: [a-z]+/, "lockMemory: " lock) }
    { print }' "${RIG_PERF_CONFIG:-$repo/hardware/pi/packguard.yaml}" >"$config"
checked=$("$bin" check-config "$config" 2>&1) || failed "packguard condition=idle" "configuration: $checked"

# count_syscalls NAME READY COMMAND...: the system calls of every thread of COMMAND over
# RIG_PERF_SYSCALL_CYCLES assert/release cycles (strace -f -c attached after READY, so start-up is not
# counted): RIG-PERF-SYSCALLS NAME cycles=N per_cycle=X top=call:count,... (per cycle). With
# RIG_PERF_TRACE=1, also the timed trace (strace -f -tt -T) of 3 cycles, as RIG-TRACE lines.
syscall_cycles=${RIG_PERF_SYSCALL_CYCLES:-200}
count_syscalls() {
    local name=$1 ready=$2; shift 2
    local log="$work/$name-strace.log" pid tracer summary total
    command -v strace >/dev/null || { failed_one "$name syscalls" "no strace (install strace on the host)"; return; }
    "$@" >"$log" 2>&1 &
    pid=$!
    wait_for_line "$log" "$ready" "$pid" || { stop "$pid"; failed_one "$name syscalls" "did not start"; return; }
    summary=$work/$name-strace-summary.txt
    strace -f -qq -c -o "$summary" -p "$pid" &
    tracer=$!
    sleep 1  # attached to every thread
    if ! condition=syscalls meter "$name" --count "$syscall_cycles" --warmup 0 >/dev/null; then
        kill -INT "$tracer"; wait "$tracer"; stop "$pid"; failed_one "$name syscalls" "the meter failed under strace"; return
    fi
    kill -INT "$tracer"; wait "$tracer"
    if [ "${RIG_PERF_TRACE:-0}" = 1 ]; then
        strace -f -qq -tt -T -o "$work/$name-trace.txt" -p "$pid" &
        tracer=$!
        sleep 1
        condition=trace meter "$name" --count 3 --warmup 0 >/dev/null
        kill -INT "$tracer"; wait "$tracer"
        sed "s/^/RIG-TRACE $name /" "$work/$name-trace.txt"
    fi
    stop "$pid"
    total=$(awk '$NF == "total" { print $4 }' "$summary")
    [ -n "$total" ] || { failed_one "$name syscalls" "no strace summary: $(head -3 "$summary" | tr '\n' ' ')"; return; }
    echo "RIG-PERF-SYSCALLS $name cycles=$syscall_cycles per_cycle=$(awk -v t="$total" -v n="$syscall_cycles" 'BEGIN { printf "%.1f", t / n }')" \
        "top=$(awk -v n="$syscall_cycles" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { printf "%s%s:%.1f", sep, $NF, $4 / n; sep = "," }' "$summary" | cut -d, -f1-8)"
}

# profile NAME READY COMMAND...: perf(1) samples every thread of COMMAND (cpu-clock, 20 kHz; the guest has
# no PMU) over the timed edges, idle; prints the hottest symbols as RIG-PROFILE lines (RIG_PERF_PROFILE=1,
# which needs rig/perf.fragment's kernel: rig/run.sh boots it then).
profile() {
    local name=$1 ready=$2; shift 2
    local log="$work/$name-profile.log" data="$work/$name-perf.data" pid recorder
    command -v perf >/dev/null || { failed_one "$name profile" "no perf (install linux-perf on the host)"; return; }
    "$@" >"$log" 2>&1 &
    pid=$!
    wait_for_line "$log" "$ready" "$pid" || { stop "$pid"; failed_one "$name profile" "did not start"; return; }
    perf record -q -e cpu-clock -F 20000 -g -o "$data" -p "$pid" 2>"$work/$name-perf-record.log" &
    recorder=$!
    sleep 1
    condition=profile meter "$name" >/dev/null || failed_one "$name profile" "the meter failed under perf"
    kill -INT "$recorder"; wait "$recorder"
    stop "$pid"
    perf report -i "$data" --stdio --no-children --sort pid,dso,symbol --percent-limit 0.3 -g none 2>&1 \
        | grep -v '^#' | grep -v '^$' | head -60 | sed "s/^/RIG-PROFILE $name /"
    perf report -i "$data" --stdio --children --sort symbol --percent-limit 2 -g none 2>&1 \
        | grep -v '^#' | grep -v '^$' | head -40 | sed "s/^/RIG-PROFILE $name children /"
}

# ktrace NAME READY COMMAND...: the kernel's scheduler, interrupt and GPIO tracepoints over 5 releases of COMMAND,
# idle (RIG_PERF_KTRACE=1) or with the two CPU hogs (RIG_PERF_KTRACE=load), as RIG-KTRACE lines (needs a kernel
# with tracing: RIG_KERNEL_FRAGMENT=rig/trace.fragment).
# Where a reaction's time goes between the edge's interrupt, the wake-ups and the write.
ktrace() {
    local name=$1 ready=$2; shift 2
    local tracing=/sys/kernel/tracing log="$work/$name-ktrace.log" pid event
    [ -d "$tracing/events" ] || mount -t tracefs nodev "$tracing" 2>/dev/null
    [ -e "$tracing/events/sched/sched_switch/enable" ] \
        || { failed_one "$name ktrace" "the guest kernel has no scheduler tracepoints (RIG_KERNEL_FRAGMENT=rig/trace.fragment)"; return; }
    ${program_pin[@]+"${program_pin[@]}"} "$@" >"$log" 2>&1 &
    pid=$!
    wait_for_line "$log" "$ready" "$pid" || { stop "$pid"; failed_one "$name ktrace" "did not start"; return; }
    echo 0 >"$tracing/tracing_on"; : >"$tracing/trace"; echo 4096 >"$tracing/buffer_size_kb"
    for event in sched/sched_waking sched/sched_wakeup sched/sched_switch sched/sched_migrate_task irq/irq_handler_entry \
        irq/irq_handler_exit gpio/gpio_value irq_vectors/reschedule_entry irq_vectors/call_function_single_entry \
        irq_vectors/irq_work_entry irq_vectors/local_timer_entry; do
        [ -e "$tracing/events/$event/enable" ] && echo 1 >"$tracing/events/$event/enable"
    done
    echo 1 >"$tracing/tracing_on"
    condition=ktrace meter "$name" --count 5 --warmup 0 || failed_one "$name ktrace" "the meter failed while tracing"
    echo 0 >"$tracing/tracing_on"
    stop "$pid"
    sed -n 's/^ *//; /^#/d; s/^/RIG-KTRACE /p' "$tracing/trace"
}

for condition in idle load; do
    [ "$condition" = load ] && start_hogs
    # 1. The reflex baseline.
    measure_program reflex "reflex: ready" "" "$here/build/reflex" "$ENABLE" "$RELAY"
    # 2. The Python script (rig/run.sh installs python3-libgpiod on the host whose root the guest mounts).
    if "$python" -c "import gpiod" 2>/dev/null; then
        measure_program python "mirror: ready" "" "$python" "$here/mirror.py" "$ENABLE" "$RELAY"
    else
        failed_one "python condition=$condition" "$python cannot import gpiod: install python3-libgpiod"
    fi
    # 3. packguard run.
    measure_program packguard "ready:" " build=$build" "$bin" run --config "$config"
    [ "$condition" = load ] && stop_hogs
done
[ "${RIG_PERF_PROFILE:-0}" = 0 ] || profile packguard "ready:" "$bin" run --config "$config"
if [ "${RIG_PERF_KTRACE:-0}" != 0 ]; then
    # RIG_PERF_KTRACE=load: with the two CPU hogs running.
    [ "$RIG_PERF_KTRACE" = load ] && start_hogs
    ktrace reflex "reflex: ready" "$here/build/reflex" "$ENABLE" "$RELAY"
    ktrace packguard "ready:" "$bin" run --config "$config"
    [ "$RIG_PERF_KTRACE" = load ] && stop_hogs
fi
# System calls per cycle, idle, for each program (not timed: strace slows everything down).
if [ "$syscall_cycles" -gt 0 ]; then
    count_syscalls reflex "reflex: ready" "$here/build/reflex" "$ENABLE" "$RELAY"
    "$python" -c "import gpiod" 2>/dev/null && count_syscalls python "mirror: ready" "$python" "$here/mirror.py" "$ENABLE" "$RELAY"
    count_syscalls packguard "ready:" "$bin" run --config "$config"
fi
exit "$any_failed"
