# Reload (SIGHUP) on the real kernel: sourced by rig/guest-tests.sh, whose helpers it uses (ok, bad, note,
# start_daemon, stop_daemon, make_config, holds_for, wait_for, is, pull, assert_input, release_input, rest_lines).
# Every relay is judged from gpio-sim's sysfs, never from the daemon's own word. holds_for samples every 10 ms:
# the reload it guards against opened the relays for seconds (start-up hold plus qualification).

# edit_config FILE SED-EXPRESSION...: changes the file in place, as a user editing it before `systemctl reload`.
edit_config() { local file=$1; shift; sed -i "$@" "$file"; }
reload_daemon() { kill -HUP "$pid"; nap 0.3; }
force_off() { "$bin" force-off "$1" --socket "$sock" >"$work/force-off.txt" 2>&1; }
line_free() { "$bin" lines --config "$1" 2>&1 | grep -Eq "$2 +- +free"; }

rest_lines
reload_config=$work/packguard-reload.yaml
make_config "$reload_config" 0
if start_daemon "$reload_config" && [ "$ON_SAMPLES" = 0 ] && wait_for 10000 contactors_closed; then
    # 1. Closed relays stay closed; the new timing is logged key by key.
    edit_config "$reload_config" -e 's/^  qualifyMs: 500/  qualifyMs: 800/'
    kill -HUP "$pid"
    if holds_for 4000 contactors_closed && grep -q "reload: timing.qualifyMs: 500 -> 800" "$log" \
        && ! grep -q "STOPPING\|stopped:" "$log"; then
        ok "reload: closed relays stay closed, the change is logged" "both closed for 4 s after SIGHUP; $(grep -m1 'reload: timing' "$log" | sed 's/.*reload: //')"
    else
        bad "reload: closed relays stay closed, the change is logged" "charge $(cat "$SIM/sim_gpio16/value"), discharge $(cat "$SIM/sim_gpio20/value"); log: $(grep reload "$log" | tail -3)"
    fi

    # 2. Balancing survives a reload.
    assert_input $SW
    if wait_for 1000 is $BAL 1; then
        edit_config "$reload_config" -e 's/^  qualifyMs: 800/  qualifyMs: 700/'
        kill -HUP "$pid"
        if holds_for 3000 is $BAL 1 && contactors_closed; then
            ok "reload: the balancing session survives" "balance power relay on for 3 s after SIGHUP"
        else
            bad "reload: the balancing session survives" "balance power relay $(cat "$SIM/sim_gpio21/value") after SIGHUP"
        fi
    else
        bad "reload: the balancing session survives" "the balancing switch did not energise the relay"
    fi
    release_input $SW
    wait_for 1000 is $BAL 0 >/dev/null

    # 3. Force-off survives a reload, and releasing it re-qualifies the relays.
    if force_off on && wait_for 500 relays_off; then
        edit_config "$reload_config" -e 's/^  qualifyMs: 700/  qualifyMs: 600/'
        kill -HUP "$pid"
        status=$("$bin" status --socket "$sock" 2>&1)
        if holds_for 4000 relays_off && echo "$status" | grep -q "forcedOff\|forced off" && [ -e "$work/state/force-off" ]; then
            ok "reload: force-off survives" "every relay off for 4 s after SIGHUP; still persisted"
        else
            bad "reload: force-off survives" "relays: $(cat "$SIM/sim_gpio16/value")/$(cat "$SIM/sim_gpio20/value"); status: $(echo "$status" | head -1)"
        fi
        force_off off
        if wait_for 8000 contactors_closed; then
            ok "reload: after force-off off the relays re-qualify and close" "closed within $WAITED_MS ms (minOffMs 5000 + qualifyMs 600)"
        else
            bad "reload: after force-off off the relays re-qualify and close" "$(cat "$work/force-off.txt")"
        fi
    else
        bad "reload: force-off survives" "force-off on did not open the relays: $(cat "$work/force-off.txt")"
    fi

    # 4. A moved relay line: only that relay opens, on its new line; the old line is released; the other
    #    relay stays closed throughout.
    edit_config "$reload_config" -e '/^  dischargeRelay:/,/^  [a-z]/ s/line: GPIO20/line: GPIO5/'
    if grep -q "GPIO5" "$reload_config"; then
        kill -HUP "$pid"
        if holds_for 2000 is $CHG 1 && is GPIO20 0 && is GPIO5 0 && line_free "$reload_config" GPIO20; then
            if wait_for 8000 is GPIO5 1 && is $CHG 1; then
                ok "reload: a moved relay line opens only that relay, which re-qualifies on its new line" "GPIO20 released, GPIO5 closed after $WAITED_MS ms more; charge relay closed throughout"
            else
                bad "reload: a moved relay line opens only that relay, which re-qualifies on its new line" "GPIO5 $(cat "$SIM/sim_gpio5/value") after 10 s"
            fi
        else
            bad "reload: a moved relay line opens only that relay, which re-qualifies on its new line" "charge $(cat "$SIM/sim_gpio16/value"), GPIO20 $(cat "$SIM/sim_gpio20/value"), GPIO5 $(cat "$SIM/sim_gpio5/value"); $("$bin" lines --config "$reload_config" 2>&1 | grep -E 'GPIO(5|20) ')"
        fi
    else
        bad "reload: a moved relay line opens only that relay" "could not edit the discharge relay's line in $reload_config"
    fi
else
    bad "reload: the daemon comes up for the reload tests" "no control socket or relays not closed"
fi
stop_daemon

# 5. A chatter latch survives a reload: a reload is not a reset.
rest_lines
chatter_config=$work/packguard-chatter.yaml
make_config "$chatter_config" 0
edit_config "$chatter_config" -e 's/^  chatterLimit: [0-9]*/  chatterLimit: 1/' -e 's/^  minOffMs: [0-9]*/  minOffMs: 100/'
if start_daemon "$chatter_config" && wait_for 10000 contactors_closed; then
    release_input $DE; wait_for 500 is $DSG 0; assert_input $DE; wait_for 3000 is $DSG 1
    release_input $DE; wait_for 500 is $DSG 0; assert_input $DE
    status=$("$bin" status --socket "$sock" 2>&1)
    if echo "$status" | grep -q "chatter"; then
        edit_config "$chatter_config" -e 's/^  qualifyMs: 500/  qualifyMs: 400/'
        kill -HUP "$pid"
        status=$("$bin" status --socket "$sock" 2>&1)
        if holds_for 3000 is $DSG 0 && is $CHG 1 && echo "$status" | grep -q "chatter"; then
            ok "reload: a chatter latch survives (a reload is not a reset)" "discharge relay locked out for 3 s after SIGHUP, charge relay closed"
        else
            bad "reload: a chatter latch survives (a reload is not a reset)" "discharge $(cat "$SIM/sim_gpio20/value"); status: $(echo "$status" | grep -i fault)"
        fi
        "$bin" reset --socket "$sock" >/dev/null 2>&1
        if wait_for 3000 is $DSG 1; then
            ok "reload: reset clears the latch afterwards" "discharge relay closed $WAITED_MS ms after reset"
        else
            bad "reload: reset clears the latch afterwards" "discharge relay still open"
        fi
    else
        bad "reload: a chatter latch survives" "the chatter latch did not trip: $(echo "$status" | head -3)"
    fi
else
    bad "reload: a chatter latch survives" "the daemon did not come up with both relays closed"
fi
stop_daemon
rest_lines
