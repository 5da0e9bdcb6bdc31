# Sourced by rig/guest-tests.sh (after the contract suite): where libgpiod v1 and v2 could differ,
# probed on gpio-sim with this build's packguard (rig/run.sh boots the guest once per build). Each
# expectation is the one Sources/CGPIOShim/gpio_shim_v1.c / gpio_shim_v2.c documents for its version;
# where the versions differ, the controller must behave the same, and the daemon tests here check that.
# Uses guest-tests.sh's helpers (ok, bad, note, pull, is, make_config, start_daemon, stop_daemon, ...).
# Lines: GPIO7, GPIO8 (probes), GPIO9 (held by another process), GPIO10, GPIO11, GPIO24 (writes), and a
# second gpio-sim chip (lines VAN0, VAN1) that is taken away. Environment: RIG_FAULT_SO (rig/run.sh
# compiles rig/fault-set-values.c for the LD_PRELOAD write faults).

gv_version=${RIG_BUILD:-?}
gv() { echo "gpio $gv_version: $1"; }
# Timings in this guest are only as fine as its clock: on jiffies (4 ms at HZ 250) every time measured
# here and every perf-mode latency is coarse. Which clock a boot gets varies (tsc, or refined-jiffies when
# the TSC calibration at boot fails on a loaded host; tsc=reliable does not prevent that): this says which.
note "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo unknown)"
# The binary is the build rig/run.sh says it is, and `packguard lines` names its libgpiod.
backend=$("$bin" lines 2>/dev/null | sed -n 's/^backend: //p')
case "$backend" in
    "libgpiod $gv_version "*) ok "$(gv "packguard lines names the libgpiod it runs on")" "$backend" ;;
    *) bad "$(gv "packguard lines names the libgpiod it runs on")" "expected libgpiod $gv_version, lines says '$backend'" ;;
esac

