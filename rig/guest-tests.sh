#!/bin/bash
# The rig's tests, run inside the qemu guest by rig/guest-init.sh, against the real kernel:
# libgpiod on a gpio-sim chip (lines GPIO0..GPIO27), /dev/i2c-N with i2c-stub at 0x48, /dev/watchdog
# from softdog. Everything is checked from outside the daemon, through gpio-sim's sysfs.
#
# Output protocol, read by rig/run.sh from the serial console:
#   RIG-TEST ok <name> [| detail]      RIG-TEST FAIL <name> | reason      RIG-NOTE <text>
#   RIG-GUEST-DONE passed=N failed=M   then the watchdog test, which must end in a watchdog reset:
#   RIG-WATCHDOG frozen pid=P uptime=S (daemon stopped with SIGSTOP); RIG-WATCHDOG survived (no reset: failure)
#   Perf mode only (rig/run.sh's default), before the watchdog test: RIG-PERF <program> n=.. p50_us=.. ... or
#   RIG-PERF-FAILED <what> | <why>, from Benchmarks/reflex/measure-in-guest.sh; rig/run.sh judges them.
# Environment (from guest-init.sh): PACKGUARD_BIN, SIM (sysfs dir of the gpio-sim chip), I2C_BUS,
# SCRATCH (a tmpfs), RIG_DIR, RIG_BUILD (v1 or v2: the libgpiod of this boot's build), RIG_FAULT_SO;
# in perf mode PACKGUARD_PERF_BIN (a release build) and RIG_PERF_EDGES.
set -u
bin=$PACKGUARD_BIN
work=$SCRATCH/rig
mkdir -p "$work/run"
sock=$work/run/control.sock
log=$work/daemon.log
passed=0 failed=0 pid=

# Signals of hardware/pi/packguard.yaml. Inputs are active-low (BMS open drain pulls to ground).
CE=GPIO17 DE=GPIO27 CS=GPIO22 SW=GPIO23
CHG=GPIO16 DSG=GPIO20 BAL=GPIO21 SHORE=GPIO26

ok() { echo "RIG-TEST ok $1${2:+ | $2}"; passed=$((passed + 1)); }
bad() {
    echo "RIG-TEST FAIL $1 | $2"; failed=$((failed + 1))
    [ -s "$log" ] && { echo "RIG-NOTE daemon log (last 30 lines):"; tail -30 "$log" | sed 's/^/daemon| /'; }
}
note() { echo "RIG-NOTE $*"; }

# Sleeping without forking /bin/sleep (a fork and exec cost milliseconds under emulation).
mkfifo "$work/nap" && exec 9<>"$work/nap"
nap() { read -r -t "$1" -u 9 _ || true; }
now_us() { NOW=${EPOCHREALTIME/./}; }

# gpio-sim: "value" is what a meter on the line reads; "pull" is what the outside world drives.
is() { local v; read -r v <"$SIM/sim_gpio${1#GPIO}/value"; [ "$v" = "$2" ]; }
pull() { echo "pull-$2" >"$SIM/sim_gpio${1#GPIO}/pull"; }
assert_input() { pull "$1" down; }   # the BMS (or switch) pulls the line to ground: asserted
release_input() { pull "$1" up; }
relays_off() { is $CHG 0 && is $DSG 0 && is $BAL 0 && is $SHORE 0; }
contactors_closed() { is $CHG 1 && is $DSG 1; }

