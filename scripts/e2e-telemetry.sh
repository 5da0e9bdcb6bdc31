#!/usr/bin/env bash
# End to end, as the README says: `packguard run --simulate` plus
# `packguard telemetry --simulate --mqtt-url mqtt://127.0.0.1:PORT` against Debian's mosquitto on a free port.
# Checks: Home Assistant discovery for every relay and input within 5 s; the state topics follow the
# simulated BMS (relays close once its enables qualify, SOC from the simulated ADC) and the operator
# (force-off on opens the relays, within 1 s on the topic; off closes them again); the Prometheus file and
# the status page; SIGKILL of telemetry publishes the Last Will ("offline").
# Usage: scripts/e2e-telemetry.sh PATH-TO-packguard      (needs mosquitto, mosquitto-clients, python3)
set -euo pipefail
bin=$1
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do { kill "$p" && wait "$p"; } 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
fail() {
    echo "e2e-telemetry: FAIL: $*" >&2
    for log in daemon telemetry mosquitto; do echo "--- $log log:" >&2; tail -20 "$dir/$log.log" >&2 || true; done
    exit 1
}
passed=0
ok() { passed=$((passed + 1)); echo "e2e-telemetry: ok: $*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ns() { date +%s%N; }
# First arrival time (ns) of PAYLOAD on TOPIC in the subscriber's log, after NS; empty when none yet.
arrival() { awk -v t="$1" -v p="$2" -v after="$3" '$2 == t && $3 == p { split($1, s, "."); ns = s[1] s[2]; if (ns + 0 >= after + 0) { print ns; exit } }' "$dir/sub.log"; }
wait_arrival() {  # TOPIC PAYLOAD AFTER-NS SECONDS
    local deadline=$(( $(now_ns) + $4 * 1000000000 )) found=""
    while [ "$(now_ns)" -lt "$deadline" ]; do
        found=$(arrival "$1" "$2" "$3")
        [ -n "$found" ] && { echo "$found"; return 0; }
        sleep 0.02
    done
    return 1
}

port=$(free_port)
web=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$dir/mosquitto.conf"
mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do mosquitto_pub -h 127.0.0.1 -p "$port" -t probe -m x 2>/dev/null && break; sleep 0.05; done
# %U: arrival time with nanoseconds.
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'homeassistant/#' -t 'packguard/#' -F '%U %t %p' >"$dir/sub.log" 2>&1 &
pids+=($!)
sleep 0.3

"$bin" run --simulate --control-socket "$dir/control.sock" --state-directory "$dir/state" >"$dir/daemon.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -S "$dir/control.sock" ] && break; sleep 0.05; done
[ -S "$dir/control.sock" ] || fail "no control socket after 5 s"

mkdir "$dir/metrics"
printf 'telemetry:\n  prometheus:\n    directory: %s\n    intervalS: 1\n' "$dir/metrics" >"$dir/telemetry.yaml"
start=$(now_ns)
"$bin" telemetry --simulate --config "$dir/telemetry.yaml" --socket "$dir/control.sock" \
    --mqtt-url "mqtt://127.0.0.1:$port" --status-page "127.0.0.1:$web" >"$dir/telemetry.log" 2>&1 &
telemetry=$!
pids+=($telemetry)

# Discovery: a binary_sensor for every relay and input the daemon reports, within 5 s.
read -r -a expected < <("$bin" status --json --socket "$dir/control.sock" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(" ".join(["relay_" + k for k in s["outputs"] if k.endswith("Relay")] + ["input_" + k for k in s["inputs"]]))')
last=0
for object in "${expected[@]}" ; do
    topic="homeassistant/binary_sensor/simulated/$object/config"
    found=""
    deadline=$(( start + 5000000000 ))
    while [ "$(now_ns)" -lt "$deadline" ]; do
        found=$(awk -v t="$topic" '$2 == t { split($1, s, "."); print s[1] s[2]; exit }' "$dir/sub.log")
        [ -n "$found" ] && break
        sleep 0.02
    done
    [ -n "$found" ] || fail "no discovery on $topic within 5 s"
    [ "$found" -gt "$last" ] && last=$found
done
discovery_ms=$(( (last - start) / 1000000 ))
ok "discovery for ${#expected[@]} relays and inputs (${expected[*]}) ${discovery_ms} ms after telemetry started"
for object in state soc charge_current_limit discharge_current_limit faults latched_faults; do
    grep -q " homeassistant/sensor/simulated/$object/config " "$dir/sub.log" || fail "no discovery for sensor $object"
done
ok "discovery for the sensors (state, SOC, current limits, faults)"

# The state follows the simulated BMS: its enables asserted, so both relays close after the hold.
wait_arrival packguard/simulated/relays/chargeRelay ON 0 15 >/dev/null || fail "chargeRelay never ON"
wait_arrival packguard/simulated/relays/dischargeRelay ON 0 5 >/dev/null || fail "dischargeRelay never ON"
wait_arrival packguard/simulated/state running 0 5 >/dev/null || fail "state never running"
wait_arrival packguard/simulated/inputs/chargeEnable ON 0 5 >/dev/null || fail "chargeEnable not ON"
grep -Eq ' packguard/simulated/soc [0-9]+\.[0-9]$' "$dir/sub.log" || fail "no SOC value"
wait_arrival packguard/simulated/availability online 0 5 >/dev/null || fail "availability never online"
ok "state follows the simulated BMS: running, both relays ON, Charge Enable ON, SOC $(awk '$2 == "packguard/simulated/soc" { v = $3 } END { print v }' "$dir/sub.log") %"

# An operator change: force-off on opens the relays; the topic says so within 1 s.
before=$(now_ns)
"$bin" force-off on --socket "$dir/control.sock" >/dev/null || fail "force-off on"
seen=$(wait_arrival packguard/simulated/relays/chargeRelay OFF "$before" 5) || fail "chargeRelay never OFF after force-off on"
latency_ms=$(( (seen - before) / 1000000 ))
[ "$latency_ms" -lt 1000 ] || fail "chargeRelay OFF took ${latency_ms} ms (limit 1000)"
for _ in $(seq 1 50); do grep -q ' packguard/simulated/event {"kind":"chargeRelay.off".*"relay":"chargeRelay"' "$dir/sub.log" && break; sleep 0.02; done
grep -q ' packguard/simulated/event {"kind":"chargeRelay.off".*"relay":"chargeRelay"' "$dir/sub.log" || fail "no chargeRelay.off event"
ok "force-off on: relays/chargeRelay OFF ${latency_ms} ms after the command (includes the CLI's own start)"
before=$(now_ns)
"$bin" force-off off --socket "$dir/control.sock" >/dev/null || fail "force-off off"
wait_arrival packguard/simulated/relays/chargeRelay ON "$before" 10 >/dev/null || fail "chargeRelay not ON again after force-off off"
ok "force-off off: relays/chargeRelay ON again"

# Prometheus textfile and the status page.
sleep 1.2
grep -q '^packguard_relay_closed{relay="chargeRelay",line="GPIO16"} 1$' "$dir/metrics/packguard.prom" || fail "packguard.prom lacks chargeRelay closed"
grep -q '^packguard_step_latency_seconds_count ' "$dir/metrics/packguard.prom" || fail "packguard.prom lacks the step-latency histogram"
ok "packguard.prom: relays, step-latency histogram"
curl -sf "http://127.0.0.1:$web/" | grep -q "running: charge closed, discharge closed" || fail "status page does not say the relays are closed"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$web/")" = 405 ] || fail "status page accepted a POST"
ok "status page: relays closed, read-only (POST is 405)"

# SIGKILL: the broker publishes the Last Will.
before=$(now_ns)
kill -9 "$telemetry"
wait "$telemetry" 2>/dev/null || true
seen=$(wait_arrival packguard/simulated/availability offline "$before" 10) || fail "no Last Will (offline) after SIGKILL"
ok "SIGKILL: availability offline (Last Will) after $(( (seen - before) / 1000000 )) ms"

echo "e2e-telemetry: discovery ${discovery_ms} ms, relay to topic ${latency_ms} ms"
echo "e2e-telemetry: $passed passed, 0 failed"
