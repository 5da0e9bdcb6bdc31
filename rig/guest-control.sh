# Sourced by rig/guest-tests.sh (its helpers, $bin, $config, $sock, $work): who may do what on the control
# socket, decided from SO_PEERCRED, tried as two real users that rig/guest-init.sh adds (pg-operator in
# group packguard; pg-admin in packguard and packguard-admin) and as nobody; then a flood of silent
# clients. Judged by the replies and by the relay lines in gpio-sim.

# as USER COMMAND...: runs COMMAND with USER's uid, primary group and supplementary groups (initgroups).
as() { local user=$1; shift; setpriv --reuid="$user" --regid="$user" --init-groups "$@"; }
# pg_as USER ARGS...: `packguard ARGS --socket $sock` as USER; OUT is what it printed, status its exit code.
# A copy of the binary on the scratch tmpfs: the clone may sit where other users cannot reach (/root).
user_bin=$SCRATCH/packguard-for-users
cp "$bin" "$user_bin" && chmod 0755 "$user_bin"
pg_as() { local user=$1; shift; OUT=$(as "$user" "$user_bin" "$@" --socket "$sock" 2>&1); }
operator_uid=$(id -u pg-operator 2>/dev/null)

rest_lines
if ! [ -n "$operator_uid" ] || ! id -nG pg-admin | grep -qw packguard-admin; then
    bad "control: rig users pg-operator and pg-admin exist" "$(id pg-operator 2>&1; id pg-admin 2>&1)"
elif ! out=$(as pg-operator "$user_bin" --help 2>&1 >/dev/null); then
    bad "control: an unprivileged user can run packguard" "$out (the Swift runtime libraries must be readable by all)"
elif start_daemon "$config" && wait_for 10000 contactors_closed; then
    # Group packguard: status and force-off on (the safe direction).
    if pg_as pg-operator status && echo "$OUT" | grep -q "running: charge closed, discharge closed"; then
        ok "control: group packguard may read status" "$(echo "$OUT" | head -1)"
    else
        bad "control: group packguard may read status" "$OUT"
    fi
    if pg_as pg-operator force-off on && wait_for 1000 relays_off; then
        ok "control: group packguard may force off, and every relay opens" "relays off ${WAITED_MS} ms after the reply: $OUT"
    else
        bad "control: group packguard may force off, and every relay opens" "$OUT; charge $(cat "$SIM/sim_gpio16/value")"
    fi
    # ...but not release it, nor reset: refused with the group needed, and the relays stay open.
    want="force-off off refused: uid $operator_uid is not root and not in group packguard-admin"
    if ! pg_as pg-operator force-off off && [ "$OUT" = "$want" ] && holds_for 1500 relays_off; then
        ok "control: group packguard may not release force-off; the relays stay open" "$OUT"
    else
        bad "control: group packguard may not release force-off; the relays stay open" "got '$OUT', want '$want'; charge $(cat "$SIM/sim_gpio16/value")"
    fi
    want="reset refused: uid $operator_uid is not root and not in group packguard-admin"
    if ! pg_as pg-operator reset && [ "$OUT" = "$want" ]; then
        ok "control: group packguard may not reset" "$OUT"
    else
        bad "control: group packguard may not reset" "got '$OUT', want '$want'"
    fi
    # Neither group: the socket's mode (0660, group packguard) already keeps them out.
    if ! OUT=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$user_bin" status --socket "$sock" 2>&1) \
        && echo "$OUT" | grep -q "permission denied"; then
        ok "control: a user in neither group cannot connect" "$OUT"
    else
        bad "control: a user in neither group cannot connect" "$OUT"
    fi
    # Group packguard-admin: release (the relays re-qualify after minOffMs) and reset.
    if pg_as pg-admin force-off off && wait_for 10000 contactors_closed; then
        ok "control: group packguard-admin may release force-off; the relays close again" "$OUT; closed ${WAITED_MS} ms later (minOffMs 5000)"
    else
        bad "control: group packguard-admin may release force-off; the relays close again" "$OUT; charge $(cat "$SIM/sim_gpio16/value")"
    fi
    if pg_as pg-admin reset; then
        ok "control: group packguard-admin may reset" "$OUT"
    else
        bad "control: group packguard-admin may reset" "$OUT"
    fi
    # Every command is an event with uid, pid, command and result.
    events=$("$bin" events --socket "$sock" 2>&1)
    if echo "$events" | grep -Eq "reset by uid $operator_uid pid [0-9]+: refused: uid $operator_uid is not root" \
        && echo "$events" | grep -Eq "force-off off by uid $(id -u pg-admin) pid [0-9]+: ok"; then
        ok "control: commands and refusals are events with uid, pid and result" "$(echo "$events" | grep -c ' by uid ') such events"
    else
        bad "control: commands and refusals are events with uid, pid and result" "$events"
    fi

    # A flood: 200 silent connections (each reconnects at once when the daemon drops or refuses it) plus
    # status requests, while the contactor relays must stay closed and the internal watchdog must not trip.
    trips_before=$("$bin" status --json --socket "$sock" 2>&1 | grep -o '"internalTrips":[0-9]*')
    flood_s=8
    "$bin" bench-socket --socket "$sock" --silent-clients 200 --status-rate 20 \
        --seconds "$flood_s" --baseline-seconds 2 >"$work/bench-socket.txt" 2>&1 &
    bench_pid=$!
    if holds_for $(( (flood_s + 2) * 1000 )) contactors_closed; then held=1; else held=0; fi
    wait "$bench_pid"; bench_status=$?
    summary=$(grep "^bench-socket:" "$work/bench-socket.txt")
    trips=$("$bin" status --json --socket "$sock" 2>&1 | grep -o '"internalTrips":[0-9]*')
    if [ $held = 1 ] && [ $bench_status = 0 ] && [ "$trips_before" = '"internalTrips":0' ] && [ "$trips" = '"internalTrips":0' ]; then
        ok "control: 200 silent clients never stall the loop: relays closed throughout, no internal watchdog trip" "$summary"
        note "bench-socket in the rig: $summary"
    else
        bad "control: 200 silent clients never stall the loop: relays closed throughout, no internal watchdog trip" \
            "relays held: $held, bench exit $bench_status, before the flood $trips_before, after $trips; $(cat "$work/bench-socket.txt")"
    fi
    if grep -q "refused a connection" "$log" && [ "$(grep -c "refused a connection" "$log")" -le 2 ]; then
        ok "control: refusals beyond control.maxClients are logged, at most once per 10 s" "$(grep "refused a connection" "$log" | head -1)"
    else
        bad "control: refusals beyond control.maxClients are logged, at most once per 10 s" "$(grep -c "refused a connection" "$log") such lines"
    fi
    stop_daemon
else
    bad "control: the daemon comes up with both relays closed" "no control socket or relays open"
    stop_daemon
fi
