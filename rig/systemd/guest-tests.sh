#!/bin/bash
# The systemd rig's tests (rig-tests.service, started by systemd as PID 1 after multi-user.target; see
# rig/systemd/preinit.sh). PackGuard is installed for real with hardware/pi/install.sh and runs as
# packguard.service under its sandbox, against gpio-sim (lines GPIO0..GPIO27), i2c-stub and softdog. Every
# relay is judged from outside, through gpio-sim's sysfs, sampled every ~10 ms.
#
# Output protocol, read by rig/run-systemd.sh from the serial console:
#   RIG-TEST ok <name> [| detail]   RIG-TEST FAIL <name> | reason   RIG-NOTE <text>   RIG-BOOTED multi-user=S
#   RIG-GUEST-DONE passed=N failed=M, then the hardware watchdog test, which must end in a softdog reset:
#   RIG-WATCHDOG frozen pid=P timeoutS=T; RIG-WATCHDOG survived (no reset: a failure).
# Environment (/etc/packguard-rig/env): PACKGUARD_BIN, RIG_KERNEL_DIR, RIG_DIR.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER=
repo=$(cd "$RIG_DIR/.." && pwd)
pi=$repo/hardware/pi
bin=$PACKGUARD_BIN
work=/run/rig
mkdir -p "$work"
passed=0 failed=0
CE=GPIO17 DE=GPIO27 CS=GPIO22 SW=GPIO23   # inputs of hardware/pi/packguard.yaml, active-low
WATCHDOG_SEC=3 QUALIFY_MS=500 STARTUP_HOLD_MS=3000  # packguard.service and packguard.yaml

ok() { echo "RIG-TEST ok $1${2:+ | $2}"; passed=$((passed + 1)); }
bad() {
    echo "RIG-TEST FAIL $1 | $2"; failed=$((failed + 1))
    echo "RIG-NOTE journal of packguard.service (last 15 lines):"
    journalctl -u packguard --no-pager -n 15 -o short-monotonic 2>&1 | sed 's/^/RIG-NOTE   /'
}
check() { local name=$1 detail=$2; shift 2; if "$@"; then ok "$name" "$detail"; else bad "$name" "$detail"; fi; }
note() { echo "RIG-NOTE $*"; }
mkfifo "$work/nap" && exec 9<>"$work/nap"
nap() { read -r -t "$1" -u 9 _ || true; }
now_us() { NOW=${EPOCHREALTIME/./}; }
ms_since() { now_us; echo $(( (NOW - $1) / 1000 )); }

# ---------------------------------------------------------------------------------------------------
# The rig's devices, as in rig/guest-init.sh: gpio-sim with a Pi's line names, i2c-stub as the ADS1115.
uptime_s() { cut -d' ' -f1 /proc/uptime; }
multi_user_us=$(systemctl show -p ActiveEnterTimestampMonotonic --value multi-user.target)
echo "RIG-BOOTED multi-user=$(awk -v u="$multi_user_us" 'BEGIN { printf "%.2f", u / 1e6 }') tests-start=$(uptime_s) kernel=$(uname -r) systemd=$(systemctl --version | head -1 | cut -d' ' -f2)"
setup_failed() { echo "RIG-SETUP-FAILED $*"; systemctl reboot --force --force; exit 1; }
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config || setup_failed "configfs"
sim_config=/sys/kernel/config/gpio-sim/rig
mkdir "$sim_config" "$sim_config/gpio-bank0" || setup_failed "gpio-sim configfs"
echo "pinctrl-rig (gpio-sim)" >"$sim_config/gpio-bank0/label"
echo 28 >"$sim_config/gpio-bank0/num_lines"
for i in $(seq 0 27); do
    mkdir "$sim_config/gpio-bank0/line$i" && echo "GPIO$i" >"$sim_config/gpio-bank0/line$i/name" || setup_failed "gpio-sim line $i"
done
echo 1 >"$sim_config/live" || setup_failed "gpio-sim live"
SIM_CHIP=$(cat "$sim_config/gpio-bank0/chip_name")
SIM=/sys/bus/gpio/devices/$SIM_CHIP
[ -d "$SIM/sim_gpio0" ] || setup_failed "no $SIM/sim_gpio0"
insmod "$RIG_KERNEL_DIR/i2c-stub.ko" chip_addr=0x48 || setup_failed "insmod i2c-stub"
I2C_BUS=
for adapter in /sys/bus/i2c/devices/i2c-*; do
    [ "$(cat "$adapter/name" 2>/dev/null)" = "SMBus stub driver" ] && I2C_BUS=/dev/$(basename "$adapter")
done
udevadm settle --timeout=30
[ -n "$I2C_BUS" ] && [ -c "$I2C_BUS" ] || setup_failed "no /dev/i2c-N for i2c-stub"
[ -c /dev/watchdog ] || setup_failed "no /dev/watchdog (softdog)"
echo "RIG-SETUP gpio=/dev/$SIM_CHIP i2c=$I2C_BUS watchdog=/dev/watchdog uptime=$(uptime_s)"