# 1. Library probes: short pulses, FIFO overflow, timestamps, a line another process holds.
"$bin" rig hold --lines GPIO9 --consumer rig-holder >"$work/hold.log" 2>&1 &
holder=$!
wait_for 3000 grep -q "^held" "$work/hold.log"
probes=$("$bin" rig gpio-versions --lines GPIO7,GPIO8 --held GPIO9=rig-holder 2>&1)
probes_status=$?
kill "$holder"; wait "$holder" 2>/dev/null
count=0
while IFS= read -r line; do
    case "$line" in
        "PASS "*) name=${line#PASS }; ok "$(gv "${name%% | *}")" "${name#* | }"; count=$((count + 1)) ;;
        "FAIL "*) name=${line#FAIL }; bad "$(gv "${name%%: *}")" "${name#*: }"; count=$((count + 1)) ;;
    esac
done <<<"$probes"
[ "$count" -ge 4 ] && { [ "$probes_status" = 0 ] || [ "$failed" -gt 0 ]; } \
    || bad "$(gv "version probes ran")" "exit $probes_status: $probes"

# 2. Writes: a line that fails does not stop the others, and the error names each failed line. The
#    faults come from rig/fault-set-values.c (LD_PRELOAD) on the real library and kernel.
writes=GPIO10,GPIO11,GPIO24
out=$("$bin" rig set-lines --lines $writes 2>&1)
if [ $? = 0 ] && grep -q "^levels: GPIO10=1 GPIO11=1 GPIO24=1$" <<<"$out"; then
    ok "$(gv "writes: three lines set in one write")" "$(grep '^levels' <<<"$out")"
else
    bad "$(gv "writes: three lines set in one write")" "$out"
fi
if [ -z "${RIG_FAULT_SO:-}" ] || [ ! -f "$RIG_FAULT_SO" ]; then
    bad "$(gv "writes: a failing line is named with its errno")" "no RIG_FAULT_SO (rig/fault-set-values.so)"
else
    out=$(LD_PRELOAD=$RIG_FAULT_SO PG_FAULT_SET_OFFSETS=10:5,24:1 "$bin" rig set-lines --lines $writes 2>&1)
    status=$?
    if [ "$gv_version" = v1 ]; then
        # v1 sets line by line: GPIO11, between the two faulted lines, is still set.
        want_error="2 lines not set: offset 10 (Input/output error, errno 5), offset 24 (Operation not permitted, errno 1)"
        want_levels="levels: GPIO10=0 GPIO11=1 GPIO24=0"
        name="writes: faults on GPIO10 and GPIO24 -> GPIO11 still set, both failures named with their errno"
    else
        # v2 sets a request in one ioctl: it fails as a whole, and every line is reported not set.
        want_error="3 lines not set: offset 10 (Input/output error, errno 5), offset 11 (Input/output error, errno 5), offset 24 (Input/output error, errno 5)"
        want_levels="levels: GPIO10=0 GPIO11=0 GPIO24=0"
        name="writes: a fault on GPIO10 fails the one v2 write -> no line set, every line named"
    fi
    if [ "$status" = 1 ] && grep -qF "$want_error" <<<"$out" && grep -qx "$want_levels" <<<"$out"; then
        ok "$(gv "$name")" "$(grep -o '[0-9] lines not set.*' <<<"$out" | head -1)"
    else
        bad "$(gv "$name")" "exit $status, expected '$want_error' and '$want_levels': $out"
    fi
fi
rest_lines

# 3. The chip goes away (gpio-sim live 0) under held requests: every operation fails as "chip missing".
vanish=/sys/kernel/config/gpio-sim/vanish
if mkdir "$vanish" "$vanish/gpio-bank0" "$vanish/gpio-bank0/line0" "$vanish/gpio-bank0/line1" \
    && echo 2 >"$vanish/gpio-bank0/num_lines" && echo VAN0 >"$vanish/gpio-bank0/line0/name" \
    && echo VAN1 >"$vanish/gpio-bank0/line1/name" && echo 1 >"$vanish/live"; then
    out=$("$bin" rig gpio-vanish --lines VAN0,VAN1 --live "$vanish/live" 2>&1)
    status=$?
    count=0
    while IFS= read -r line; do
        case "$line" in
            "PASS "*) name=${line#PASS }; ok "$(gv "chip gone: ${name%% | *}")" "${name#* | }"; count=$((count + 1)) ;;
            "FAIL "*) name=${line#FAIL }; bad "$(gv "chip gone: ${name%%: *}")" "${name#*: }"; count=$((count + 1)) ;;
            "NOTE "*) note "$(gv "chip gone: ${line#NOTE }")" ;;
        esac
    done <<<"$out"
    [ "$count" -ge 6 ] && { [ "$status" = 0 ] || [ "$failed" -gt 0 ]; } || bad "$(gv "chip gone: probe ran")" "exit $status: $out"
    echo 0 >"$vanish/live" 2>/dev/null
    rmdir "$vanish/gpio-bank0/line0" "$vanish/gpio-bank0/line1" "$vanish/gpio-bank0" "$vanish" \
        || bad "$(gv "chip gone: second gpio-sim chip removed")" "rmdir failed"
else
    bad "$(gv "chip gone: second gpio-sim chip created")" "configfs mkdir/echo failed"
fi

# The ADS1115 (i2c-stub) reads SOC 50 %: no SOC rule holds a relay open.
"$bin" rig set-soc 50 --bus "$I2C_BUS" >/dev/null 2>&1 || bad "$(gv "i2c-stub: SOC 50 %")" "rig set-soc failed"

# 4. The controller where the versions differ. A line another program holds: the daemon refuses to
#    start, names the line and the holder, and leaves every relay off.
gv_config=$work/versions.yaml
make_config "$gv_config" 0
"$bin" rig hold --lines $DE --consumer rig-holder >"$work/hold.log" 2>&1 &
holder=$!
wait_for 3000 grep -q "^held" "$work/hold.log"
: >"$log"
timeout 20 "$bin" run --config "$gv_config" >"$log" 2>&1
status=$?
kill "$holder"; wait "$holder" 2>/dev/null
if [ "$status" != 0 ] && [ "$status" != 124 ] && grep -q "$DE" "$log" && grep -q "'rig-holder'" "$log" && relays_off; then
    ok "$(gv "daemon: a line another program holds -> refuses to start naming line and consumer, relays off")" "exit $status: $(grep -m1 "rig-holder" "$log")"
else
    bad "$(gv "daemon: a line another program holds -> refuses to start naming line and consumer, relays off")" "exit $status"
fi
: >"$log"
rest_lines

# A burst of edges on Discharge Enable, faster than the daemon reads (the FIFO may overflow: v1 then
# loses the newest edges, v2 the oldest), ending released: the discharge relay must open either way.
if start_daemon "$gv_config" && wait_for 10000 contactors_closed; then
    for _ in $(seq 40); do release_input $DE; assert_input $DE; done
    now_us; burst_end=$NOW
    release_input $DE
    if wait_for 3000 is $DSG 0; then
        ok "$(gv "daemon: 80 edges on Discharge Enable ending released -> discharge relay off")" "off $(( (NOW - burst_end) / 1000 )) ms after the burst"
    else
        bad "$(gv "daemon: 80 edges on Discharge Enable ending released -> discharge relay off")" "discharge relay still on 3 s after the burst"
    fi
else
    bad "$(gv "daemon: 80 edges on Discharge Enable ending released -> discharge relay off")" "the daemon did not come up with both relays closed"
fi
stop_daemon
rest_lines

# The daemon's chip goes away under it (a second gpio-sim chip, lines D0..D27, configured by chip and
# offset): reads and writes fail "chip missing" in both versions, so it cannot hold any relay and
# must exit non-zero (systemd restarts it; the hardware watchdog covers a hang). v2's request fd
# reports POLLHUP, v1's epoll fd never does: either way the loop's timer wake finds the failure.
vanish=/sys/kernel/config/gpio-sim/vanishd
name="daemon: its GPIO chip goes away (gpio-sim live 0) -> exits non-zero naming the missing chip"
make_daemon_chip() {
    mkdir "$vanish" "$vanish/gpio-bank0" && echo 28 >"$vanish/gpio-bank0/num_lines" || return 1
    local i
    for i in $(seq 0 27); do
        mkdir "$vanish/gpio-bank0/line$i" && echo "D$i" >"$vanish/gpio-bank0/line$i/name" || return 1
    done
    echo 1 >"$vanish/live"
}
if make_daemon_chip; then
    vchip=$(cat "$vanish/gpio-bank0/chip_name")
    sed "s/^\( *\)line: GPIO\([0-9]*\)/\1chip: $vchip\n\1offset: \2/" "$gv_config" >"$work/vanish.yaml"
    main_sim=$SIM SIM=/sys/bus/gpio/devices/$vchip
    if start_daemon "$work/vanish.yaml" && wait_for 10000 contactors_closed; then
        now_us; gone_at=$NOW
        echo 0 >"$vanish/live"
        wait_for 10000 eval '! kill -0 $pid 2>/dev/null' || kill -KILL "$pid"
        exit_ms=$(( (NOW - gone_at) / 1000 ))
        wait "$pid"; status=$?; pid=
        if [ "$status" != 0 ] && grep -q "missing" "$log"; then
            ok "$(gv "$name")" "exit $status ${exit_ms} ms after live 0: $(grep -m1 "missing" "$log" | cut -c1-160)"
            note "$(gv "reaction: chip gone -> daemon exit: ${exit_ms} ms; last critical log: $(grep -E '^<[0-2]>' "$log" | tail -1 | cut -c1-200)")"
        else
            bad "$(gv "$name")" "exit status $status after ${exit_ms} ms"
        fi
    else
        bad "$(gv "$name")" "the daemon did not come up with both relays closed on $vchip"
    fi
    stop_daemon
    [ -n "$pid" ] && { kill -KILL "$pid"; wait "$pid" 2>/dev/null; pid=; }
    SIM=$main_sim
    echo 0 >"$vanish/live" 2>/dev/null
    for i in $(seq 0 27); do rmdir "$vanish/gpio-bank0/line$i"; done
    rmdir "$vanish/gpio-bank0" "$vanish" || bad "$(gv "chip gone: second gpio-sim chip removed")" "rmdir failed"
else
    bad "$(gv "$name")" "could not create the second gpio-sim chip"
fi
: >"$log"