# wait_for MS COMMAND...: polls every 10 ms until COMMAND succeeds; WAITED_MS is how long it took.
wait_for() {
    local limit=$1; shift
    local start; now_us; start=$NOW
    while true; do
        if "$@"; then now_us; WAITED_MS=$(( (NOW - start) / 1000 )); return 0; fi
        now_us; [ $(( NOW - start )) -gt $(( limit * 1000 )) ] && { WAITED_MS=$limit; return 1; }
        nap 0.01
    done
}
# holds_for MS COMMAND...: COMMAND succeeds at every 10 ms poll for MS milliseconds.
holds_for() {
    local limit=$1; shift
    local start; now_us; start=$NOW
    while true; do
        "$@" || return 1
        now_us; [ $(( NOW - start )) -ge $(( limit * 1000 )) ] && return 0
        nap 0.01
    done
}
# react LINE=high|low LINE=0|1 [timeout ms]: packguard rig react, which polls sysfs every 0.2 ms.
react() {
    local out
    out=$("$bin" rig react --drive "$1" --expect "$2" --timeout-ms "${3:-3000}" 2>&1) || { REACT_MS=; REACT_ERR=$out; return 1; }
    REACT_MS=${out#reaction_ms=}
}
ms_at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

# The shipped configuration with only these keys changed: adc (enabled, bus), soc.enabled,
# paths, and, for the watchdog test, watchdog.hardware (enabled, timeoutS). Lines are untouched.
make_config() {
    awk -v bus="$I2C_BUS" -v sock="$sock" -v state="$work/state" -v wd="$2" '
        /^[A-Za-z]/ { section = $1 }
        section == "adc:" && /^  enabled:/ { sub(/enabled: false/, "enabled: true") }
        section == "adc:" && /^  bus:/ { sub(/bus: [^ ]*/, "bus: " bus) }
        section == "soc:" && /^  enabled:/ { sub(/enabled: false/, "enabled: true") }
        section == "watchdog:" && wd > 0 && /^    enabled:/ { sub(/enabled: false/, "enabled: true") }
        section == "watchdog:" && wd > 0 && /^    timeoutS:/ { sub(/timeoutS: [0-9]+/, "timeoutS: " wd) }
        section == "paths:" && /^  controlSocket:/ { sub(/controlSocket: [^ ]*/, "controlSocket: " sock) }
        section == "paths:" && /^  stateDirectory:/ { sub(/stateDirectory: [^ ]*/, "stateDirectory: " state) }
        { print }' "$RIG_DIR/../hardware/pi/packguard.yaml" >"$1"
}

# start_daemon CONFIG: starts `packguard run`, checks every relay stays off until the control socket is
# up, then asserts the BMS enables (after the daemon's pull-up bias request, which overrides gpio-sim's pull).
start_daemon() {
    : >"$log"
    rm -f "$sock"
    now_us; local start=$NOW
    "$bin" run --config "$1" >"$log" 2>&1 &
    pid=$!
    local samples=0 on=0
    while [ ! -S "$sock" ]; do
        relays_off || on=$((on + 1))
        samples=$((samples + 1))
        now_us; [ $(( NOW - start )) -gt 20000000 ] && break
        kill -0 "$pid" 2>/dev/null || break
        nap 0.01
    done
    now_us; SOCKET_MS=$(( (NOW - start) / 1000 )); OFF_SAMPLES=$samples; ON_SAMPLES=$on
    [ -S "$sock" ] || return 1
    assert_input $CE; assert_input $DE
    now_us; ASSERTED_AT=$NOW
}

stop_daemon() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    pid=
}

# Every line back to the rig's rest state: pulled down, as a Pi's GPIO 9–27 and the relay gate resistors.
rest_lines() { for i in $(seq 0 27); do pull GPIO$i down; done; }