is() { local v; read -r v <"$SIM/sim_gpio${1#GPIO}/value"; [ "$v" = "$2" ]; }
pull() { echo "pull-$2" >"$SIM/sim_gpio${1#GPIO}/pull"; }
relays_off() { is GPIO16 0 && is GPIO20 0 && is GPIO21 0 && is GPIO26 0; }
contactors_closed() { is GPIO16 1 && is GPIO20 1; }
# The BMS asserts both enables (pulls them to ground). Requesting the inputs with a pull-up bias overrides
# gpio-sim's pull, so this is done after every start.
assert_enables() { pull $CE down; pull $DE down; }
for i in $(seq 0 27); do pull GPIO$i down; done

wait_for() {  # wait_for MS COMMAND...: WAITED_MS is how long COMMAND took to succeed (10 ms polls)
    local limit=$1 start; shift
    now_us; start=$NOW
    while true; do
        if "$@"; then now_us; WAITED_MS=$(( (NOW - start) / 1000 )); return 0; fi
        now_us; [ $(( NOW - start )) -gt $(( limit * 1000 )) ] && { WAITED_MS=$limit; return 1; }
        nap 0.01
    done
}

# The sampler: every ~10 ms one line "<epoch us> <charge><discharge><balance><shore>" (gpio-sim values).
sampler_start() {
    SAMPLES=$work/samples.$1
    (
        trap 'exit 0' TERM
        while true; do
            now_us; read -r c <"$SIM/sim_gpio16/value"; read -r d <"$SIM/sim_gpio20/value"
            read -r b <"$SIM/sim_gpio21/value"; read -r s <"$SIM/sim_gpio26/value"
            echo "$NOW $c$d$b$s"
            nap 0.01
        done
    ) >"$SAMPLES" &
    SAMPLER=$!
    nap 0.05
}
sampler_stop() { kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; }
samples_count() { awk -v a="$1" -v b="${2:-99999999999999999}" '$1 >= a && $1 <= b' "$SAMPLES" | wc -l; }
# first_sample FROM_US REGEX: the time of the first sample at or after FROM_US whose state matches.
first_sample() { awk -v a="$1" -v re="$2" '$1 >= a && $2 ~ re { print $1; exit }' "$SAMPLES"; }
# samples_on FROM_US TO_US: how many samples in the window had any relay on.
samples_on() { awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 != "0000"' "$SAMPLES" | wc -l; }

main_pid() { systemctl show -p MainPID --value packguard 2>/dev/null; }
unit_active() { [ "$(systemctl is-active packguard 2>/dev/null)" = active ]; }
# wait_closed MS: after a (re)start, assert the enables and wait for both contactors; CLOSED_MS from the assertion.
wait_closed() {
    assert_enables; now_us; ASSERTED_AT=$NOW
    wait_for "$1" contactors_closed; local rc=$?; CLOSED_MS=$WAITED_MS; return $rc
}
journal_since() { journalctl -u packguard --no-pager --since "@$1" "${@:2}" 2>&1; }

# Files of ours: every file, link or whiteout the guest has created or changed (the overlay's upper layer),
# directories aside (copied up whenever something changes inside them; ours are checked by name).
snapshot() { (cd /.rig-upper && find etc usr var -xdev ! -type d 2>/dev/null | sed 's|^|/|' | sort); }
snapshot >"$work/files-before-install"
had_conf_d=$( [ -d /etc/systemd/system.conf.d ] && echo yes )
groups_before=$(for g in gpio i2c packguard; do getent group "$g" >/dev/null && echo "$g"; done | tr '\n' ' ')
note "groups before the install: ${groups_before:-none}"
mkdir -p /home && echo "not for packguard" >/home/rig-probe-secret

# ---------------------------------------------------------------------------------------------------
# 1. Install for real: hardware/pi/install.sh, live, no config.txt (the installer starts the service).
sampler_start install
now_us; install_at=$NOW
install_out=$("$pi/install.sh" --no-build --binary "$bin" 2>&1); install_rc=$?
install_ms=$(ms_since "$install_at")
sampler_stop
echo "$install_out" | grep -E '^(install.sh:|Job |See )' | sed 's/^/RIG-NOTE   /'
if [ $install_rc = 0 ]; then ok "install.sh --no-build --binary (live, no config.txt) exits 0" "${install_ms} ms"
else bad "install.sh --no-build --binary (live, no config.txt) exits 0" "exit $install_rc"; fi
check "install: system user packguard, groups gpio and i2c" "$(id packguard 2>&1)" \
    bash -c 'id -u packguard >/dev/null && getent group gpio >/dev/null && getent group i2c >/dev/null && [ "$(getent passwd packguard | cut -d: -f7)" = /usr/sbin/nologin ]'
gpio_dev=/dev/$SIM_CHIP
check "install: udev rule gives $gpio_dev to group gpio and $I2C_BUS to group i2c (0660)" \
    "$(stat -c '%n %G %a' "$gpio_dev" "$I2C_BUS" | tr '\n' ' ')" \
    bash -c "[ \"\$(stat -c '%G %a' $gpio_dev)\" = 'gpio 660' ] && [ \"\$(stat -c '%G %a' $I2C_BUS)\" = 'i2c 660' ]"
check "install: unit enabled, config 0640 root:packguard, packguard, packguard-daemon and start check in place" \
    "$(systemctl is-enabled packguard 2>&1); $(stat -c '%U:%G %a' /etc/packguard/packguard.yaml 2>&1)" \
    bash -c '[ "$(systemctl is-enabled packguard)" = enabled ] && [ "$(stat -c "%U:%G %a" /etc/packguard/packguard.yaml)" = "root:packguard 640" ] && [ -x /usr/local/bin/packguard ] && [ -x /usr/local/bin/packguard-daemon ] && [ -x /usr/local/lib/packguard/check-gpio-release ]'
check "install: packguard-bench and packguard-telemetry next to packguard, and \`packguard telemetry\` reaches its sibling" \
    "$(ls -l /usr/local/bin/ 2>&1 | grep packguard | tr -s ' ' | tr '\n' ';')" \
    bash -c '[ -x /usr/local/bin/packguard-bench ] && [ -x /usr/local/bin/packguard-telemetry ] && /usr/local/bin/packguard telemetry --help | grep -q "Home Assistant"'
runtime_wd=$(systemctl show -p RuntimeWatchdogUSec --value)
check "install (default --hw-watchdog systemd): PID 1 feeds the hardware watchdog" \
    "RuntimeWatchdogUSec=$runtime_wd" [ "$runtime_wd" = 15s ]
pre=$(systemctl show -p ExecStartPre --value packguard)
if echo "$pre" | grep -Eq "path=/usr/local/lib/packguard/check-gpio-release .*code=exited ; status=0 "; then
    ok "check-gpio-release passed as ExecStartPre" "no persist_gpio_outputs parameter: this kernel returns released lines to their pull (the SIGSTOP and restart tests below show it)"
else
    bad "check-gpio-release passed as ExecStartPre" "$pre"
fi
on=$(samples_on "$install_at" 99999999999999999)
check "relays off throughout the install and the service's start" "$on of $(samples_count "$install_at") samples had a relay on" [ "$on" = 0 ]

# The start check on kernels that keep released outputs driven: a fake /sys/module in a private mount namespace.
fake_check() {
    unshare -m sh -c "mount -t tmpfs fake /sys/module && mkdir -p /sys/module/pinctrl_bcm2835/parameters \
        && echo $1 >/sys/module/pinctrl_bcm2835/parameters/persist_gpio_outputs \
        && /usr/local/lib/packguard/check-gpio-release" 2>&1
}
persist_out=$(fake_check Y); persist_rc=$?
strict_out=$(fake_check N); strict_rc=$?
if [ $persist_rc != 0 ] && echo "$persist_out" | grep -q strict_gpiod && [ $strict_rc = 0 ]; then
    ok "check-gpio-release refuses persist_gpio_outputs=Y, accepts N" "Y: exit $persist_rc ($(echo "$persist_out" | head -1)); N: exit 0"
else
    bad "check-gpio-release refuses persist_gpio_outputs=Y, accepts N" "Y: exit $persist_rc $persist_out; N: exit $strict_rc $strict_out"
fi

# ---------------------------------------------------------------------------------------------------
# 2. Start: READY as user packguard, every relay off until the enables have qualified.
systemctl stop packguard
sampler_start start
now_us; start_at=$NOW
systemctl start packguard; start_rc=$?
ready_ms=$(ms_since "$start_at"); now_us; ready_at=$NOW
pid=$(main_pid)
user=$(stat -c %U "/proc/$pid" 2>/dev/null)
if [ $start_rc = 0 ] && unit_active && [ "$user" = packguard ]; then
    ok "systemctl start packguard: active (READY) as user packguard" "READY after ${ready_ms} ms, main PID $pid, user $user, groups $(ps -o supgrp= -p "$pid" 2>/dev/null)"
else
    bad "systemctl start packguard: active (READY) as user packguard" "exit $start_rc, $(systemctl is-active packguard), user ${user:-?}"
fi
if wait_closed 15000; then
    sampler_stop
    closed_at=$(first_sample "$ASSERTED_AT" '^11')
    early=$(samples_on "$start_at" $(( ASSERTED_AT + QUALIFY_MS * 1000 )))
    if [ "$early" = 0 ] && [ "$CLOSED_MS" -ge $QUALIFY_MS ]; then
        ok "outputs off until qualification (gpio-sim)" "off over $(samples_count "$start_at" "$ASSERTED_AT") samples to READY and the enables; contactors closed ${CLOSED_MS} ms after the enables (startup hold ${STARTUP_HOLD_MS} ms from the first read, qualifyMs ${QUALIFY_MS})"
    else
        bad "outputs off until qualification (gpio-sim)" "$early samples with a relay on before qualification; closed after ${CLOSED_MS} ms"
    fi
else
    sampler_stop
    bad "outputs off until qualification (gpio-sim)" "the contactors did not close 15 s after the enables"
fi

# ---------------------------------------------------------------------------------------------------
# 3. The sandbox in effect. From outside, on the running daemon itself; then a probe under the same settings.
pid=$(main_pid)
status_of() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$pid/status"; }
check "sandbox: the daemon runs with seccomp, no_new_privs and no capabilities" \
    "Seccomp $(status_of Seccomp), NoNewPrivs $(status_of NoNewPrivs), CapEff $(status_of CapEff), CapBnd $(status_of CapBnd)" \
    bash -c "[ '$(status_of Seccomp)' = 2 ] && [ '$(status_of NoNewPrivs)' = 1 ] && [ '$(status_of CapEff)' = 0000000000000000 ] && [ '$(status_of CapBnd)' = 0000000000000000 ]"
check "sandbox: the daemon has its own network namespace (PrivateNetwork)" \
    "$(readlink /proc/$pid/ns/net) vs PID 1 $(readlink /proc/1/ns/net)" [ "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/1/ns/net)" ]
proc_opts=$(awk '$5 == "/proc" { print $NF }' "/proc/$pid/mountinfo" | tail -1)
etc_opts=$(awk '$5 == "/etc" || $5 == "/" { print $5 " " $6 }' "/proc/$pid/mountinfo" | tr '\n' ' ')
check "sandbox: the daemon's /proc is hidepid=invisible,subset=pid, its / is read-only" "/proc $proc_opts; $etc_opts" \
    bash -c "echo '$proc_opts' | grep -q 'hidepid=invisible' && echo '$proc_opts' | grep -q 'subset=pid' && awk '\$5 == \"/\" { print \$6 }' /proc/$pid/mountinfo | tail -1 | grep -q '^ro'"
# realtime: LimitRTPRIO=12 and LimitMEMLOCK= let the unprivileged daemon put its control thread at SCHED_FIFO 10,
# its internal watchdog thread at 11, its off reflex thread at 12 (/proc/PID/task/TID/stat fields 41 policy, 40 priority) and lock its memory.
rt_threads=$(for task in /proc/"$pid"/task/*; do read -r stat <"$task/stat"; set -- ${stat##*) }; echo "${39}/${38}"; done | sort | tr '\n' ' ')
rt_locked=$(status_of VmLck)
rt_line=$(journal_since "$(( start_at / 1000000 ))" -o cat | grep -m1 'realtime: ')
check "realtime under the unit: control thread SCHED_FIFO 10, watchdog thread 11, off reflex 12, memory locked, said once" \
    "threads (policy/priority) $rt_threads; VmLck $rt_locked; $rt_line" \
    bash -c "[[ '$rt_threads' == *'1/10 '* ]] && [[ '$rt_threads' == *'1/11 '* ]] && [[ '$rt_threads' == *'1/12 '* ]] && [ '${rt_locked%% *}' -gt 0 ] && [[ '$rt_line' == *'memory locked as used'* ]] && [[ '$rt_line' != *'normal process'* ]]"
# The probe: every [Service] setting of the installed unit except how the service is started and supervised.
# It runs from /run (PrivateTmp=yes would hide a clone under /tmp from it).
probe_py=$work/sandbox-probe.py
cp "$RIG_DIR/systemd/sandbox-probe.py" "$probe_py"
props=()
while IFS= read -r line; do props+=(-p "$line"); done < <(sed -n '/^\[Service\]/,/^\[/p' /etc/systemd/system/packguard.service \
    | grep -E '^[A-Z][A-Za-z]*=' \
    | grep -Ev '^(Type|NotifyAccess|Exec[A-Za-z]*|Watchdog[A-Za-z]*|Restart[A-Za-z]*|Timeout[A-Za-z]*|Kill[A-Za-z]*|OOMScoreAdjust|RuntimeDirectory[A-Za-z]*|StateDirectory[A-Za-z]*)=')
note "sandbox probe: systemd-run with $(( ${#props[@]} / 2 )) settings of the installed unit"
probe=$(systemd-run --quiet --wait --pipe --collect --unit=packguard-sandbox-probe "${props[@]}" \
    /usr/bin/python3 "$probe_py" /home/rig-probe-secret "$gpio_dev" 2>&1)
probe_rc=$?
probes=0
while IFS= read -r line; do
    case "$line" in
        "PROBE ok "*) ok "sandbox (probe under the unit's settings): ${line#PROBE ok }"; probes=$((probes + 1)) ;;
        "PROBE FAIL "*) rest=${line#PROBE FAIL }; bad "sandbox (probe under the unit's settings): ${rest%% | *}" "${rest#* | }"; probes=$((probes + 1)) ;;
    esac
done <<<"$probe"
[ $probes -ge 10 ] && [ $probe_rc = 0 ] || bad "sandbox probe ran under the unit's settings" "exit $probe_rc, $probes results: $probe"

# ---------------------------------------------------------------------------------------------------
# 4. Reload: systemctl reload (ExecReload=kill -HUP) re-reads the configuration and must keep closed relays
# closed. Until the lifecycle fix lands, today's daemon opens every relay and re-qualifies: this test says so.
wait_for 10000 contactors_closed
pid=$(main_pid)
sampler_start reload
now_us; reload_at=$NOW
systemctl reload packguard; reload_rc=$?
reload_ms=$(ms_since "$reload_at")
nap $(( (STARTUP_HOLD_MS + QUALIFY_MS + 2500) / 1000 ))
sampler_stop
if [ $reload_rc = 0 ] && [ "$(main_pid)" = "$pid" ] && unit_active \
    && journal_since $(( reload_at / 1000000 )) | grep -q "configuration re-read from /etc/packguard/packguard.yaml"; then
    ok "systemctl reload packguard: the same process re-reads its configuration" "systemctl returned after ${reload_ms} ms, main PID $pid unchanged"
else
    bad "systemctl reload packguard: the same process re-reads its configuration" "exit $reload_rc, main PID $(main_pid) (was $pid)"
fi
opened=$(first_sample "$reload_at" '^(0.|.0)')
if [ -z "$opened" ]; then
    ok "reload keeps closed relays closed" "both contactors closed in all $(samples_count "$reload_at") samples over $(( (STARTUP_HOLD_MS + QUALIFY_MS + 2500) / 1000 )) s"
else
    reclosed=$(first_sample "$opened" '^11')
    bad "reload keeps closed relays closed" "TODAY'S BEHAVIOUR (lifecycle fix pending): the contactors opened $(( (opened - reload_at) / 1000 )) ms after systemctl reload and closed again $( [ -n "$reclosed" ] && echo "$(( (reclosed - opened) / 1000 )) ms later (re-qualified)" || echo "never in the window")"
fi

# ---------------------------------------------------------------------------------------------------
# 5. The systemd watchdog: a frozen daemon (SIGSTOP) is aborted by WatchdogSec, the kernel releases its lines
# (relays off), systemd restarts it, and the relays stay off until the new process has qualified them again.
wait_for 10000 contactors_closed
pid=$(main_pid)
restarts_before=$(systemctl show -p NRestarts --value packguard)
sampler_start watchdog
now_us; frozen_at=$NOW; frozen_mono=$(uptime_s)
kill -STOP "$pid"
if wait_for $(( (WATCHDOG_SEC + 3) * 1000 )) relays_off; then off_ms=$(( ($(first_sample "$frozen_at" '^0000$') - frozen_at) / 1000 )); else off_ms=; fi
new_pid=
if wait_for 30000 bash -c "p=\$(systemctl show -p MainPID --value packguard); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && [ \"\$(systemctl is-active packguard)\" = active ]"; then
    new_pid=$(main_pid); restart_ms=$(ms_since "$frozen_at")
fi
abort_line=$(journalctl -u packguard --no-pager -o short-monotonic --since "@$(( frozen_at / 1000000 ))" | grep -m1 -i "watchdog timeout")
abort_mono=$(sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p' <<<"$abort_line")
abort_s=$(awk -v a="$frozen_mono" -v b="$abort_mono" 'BEGIN { printf (b == "" ? "?" : "%.2f"), b - a }')
if [ -n "$new_pid" ] && wait_closed 15000; then
    sampler_stop
    early=$(samples_on "$(first_sample "$frozen_at" '^0000$')" $(( ASSERTED_AT + QUALIFY_MS * 1000 )))
else
    sampler_stop; early=?
fi
detail="SIGSTOP -> watchdog abort after ${abort_s} s (journal: ${abort_line#*]}), relays off after ${off_ms:-never} ms, restarted (main PID ${new_pid:-none}, NRestarts $restarts_before -> $(systemctl show -p NRestarts --value packguard)) after ${restart_ms:-?} ms, contactors closed ${CLOSED_MS:-?} ms after the enables"
note "watchdog: $detail"
journalctl -u packguard --no-pager -o short-monotonic --since "@$(( frozen_at / 1000000 ))" | grep -E "systemd\[1\]|code=" | head -8 | sed 's/^/RIG-NOTE   /'
if [ -n "$off_ms" ] && [ "$off_ms" -le $(( WATCHDOG_SEC * 1000 + 1000 )) ] && [ -n "$abort_line" ] && [ -n "$new_pid" ] \
    && [ "$early" = 0 ] && [ "$CLOSED_MS" -ge $QUALIFY_MS ]; then
    ok "systemd watchdog: frozen daemon aborted, relays off within WatchdogSec + 1 s, off until re-qualified, restarted" "$detail"
else
    bad "systemd watchdog: frozen daemon aborted, relays off within WatchdogSec + 1 s, off until re-qualified, restarted" "$detail; relay on before re-qualification in $early samples"
fi
kill -CONT "$pid" 2>/dev/null

# ---------------------------------------------------------------------------------------------------
# 6. Stop: every relay off within 100 ms, the process exits 0.
wait_for 10000 contactors_closed
pid=$(main_pid)
sampler_start stop
now_us; stop_at=$NOW
systemctl stop packguard; stop_rc=$?
stop_ms=$(ms_since "$stop_at")
sampler_stop
off_at=$(first_sample "$stop_at" '^0000$')
# systemd's "Stopping" message is logged as it sends SIGTERM: the daemon's part of the time starts there.
term_at=$(journalctl -u packguard --no-pager -o json --since "@$(( stop_at / 1000000 ))" 2>/dev/null \
    | python3 -c 'import json, sys
for line in sys.stdin:
    entry = json.loads(line)
    if str(entry.get("MESSAGE", "")).startswith("Stopping "): print(entry["__REALTIME_TIMESTAMP"]); break')
main_status="$(systemctl show -p ExecMainCode --value packguard)/$(systemctl show -p ExecMainStatus --value packguard)"
result=$(systemctl show -p Result --value packguard)
off_ms=$( [ -n "$off_at" ] && echo $(( (off_at - stop_at) / 1000 )) )
term_off_ms=$( [ -n "$off_at" ] && [ -n "$term_at" ] && echo $(( (off_at - term_at) / 1000 )) )
detail="relays off ${off_ms:-never} ms after systemctl stop was run (${term_off_ms:-?} ms after systemd's SIGTERM), systemctl returned after ${stop_ms} ms, main process code/status $main_status, result $result"
note "stop: $detail"
# Judged from the SIGTERM: starting the systemctl client alone takes about 100 ms under emulation.
if [ $stop_rc = 0 ] && [ -n "$term_off_ms" ] && [ "$term_off_ms" -le 100 ] && [ "$main_status" = "1/0" ] && [ "$result" = success ]; then
    ok "systemctl stop: every relay off within 100 ms of systemd's SIGTERM, exit 0" "$detail"
else
    bad "systemctl stop: every relay off within 100 ms of systemd's SIGTERM, exit 0" "$detail"
fi

# ---------------------------------------------------------------------------------------------------
# 7. The journal keeps the daemon's priorities; on a terminal the same messages are plain text.
now_us; journal_at=$NOW
# A warning: force-off persisted across a restart ("force-off is on ..."); an error: a reload of an invalid file.
systemctl start packguard
packguard force-off on --socket /run/packguard/control.sock >/dev/null 2>&1
systemctl restart packguard
packguard force-off off --socket /run/packguard/control.sock >/dev/null 2>&1
cp /etc/packguard/packguard.yaml "$work/config-good"
echo "unknownKey: 1" >>/etc/packguard/packguard.yaml
systemctl reload packguard
nap 1
cp "$work/config-good" /etc/packguard/packguard.yaml
since=$(( journal_at / 1000000 ))
warnings=$(journal_since "$since" -p warning -o json)
judge=$(python3 -c 'import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines() if l.startswith("{")]
low = [l for l in lines if int(l["PRIORITY"]) > 4]
ours = [l["MESSAGE"] for l in lines if l.get("_COMM") == "packguard"]
print("ok" if not low and any(m.startswith("force-off is on") for m in ours)
      and any(m.startswith("reload refused, keeping the running configuration") for m in ours) else "bad",
      f"{len(lines)} entries at -p warning, none below warning: {not low}; packguard warnings: {ours[:3]}")' "$warnings")
notices=$(journal_since "$since" -o json | python3 -c 'import json, sys
entries = [json.loads(l) for l in sys.stdin if l.startswith("{")]
ours = [(int(e["PRIORITY"]), e["MESSAGE"]) for e in entries if e.get("_COMM") == "packguard"]
ready = [p for p, m in ours if m.startswith("ready: ")]
prefixed = [m for p, m in ours if m[:1] == "<"]
print("ok" if ready and set(ready) == {5} and not prefixed else "bad",
      f"ready at priority {ready}, {len(ours)} packguard entries, {len(prefixed)} with a literal <N> prefix")')
check "journal: -p warning shows packguard's warnings and nothing lower" "${judge#* }" [ "${judge%% *}" = ok ]
check "journal: notices at priority 5, no literal <N> in any message" "${notices#* }" [ "${notices%% *}" = ok ]
systemctl stop packguard
terminal=$(script -qec "timeout -s INT 4 /usr/local/bin/packguard run --config /etc/packguard/packguard.yaml --control-socket $work/terminal.sock --state-directory $work/terminal-state" /dev/null 2>&1 | tr -d '\r')
inherited=$(JOURNAL_STREAM=8:12345 script -qec "timeout -s INT 4 /usr/local/bin/packguard run --config /etc/packguard/packguard.yaml --control-socket $work/terminal.sock --state-directory $work/terminal-state" /dev/null 2>&1 | tr -d '\r')
if echo "$terminal" | grep -q "^ready: " && ! echo "$terminal" | grep -q "^<[0-7]>" \
    && echo "$inherited" | grep -q "^ready: " && ! echo "$inherited" | grep -q "^<[0-7]>"; then
    ok "packguard run on a terminal prints plain text (no <N> prefixes), also with a foreign JOURNAL_STREAM" "$(echo "$terminal" | grep -m1 '^ready: ')"
else
    bad "packguard run on a terminal prints plain text (no <N> prefixes), also with a foreign JOURNAL_STREAM" "$(echo "$terminal" | head -3 | tr '\n' '|') / $(echo "$inherited" | head -2 | tr '\n' '|')"
fi

# ---------------------------------------------------------------------------------------------------
# 8. Twenty restarts in a row: no relay energised before qualification. After each restart the enables are
# asserted again and held for 1 s (more than qualifyMs, less than the startup hold): every relay must stay off.
systemctl start packguard
sampler_start restarts
now_us; restarts_at=$NOW
restart_failures=0 pids=""
for i in $(seq 1 20); do
    systemctl restart packguard || restart_failures=$((restart_failures + 1))
    pids="$pids $(main_pid)"
    assert_enables
    nap 1
done
restarts_ms=$(ms_since "$restarts_at")
on=$(samples_on "$restarts_at" 99999999999999999)
distinct=$(echo $pids | tr ' ' '\n' | sort -u | grep -vc '^0$')
sampler_stop
wait_closed 15000; closed_rc=$?
detail="$on of $(samples_count "$restarts_at") samples had a relay on, $distinct distinct main PIDs, $restart_failures failed restarts, $(( restarts_ms / 20 )) ms per restart + 1 s hold; then closed ${CLOSED_MS} ms after the enables"
if [ "$on" = 0 ] && [ "$distinct" = 20 ] && [ $restart_failures = 0 ] && [ $closed_rc = 0 ]; then
    ok "20 restarts in a row never energise a relay before qualification" "$detail"
else
    bad "20 restarts in a row never energise a relay before qualification" "$detail"
fi

# ---------------------------------------------------------------------------------------------------
# 8b. CAN under the hardened unit. PrivateNetwork=yes hides every network interface, CAN ones too: with
#     can.enabled the daemon must refuse to start (every relay off) until the drop-in hardware/pi/packguard-can.conf
#     (what install.sh installs when can.enabled) shares the host's network namespace and allows AF_CAN. With it,
#     frames on vcan0 reach `packguard status`, and IP stays impossible (no AF_INET, IPAddressDeny=any).
if ip link add dev vcan0 type vcan 2>"$work/vcan.err" && ip link set up vcan0; then
    cp /etc/packguard/packguard.yaml "$work/config-before-can"
    printf '\ncan:\n  enabled: true\n  interface: vcan0\n  preset: orionDefault\n' >>/etc/packguard/packguard.yaml
    now_us; can_at=$NOW
    systemctl restart packguard >/dev/null 2>&1
    nap 3
    # Since the restart: the refusal names vcan0 (check-config --quiet adds one line per attempt).
    refused=$(journal_since $(( can_at / 1000000 )) | grep -m1 "CAN vcan0: .*failed" || true)
    if ! unit_active && relays_off && [ -n "$refused" ]; then
        ok "can: without the drop-in the sandbox hides vcan0; the service refuses to start, every relay off" "${refused##*packguard*]: }"
    else
        bad "can: without the drop-in the sandbox hides vcan0; the service refuses to start" "active: $(systemctl is-active packguard); journal: ${refused:-nothing about vcan0}"
    fi
    mkdir -p /etc/systemd/system/packguard.service.d
    cp "$pi/packguard-can.conf" /etc/systemd/system/packguard.service.d/can.conf
    systemctl daemon-reload
    systemctl reset-failed packguard >/dev/null 2>&1
    systemctl restart packguard
    ( for _ in $(seq 1 60); do cansend vcan0 6B0#FF85020C6E0043FB 2>/dev/null; cansend vcan0 6B1#009632001E1400B3 2>/dev/null; nap 0.05; done ) &
    sender=$!
    can_line=
    for _ in $(seq 1 40); do
        can_line=$(packguard status --socket /run/packguard/control.sock 2>/dev/null | grep '^CAN ' || true)
        echo "$can_line" | grep -q "soc 55.0 %" && break
        nap 0.1
    done
    wait $sender
    pid=$(main_pid)
    if unit_active && echo "$can_line" | grep -q "soc 55.0 %" && [ "$(readlink /proc/$pid/ns/net)" = "$(readlink /proc/1/ns/net)" ]; then
        ok "can: with hardware/pi/packguard-can.conf the hardened service reads vcan0" "$can_line"
    else
        bad "can: with hardware/pi/packguard-can.conf the hardened service reads vcan0" "active: $(systemctl is-active packguard); status: ${can_line:-no CAN line}"
    fi
    can_props=("${props[@]}")
    while IFS= read -r line; do can_props+=(-p "$line"); done < <(grep -E '^[A-Z][A-Za-z]*=' "$pi/packguard-can.conf")
    can_probe=$(systemd-run --quiet --wait --pipe --collect --unit=packguard-can-probe "${can_props[@]}" \
        /usr/bin/python3 "$probe_py" /home/rig-probe-secret "$gpio_dev" 2>&1)
    inet=$(echo "$can_probe" | grep -m1 "no AF_INET socket" || true)
    case "$inet" in
        "PROBE ok "*) ok "can: with the drop-in an AF_INET socket is still refused" "${inet#PROBE ok }" ;;
        *) bad "can: with the drop-in an AF_INET socket is still refused" "${inet:-no result: $can_probe}" ;;
    esac
    # Back to the unit and configuration as installed, for the tests that follow.
    rm -f /etc/systemd/system/packguard.service.d/can.conf
    rmdir /etc/systemd/system/packguard.service.d 2>/dev/null || true
    cp "$work/config-before-can" /etc/packguard/packguard.yaml
    systemctl daemon-reload
    systemctl restart packguard
    wait_closed 15000 || bad "can: the service back without CAN" "relays not closed again"
    ip link del vcan0
else
    bad "can: vcan0 in the systemd guest (CONFIG_CAN_VCAN)" "$(cat "$work/vcan.err")"
fi

# ---------------------------------------------------------------------------------------------------
# 9a. uninstall.sh: nothing of ours remains but the config; --purge removes the config too.
# Allowed leftovers: the shadow tools' lock and backup files, and empty *.wants directories systemctl leaves.
leftovers() {
    snapshot | comm -13 "$work/files-before-install" - \
        | grep -Ev '^/etc/(\.pwd\.lock|(passwd|group|shadow|gshadow)-?|subuid-?|subgid-?)$'
}
ours_gone() {
    local why=""
    systemctl cat packguard.service >/dev/null 2>&1 && why="$why unit still loadable;"
    [ "$(systemctl show -p LoadState --value packguard)" = not-found ] || why="$why LoadState $(systemctl show -p LoadState --value packguard);"
    id -u packguard >/dev/null 2>&1 && why="$why user packguard;"
    getent group packguard >/dev/null && why="$why group packguard;"
    for g in gpio i2c; do
        case " $groups_before " in *" $g "*) getent group "$g" >/dev/null || why="$why the system's group $g removed;" ;;
            *) getent group "$g" >/dev/null && why="$why group $g (created by install.sh);" ;; esac
    done
    grep -qs packguard /etc/passwd /etc/group /etc/shadow /etc/gshadow && why="$why packguard in the account files;"
    for d in /usr/local/lib/packguard /var/lib/packguard /run/packguard /etc/systemd/system/packguard.service.d; do
        [ -e "$d" ] && why="$why $d;"
    done
    [ -z "$had_conf_d" ] && [ -e /etc/systemd/system.conf.d ] && why="$why /etc/systemd/system.conf.d (made by install.sh);"
    [ "$(systemctl show -p RuntimeWatchdogUSec --value)" = 0 ] || why="$why PID 1 still feeds the watchdog;"
    UNINSTALL_WHY=$why
    [ -z "$why" ]
}
config_copy=$work/config-before-uninstall
cp /etc/packguard/packguard.yaml "$config_copy"
uninstall_out=$("$pi/uninstall.sh" 2>&1); uninstall_rc=$?
echo "$uninstall_out" | sed 's/^/RIG-NOTE   /'
left=$(leftovers | tr '\n' ' ')
if [ $uninstall_rc = 0 ] && ours_gone && [ "$left" = "/etc/packguard/packguard.yaml " ] && cmp -s "$config_copy" /etc/packguard/packguard.yaml; then
    ok "uninstall.sh: no unit, user, group, udev rule or file of ours remains; the config is kept" "left: $left"
else
    bad "uninstall.sh: no unit, user, group, udev rule or file of ours remains; the config is kept" "exit $uninstall_rc;$UNINSTALL_WHY left: $left"
fi
relays_off && ! pgrep -x 'packguard|packguard-daemo' >/dev/null || bad "uninstall.sh stops the service" "a relay on or packguard running"
"$pi/install.sh" --no-build --binary "$bin" --no-start >/dev/null 2>&1 || bad "install.sh again over a kept config" "failed"
cmp -s "$config_copy" /etc/packguard/packguard.yaml || bad "install.sh again keeps the config" "the config changed"
purge_out=$("$pi/uninstall.sh" --purge 2>&1); purge_rc=$?
left=$(leftovers | tr '\n' ' ')
if [ $purge_rc = 0 ] && ours_gone && [ -z "$left" ] && [ ! -e /etc/packguard ]; then
    ok "uninstall.sh --purge: nothing of ours remains, not even the config" "$(echo "$purge_out" | grep -c removed) items removed"
else
    bad "uninstall.sh --purge: nothing of ours remains, not even the config" "exit $purge_rc;$UNINSTALL_WHY left: $left"
fi

# ---------------------------------------------------------------------------------------------------
# 9b. install.sh --hw-watchdog packguard: the service owns /dev/watchdog (softdog); frozen, the guest resets.
hw_out=$("$pi/install.sh" --no-build --binary "$bin" --hw-watchdog packguard 2>&1); hw_rc=$?
runtime_wd=$(systemctl show -p RuntimeWatchdogUSec --value)
sed -i '/^watchdog:/,/^[a-z]/ { s/^\(    enabled:\) false/\1 true/; s/^\(    timeoutS:\) [0-9]*/\1 3/ }' /etc/packguard/packguard.yaml
# The service watchdog (WatchdogSec=3s) would race softdog's 3 s: held off for this test, so that it is the hardware
# watchdog that acts on the frozen service. (Killed and restarted within timeoutS, the service would keep it fed.)
mkdir -p /etc/systemd/system/packguard.service.d
printf '[Service]\nWatchdogSec=30s\n' >/etc/systemd/system/packguard.service.d/rig-watchdog.conf
systemctl daemon-reload
systemctl restart packguard; hw_start_rc=$?
if [ $hw_rc = 0 ] && [ $hw_start_rc = 0 ] && wait_closed 15000; then
    pid=$(main_pid)
    status=$(packguard status --socket /run/packguard/control.sock 2>&1)
    busy=$( { exec 3>/dev/watchdog; } 2>&1 ) && busy="second open succeeded"
    busy=${busy##*: }
    detail="PID 1 RuntimeWatchdogUSec=$runtime_wd, /dev/watchdog $(stat -c '%G %a' /dev/watchdog), status: $(echo "$status" | grep -m1 -o 'hardware watchdog [^;,]*'), second open: $busy"
    if [ "$runtime_wd" = 0 ] && echo "$status" | grep -q "hardware watchdog /dev/watchdog" && [ "$busy" = "Device or resource busy" ] \
        && [ "$(stat -c '%G %a' /dev/watchdog)" = "packguard 660" ]; then
        ok "install.sh --hw-watchdog packguard: the service owns /dev/watchdog, PID 1 does not" "$detail"
    else
        bad "install.sh --hw-watchdog packguard: the service owns /dev/watchdog, PID 1 does not" "$detail"
    fi
    echo "RIG-GUEST-DONE passed=$passed failed=$failed"
    echo "RIG-WATCHDOG frozen pid=$pid timeoutS=3"
    echo "<2>rig: packguard.service main pid $pid frozen with SIGSTOP" >/dev/kmsg
    kill -STOP "$pid"
    nap 20
    echo "RIG-WATCHDOG survived uptime=$(uptime_s)"
    journalctl -u packguard --no-pager -n 12 -o short-monotonic | sed 's/^/RIG-NOTE   /'
    dmesg | grep -i watchdog | tail -5 | sed 's/^/RIG-NOTE   /'
else
    bad "install.sh --hw-watchdog packguard: the service owns /dev/watchdog, PID 1 does not" "install exit $hw_rc, restart exit $hw_start_rc: $(echo "$hw_out" | tail -3)"
    echo "RIG-GUEST-DONE passed=$passed failed=$failed"
fi
systemctl reboot --force --force
