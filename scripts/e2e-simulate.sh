#!/usr/bin/env bash
# End-to-end check of the real binary on the mocked chip: start `run --simulate`, query it over
# the control socket, stop it with SIGTERM and check it exits 0 with every relay off.
# Usage: scripts/e2e-simulate.sh PATH-TO-packguard
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
fail() { echo "e2e: FAIL: $*" >&2; echo "--- daemon log:" >&2; cat "$dir/log" >&2; exit 1; }

start_ns=$(date +%s%N)
"$bin" run --simulate --control-socket "$dir/control.sock" --state-directory "$dir/state" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ -S "$dir/control.sock" ] && break; sleep 0.05; done
[ -S "$dir/control.sock" ] || fail "no control socket after 5 s"
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

for _ in $(seq 1 100); do
    "$bin" status --socket "$dir/control.sock" | grep -q "running: charge closed, discharge closed" && break
    sleep 0.1
done
"$bin" status --socket "$dir/control.sock" | grep -q "running: charge closed, discharge closed" \
    || fail "relays did not close on the simulated BMS"
"$bin" status --json --socket "$dir/control.sock" | grep -q '"dischargeRelay":{"line":"GPIO20","logical":"active","raw":1}' \
    || fail "status JSON lacks the discharge relay"
stop_ns=$(date +%s%N)
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
stop_ms=$(( ($(date +%s%N) - stop_ns) / 1000000 ))
[ "$code" -eq 0 ] || fail "exit status $code after SIGTERM"
grep -q "charge relay opened: SIGTERM" "$dir/log" || fail "no 'charge relay opened: SIGTERM' in the log"
grep -q "stopped: SIGTERM; every relay off, lines released" "$dir/log" || fail "no orderly stop in the log"
# Force-off survives a restart: set it, stop, start again, and the relays stay open.
[ ! -e "$dir/control.sock" ] || fail "the control socket was left behind after SIGTERM"
"$bin" run --simulate --control-socket "$dir/control.sock" --state-directory "$dir/state" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do "$bin" status --socket "$dir/control.sock" >/dev/null 2>&1 && break; sleep 0.05; done
"$bin" force-off on --socket "$dir/control.sock" | grep -q "every relay held open" || fail "force-off on"
kill -TERM "$pid"; wait "$pid" || fail "second stop"
"$bin" run --simulate --control-socket "$dir/control.sock" --state-directory "$dir/state" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do "$bin" status --socket "$dir/control.sock" >/dev/null 2>&1 && break; sleep 0.05; done
sleep 4
"$bin" status --socket "$dir/control.sock" | grep -q "forcedOff: charge open, discharge open" \
    || fail "force-off did not survive the restart"
"$bin" force-off off --socket "$dir/control.sock" | grep -q "released" || fail "force-off off"
kill -TERM "$pid"; wait "$pid" || fail "third stop"

echo "e2e: run --simulate: socket up after ${ready_ms} ms; SIGTERM to exit 0 in ${stop_ms} ms (process exit included)"
echo "e2e: 2 passed, 0 failed"