# ---------------------------------------------------------------------------------------------------
# 1. The GPIO contract suite: libgpiod backend on gpio-sim.
contract=$("$bin" rig gpio-contract --lines GPIO5,GPIO6,GPIO19,GPIO26 2>&1)
contract_status=$?
note "gpio contract: $(echo "$contract" | head -1)"
count=0
while IFS= read -r line; do
    case "$line" in
        "PASS "*) ok "gpio contract: ${line#PASS }"; count=$((count + 1)) ;;
        "FAIL "*) name=${line#FAIL }; bad "gpio contract: ${name%%: *}" "${name#*: }"; count=$((count + 1)) ;;
    esac
done <<<"$contract"
if [ "$count" = 0 ] || { [ "$contract_status" != 0 ] && [ "$failed" = 0 ]; }; then
    bad "gpio contract: suite ran" "exit $contract_status: $contract"
fi
rest_lines

# 1b. Where libgpiod v1 and v2 differ: library probes and the daemon (rig/guest-gpio-versions.sh).
source "$RIG_DIR/guest-gpio-versions.sh"

# ---------------------------------------------------------------------------------------------------
# 2. The real daemon on the shipped configuration.
config=$work/packguard.yaml
make_config "$config" 0
if grep -q "bus: $I2C_BUS" "$config" && grep -q "controlSocket: $sock" "$config" \
    && out=$("$bin" check-config "$config" 2>&1); then
    ok "config: hardware/pi/packguard.yaml with adc, soc and paths changed is valid" "adc on $I2C_BUS, soc rules on"
else
    bad "config: hardware/pi/packguard.yaml with adc, soc and paths changed is valid" "$(diff "$RIG_DIR/../hardware/pi/packguard.yaml" "$config"; echo "${out:-}")"
fi

# The ADS1115 (i2c-stub) reads SOC 50 % before the daemon starts.
if out=$("$bin" rig set-soc 50 --bus "$I2C_BUS" 2>&1); then
    note "i2c-stub: $out"
else
    bad "i2c-stub: conversion register written through $I2C_BUS" "$out"
fi

if start_daemon "$config"; then
    if [ "$ON_SAMPLES" = 0 ]; then
        ok "relays off from the start until the daemon is up" "$OFF_SAMPLES samples over $SOCKET_MS ms to the control socket"
    else
        bad "relays off from the start until the daemon is up" "a relay read on in $ON_SAMPLES of $OFF_SAMPLES samples"
    fi
else
    bad "daemon starts on gpio-sim, i2c-stub" "no control socket after $SOCKET_MS ms"
fi

# Startup hold: both enables asserted, the relays stay off for 2 s while the state is "starting".
"$bin" status --socket "$sock" >"$work/status-hold.txt" 2>&1 &
status_pid=$!
if holds_for 2000 relays_off; then hold_ok=1; else hold_ok=0; fi
wait $status_pid
if [ $hold_ok = 1 ] && grep -q "starting" "$work/status-hold.txt"; then
    ok "startup hold: relays off for 2 s with both enables asserted" "status: $(head -1 "$work/status-hold.txt")"
else
    bad "startup hold: relays off for 2 s with both enables asserted" "relays off throughout: $hold_ok; status: $(head -3 "$work/status-hold.txt")"
fi

if wait_for 10000 contactors_closed; then
    now_us
    ok "relays close after the startup hold" "both closed $(( (NOW - ASSERTED_AT) / 1000 )) ms after the enables were asserted, $(( SOCKET_MS + (NOW - ASSERTED_AT) / 1000 )) ms after start"
else
    bad "relays close after the startup hold" "charge $(cat "$SIM/sim_gpio16/value"), discharge $(cat "$SIM/sim_gpio20/value") after 10 s"
fi

# The outputs are held (driven) by packguard, not merely pulled.
lines_out=$("$bin" lines --config "$config" 2>&1)
if echo "$lines_out" | grep -Eq "GPIO16 +output +used by packguard" && echo "$lines_out" | grep -Eq "GPIO17 +input +used by packguard active-low"; then
    ok "lines: outputs and inputs held by packguard" "$(echo "$lines_out" | grep -E "GPIO16 " | tr -s ' ')"
else
    bad "lines: outputs and inputs held by packguard" "$lines_out"
fi

# Status over the control socket.
status=$("$bin" status --socket "$sock" 2>&1)
json=$("$bin" status --json --socket "$sock" 2>&1)
if echo "$status" | grep -q "running: charge closed, discharge closed" && echo "$status" | grep -q "SOC: 50 %" \
    && echo "$json" | grep -q '"dischargeRelay":{"line":"GPIO20","logical":"active","raw":1}'; then
    ok "packguard status over the control socket" "$(echo "$status" | head -2 | tr '\n' ' ')"
else
    bad "packguard status over the control socket" "$status"
fi

# BMS Discharge Enable released: the discharge relay opens, the charge relay stays closed.
if react $DE=high $DSG=0 && is $CHG 1; then
    now_us; opened_at=$NOW
    ok "discharge enable released -> discharge relay off" "${REACT_MS} ms from the edge to the output (charge relay stays closed)"
    note "reaction: Discharge Enable released -> discharge relay off: ${REACT_MS} ms"
    grep -q "discharge relay opened: Discharge Enable (BMS pin 3) released" "$log" \
        || bad "the log gives the reason" "no 'discharge relay opened: Discharge Enable (BMS pin 3) released'"
else
    bad "discharge enable released -> discharge relay off" "${REACT_ERR:-charge relay opened too}"
fi

# Qualification: after minOffMs (5 s), a 200 ms enable pulse does not close the relay; a steady
# enable closes it no sooner than qualifyMs (500 ms).
now_us; nap "$(awk -v t=$(( 5600000 - (NOW - ${opened_at:-$NOW}) )) 'BEGIN { print (t > 0 ? t / 1e6 : 0) }')"
assert_input $DE; nap 0.2; release_input $DE
if holds_for 1000 is $DSG 0; then pulse_ok=1; else pulse_ok=0; fi
if react $DE=low $DSG=1 4000 && [ $pulse_ok = 1 ] && ms_at_least "$REACT_MS" 500; then
    ok "qualification: a 200 ms enable pulse is ignored, a steady enable closes after qualifyMs" "closed ${REACT_MS} ms after the edge (qualifyMs 500)"
    note "reaction: Discharge Enable asserted -> discharge relay on: ${REACT_MS} ms (qualifyMs 500)"
else
    bad "qualification: a 200 ms enable pulse is ignored, a steady enable closes after qualifyMs" "pulse ignored: $pulse_ok; closed after ${REACT_MS:-never} ms ${REACT_ERR:-}"
fi

# Balancing: the switch energises the balance power relay (debounce 50 ms), never a contactor; Charger
# Safety then qualifies the shore charger relay; switching off drops both.
if react $SW=low $BAL=1 && ms_at_least "$REACT_MS" 50 && contactors_closed; then
    ok "balancing switch on -> balance power relay on" "${REACT_MS} ms (debounce 50 ms); contactors unchanged"
    note "reaction: balancing switch on -> balance power relay on: ${REACT_MS} ms"
else
    bad "balancing switch on -> balance power relay on" "${REACT_MS:-never} ms ${REACT_ERR:-}"
fi
if react $CS=low $SHORE=1 && ms_at_least "$REACT_MS" 500; then
    ok "charger safety while balancing -> shore charger relay on" "${REACT_MS} ms (qualifyMs 500)"
else
    bad "charger safety while balancing -> shore charger relay on" "${REACT_MS:-never} ms ${REACT_ERR:-}"
fi
if react $SW=high $BAL=0 && wait_for 1000 is $SHORE 0 && contactors_closed; then
    ok "balancing switch off -> balance power and shore charger relays off" "${REACT_MS} ms"
    note "reaction: balancing switch off -> balance power relay off: ${REACT_MS} ms"
else
    bad "balancing switch off -> balance power and shore charger relays off" "${REACT_ERR:-shore relay still on or a contactor opened}"
fi
release_input $CS

# SOC through the real I2C path: the daemon samples the i2c-stub once a second (median of 3).
soc() { "$bin" rig set-soc "$1" --bus "$I2C_BUS" >/dev/null 2>&1; now_us; SOC_AT=$NOW; }
soc 5
if wait_for 8000 is $DSG 0 && is $CHG 1; then
    ok "SOC 5 % through i2c-stub -> discharge cut-off opens the discharge relay" "$(( (NOW - SOC_AT) / 1000 )) ms after the register write"
    grep -q "discharge cut-off: SOC" "$log" || bad "the log gives the SOC reason" "no 'discharge cut-off: SOC' in the log"
else
    bad "SOC 5 % through i2c-stub -> discharge cut-off opens the discharge relay" "discharge $(cat "$SIM/sim_gpio20/value"), charge $(cat "$SIM/sim_gpio16/value")"
fi
soc 99
if wait_for 8000 is $CHG 0; then
    ok "SOC 99 % through i2c-stub -> charge stop opens the charge relay" "$(( (NOW - SOC_AT) / 1000 )) ms after the register write"
else
    bad "SOC 99 % through i2c-stub -> charge stop opens the charge relay" "charge relay still closed"
fi
if wait_for 10000 is $DSG 1; then
    ok "SOC back above cut-off + hysteresis -> discharge relay closes again" "$(( (NOW - SOC_AT) / 1000 )) ms after SOC 99 % was written"
else
    bad "SOC back above cut-off + hysteresis -> discharge relay closes again" "discharge relay still open"
fi
soc 50
if wait_for 10000 contactors_closed; then
    ok "SOC back below charge stop - hysteresis -> charge relay closes again" "$(( (NOW - SOC_AT) / 1000 )) ms after SOC 50 % was written"
else
    bad "SOC back below charge stop - hysteresis -> charge relay closes again" "charge $(cat "$SIM/sim_gpio16/value")"
fi

# SIGTERM: every relay off, lines released, exit 0.
now_us; term_at=$NOW
kill -TERM "$pid"
if wait_for 3000 relays_off; then off_ms=$(( (NOW - term_at) / 1000 )); else off_ms=; fi
wait "$pid"; code=$?; now_us; exit_ms=$(( (NOW - term_at) / 1000 )); pid=
if [ -n "$off_ms" ] && [ $code = 0 ] && grep -q "stopped: SIGTERM; every relay off, lines released" "$log"; then
    ok "SIGTERM -> every relay off, exit 0" "relays off after ${off_ms} ms, process exit after ${exit_ms} ms"
    note "reaction: SIGTERM -> relays off: ${off_ms} ms (process exit ${exit_ms} ms)"
else
    bad "SIGTERM -> every relay off, exit 0" "relays off after ${off_ms:-never} ms, exit status $code"
fi

# SIGKILL: the kernel releases the lines and gpio-sim returns the outputs to their pull (down: off).
rest_lines
if start_daemon "$config" && [ "$ON_SAMPLES" = 0 ] && wait_for 10000 contactors_closed; then
    now_us; kill_at=$NOW
    kill -KILL "$pid"
    if wait_for 3000 relays_off; then
        off_ms=$(( (NOW - kill_at) / 1000 ))
        wait "$pid" 2>/dev/null; pid=
        if "$bin" lines --config "$config" 2>&1 | grep -Eq "GPIO16 +- +free"; then
            ok "SIGKILL -> lines released, outputs back to their pull-down (off)" "off ${off_ms} ms after SIGKILL"
            note "reaction: SIGKILL -> outputs at their pull (off): ${off_ms} ms"
        else
            bad "SIGKILL -> lines released, outputs back to their pull-down (off)" "GPIO16 still requested"
        fi
    else
        bad "SIGKILL -> lines released, outputs back to their pull-down (off)" "a relay still on 3 s after SIGKILL"
    fi
else
    bad "SIGKILL -> lines released, outputs back to their pull-down (off)" "the daemon did not come up with both relays closed"
fi
[ -n "$pid" ] && { kill -KILL "$pid"; wait "$pid" 2>/dev/null; pid=; }

# A relay that cannot close: writes of 1 to the discharge relay's line fail (EIO, LD_PRELOAD rig/fault-set-values.c;
# writes of 0 work). The loop's deferred closing write (right before it sleeps) fails on the real library; that must
# open every relay and fault the policy, and the daemon runs on with every relay open (minOffMs holds them 5 s).
rest_lines
name="a closing write that fails (GPIO20, EIO) -> every relay opened, the line named, the daemon runs on"
if [ -z "${RIG_FAULT_SO:-}" ] || [ ! -f "$RIG_FAULT_SO" ]; then
    bad "$name" "no RIG_FAULT_SO (rig/fault-set-values.so)"
elif LD_PRELOAD=$RIG_FAULT_SO PG_FAULT_SET_OFFSETS=20:5:1 start_daemon "$config" \
        && wait_for 10000 grep -q "applying outputs failed" "$log"; then
    failed_ms=$(( (NOW - ASSERTED_AT) / 1000 ))
    if ! grep "applying outputs failed" "$log" | head -1 | grep -q "GPIO20"; then
        bad "$name" "the failure does not name GPIO20: $(grep -m1 "applying outputs failed" "$log")"
    elif ! holds_for 2000 relays_off; then
        bad "$name" "a relay is on after the failure: charge $(cat "$SIM/sim_gpio16/value"), discharge $(cat "$SIM/sim_gpio20/value")"
    elif ! kill -0 "$pid" 2>/dev/null; then
        bad "$name" "the daemon exited although every relay could be opened"
    else
        ok "$name" "failed ${failed_ms} ms after the enables; $(grep -m1 -o "applying outputs failed: [^;]*" "$log")"
    fi
else
    bad "$name" "no failure logged within 10 s: charge $(cat "$SIM/sim_gpio16/value"), discharge $(cat "$SIM/sim_gpio20/value"); $(tail -3 "$log" | tr '\n' ' ')"
fi
stop_daemon

# Who may do what on the control socket (two real users), and a flood of silent clients: rig/guest-control.sh.
source "$RIG_DIR/guest-control.sh"

# ---------------------------------------------------------------------------------------------------
# Reload (SIGHUP): closed relays, balancing, force-off, a moved line, a chatter latch.
source "$RIG_DIR/guest-reload.sh"

# ---------------------------------------------------------------------------------------------------
# Precharge through i2c-stub, and the heartbeat's minimum rate under SIGSTOP.
source "$RIG_DIR/guest-precharge.sh"

# CAN on vcan0: both presets, the safety uses, a garbage flood, a replayed log.
source "$RIG_DIR/guest-can.sh"

# ---------------------------------------------------------------------------------------------------
# Realtime (hardware/CONFIG.md `realtime`): as root the control thread runs SCHED_FIFO 10, the internal
# watchdog thread 11, the off reflex thread 12, and the memory is locked; without CAP_SYS_NICE and CAP_IPC_LOCK, with RLIMIT_RTPRIO 0
# and a small RLIMIT_MEMLOCK (a manual run as a normal user) it logs one warning and runs normally.
rest_lines
rt_config=$work/packguard-rt.yaml
make_config "$rt_config" 0
# thread_policies PID: "policy/priority" of every thread (/proc/PID/task/TID/stat fields 41 and 40), sorted.
thread_policies() {
    local task stat
    for task in /proc/"$1"/task/*; do
        read -r stat <"$task/stat" || continue
        set -- ${stat##*) }
        echo "${39}/${38}"
    done | sort | tr '\n' ' '
}
# rt_run NAME PREFIX...: starts the daemon under PREFIX, waits for ready, sets RT_THREADS, RT_LOCKED, RT_LOG.
rt_run() {
    local name=$1; shift
    RT_LOG=$work/rt-$name.log
    rm -f "$sock"
    "$@" "$bin" run --config "$rt_config" >"$RT_LOG" 2>&1 &
    pid=$!
    RT_THREADS= RT_LOCKED=
    if wait_for 20000 grep -q "ready: " "$RT_LOG"; then
        RT_THREADS=$(thread_policies "$pid")
        RT_LOCKED=$(sed -n 's/^VmLck:[[:space:]]*//p' "/proc/$pid/status")
    fi
    stop_daemon
}
rt_run granted env
rt_line=$(grep 'realtime: ' "$RT_LOG" | tr '\n' ' ')
if [[ $RT_THREADS == *"1/10 "* ]] && [[ $RT_THREADS == *"1/11 "* ]] && [[ $RT_THREADS == *"1/12 "* ]] && [ "${RT_LOCKED%% *}" -gt 0 ] 2>/dev/null \
    && [ "$(grep -c 'realtime: ' "$RT_LOG")" = 1 ] && [[ $rt_line == *"SCHED_FIFO 10, internal watchdog thread SCHED_FIFO 11, off reflex thread SCHED_FIFO 12; memory locked"* ]]; then
    ok "realtime: as root, control thread SCHED_FIFO 10, watchdog thread 11, off reflex 12, memory locked" "threads (policy/priority) $RT_THREADS; VmLck $RT_LOCKED; $rt_line"
else
    bad "realtime: as root, control thread SCHED_FIFO 10, watchdog thread 11, off reflex 12, memory locked" "threads ${RT_THREADS:-none (not ready)}; VmLck ${RT_LOCKED:-?}; log: $rt_line"
fi
rt_run refused prlimit --rtprio=0 --memlock=65536 setpriv --bounding-set=-sys_nice,-ipc_lock
rt_line=$(grep 'realtime: ' "$RT_LOG" | tr '\n' ' ')
if [ -n "$RT_THREADS" ] && [[ $RT_THREADS != *"1/"* ]] && [ "$(grep -c 'realtime: ' "$RT_LOG")" = 1 ] \
    && [[ $rt_line == *"refused (errno 1: no permission)"*"mlockall refused"*"running on as a normal process"* ]]; then
    ok "realtime: without the permission, one warning and a normal process that runs" "threads $RT_THREADS; $rt_line"
else
    bad "realtime: without the permission, one warning and a normal process that runs" "threads ${RT_THREADS:-none (not ready)}; log: $rt_line $(tail -3 "$RT_LOG" | tr '\n' ' ')"
fi

# ---------------------------------------------------------------------------------------------------
# Perf mode (rig/run.sh's default): edge -> output latency of the C reflex baseline, the Python script and
# `packguard run` (release build), idle and with two CPU hogs, timed from outside through gpio-sim's sysfs.
# Before the watchdog test, which ends the guest.
if [ -n "${PACKGUARD_PERF_BIN:-}" ]; then
    rest_lines
    now_us; perf_at=$NOW
    note "perf: Benchmarks/reflex/measure-in-guest.sh, ${RIG_PERF_EDGES:-1000} edges per program and condition ($PACKGUARD_PERF_BIN)"
    bash "$RIG_DIR/../Benchmarks/reflex/measure-in-guest.sh" --packguard "$PACKGUARD_PERF_BIN" --sim "$SIM" --scratch "$SCRATCH"
    now_us; note "perf: measured in $(( (NOW - perf_at) / 1000000 )) s"
fi

# ---------------------------------------------------------------------------------------------------
# 3. The hardware watchdog, last: the daemon owns /dev/watchdog (softdog); frozen, the guest resets.
rest_lines
wd_config=$work/packguard-watchdog.yaml
make_config "$wd_config" 3
if start_daemon "$wd_config" && wait_for 10000 contactors_closed; then
    status=$("$bin" status --socket "$sock" 2>&1)
    busy=$( { exec 3>/dev/watchdog; } 2>&1 ) && busy="second open succeeded"
    busy=${busy##*: }
    if [ "$ON_SAMPLES" = 0 ] && echo "$status" | grep -q "hardware: hardware watchdog /dev/watchdog" \
        && [ "$busy" = "Device or resource busy" ]; then
        ok "watchdog: the daemon owns /dev/watchdog" "status names it; a second open is refused: $busy"
    else
        bad "watchdog: the daemon owns /dev/watchdog" "status: $(echo "$status" | grep watchdogs); second open: $busy"
    fi
    echo "RIG-GUEST-DONE passed=$passed failed=$failed"
    echo "RIG-WATCHDOG frozen pid=$pid timeoutS=3"
    # The same message in the kernel log, so the host times the reset on the kernel's clock.
    echo "<2>rig: daemon pid $pid frozen with SIGSTOP" >/dev/kmsg
    kill -STOP "$pid"
    nap 15
    echo "RIG-WATCHDOG survived uptime=$(cut -d' ' -f1 /proc/uptime)"
    kill -CONT "$pid"
    stop_daemon
else
    bad "watchdog: the daemon owns /dev/watchdog" "the daemon did not come up with both relays closed"
    stop_daemon
    echo "RIG-GUEST-DONE passed=$passed failed=$failed"
fi
