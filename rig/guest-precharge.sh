# Precharge through the real I2C path, and the heartbeat's minimum rate, on the real kernel: sourced by
# rig/guest-tests.sh, whose helpers it uses. i2c-stub keeps one conversion register for every input, so this
# daemon reads only AIN3 (busVoltage); `packguard rig set-soc V --signal busVoltage` sets what the bus reads.
PRE=GPIO19 HB=GPIO12

# count_toggles LINE MS: polls the line's value every 5 ms for MS ms; TOGGLES and GAP_MS (longest time without
# a change, from the start and to the end of the stretch) describe what it saw.
count_toggles() {
    local line=$1 limit=$2 value last start changed_at
    read -r last <"$SIM/sim_gpio${line#GPIO}/value"
    now_us; start=$NOW; changed_at=$NOW; TOGGLES=0; GAP_MS=0
    while true; do
        now_us; [ $(( NOW - start )) -ge $(( limit * 1000 )) ] && break
        read -r value <"$SIM/sim_gpio${line#GPIO}/value"
        if [ "$value" != "$last" ]; then
            TOGGLES=$((TOGGLES + 1)); last=$value
            [ $(( (NOW - changed_at) / 1000 )) -gt "$GAP_MS" ] && GAP_MS=$(( (NOW - changed_at) / 1000 ))
            changed_at=$NOW
        fi
        nap 0.005
    done
    [ $(( (NOW - changed_at) / 1000 )) -gt "$GAP_MS" ] && GAP_MS=$(( (NOW - changed_at) / 1000 ))
}

rest_lines
precharge_config=$work/packguard-precharge.yaml
cat >"$precharge_config" <<EOF
inputs:
  chargeEnable: { line: $CE, activeLow: true, bias: pullUp }
  dischargeEnable: { line: $DE, activeLow: true, bias: pullUp }
outputs:
  chargeRelay: { line: $CHG, activeLow: false }
  dischargeRelay: { line: $DSG, activeLow: false }
  heartbeat: { line: $HB, activeLow: false }
  prechargeRelay: { line: $PRE, activeLow: false }
timing:
  startupHoldMs: 500
adc:
  enabled: true
  bus: $I2C_BUS
  channels:
    AIN3: { signal: busVoltage }
precharge:
  enabled: true
  timeoutMs: 1500
  overlapMs: 100
  packVoltageV: 48
heartbeat:
  minToggleHz: 20
paths:
  controlSocket: $sock
  stateDirectory: $work/state-precharge
EOF
set_bus() { "$bin" rig set-soc "$1" --signal busVoltage --bus "$I2C_BUS" >/dev/null 2>&1; }
set_bus 0
if out=$("$bin" check-config "$precharge_config" 2>&1) && start_daemon "$precharge_config" && [ "$ON_SAMPLES" = 0 ]; then
    # 1. A bus that never charges: the precharge relay closes, the discharge relay never does, and at
    #    timeoutMs the precharge relay opens and prechargeFailed latches.
    if wait_for 5000 is $PRE 1; then
        now_us; closed_at=$NOW
        if is $DSG 0 && wait_for 3000 is $PRE 0; then
            now_us; held_ms=$(( (NOW - closed_at) / 1000 ))
            status=$("$bin" status --socket "$sock" 2>&1)
            if holds_for 1500 is $DSG 0 && is $PRE 0 && echo "$status" | grep -q "prechargeFailed" && [ "$held_ms" -le 1700 ]; then
                ok "precharge: a bus at 0 V (i2c-stub) times out, latches prechargeFailed, the discharge relay stays open" "precharge relay held $held_ms ms (timeoutMs 1500)"
            else
                bad "precharge: a bus at 0 V (i2c-stub) times out, latches prechargeFailed" "held $held_ms ms; $(echo "$status" | head -1)"
            fi
        else
            bad "precharge: a bus at 0 V (i2c-stub) times out" "discharge $(cat "$SIM/sim_gpio20/value"), precharge $(cat "$SIM/sim_gpio19/value")"
        fi
    else
        bad "precharge: the precharge relay closes when Discharge Enable qualifies" "GPIO19 never went high"
    fi

    # 2. The bus at 47 V (above 95 % of 48 V) through i2c-stub: after a reset the sequence completes and the
    #    discharge relay closes, the precharge relay opening overlapMs later.
    set_bus 47
    nap 1.2  # the regular 1 s sample reads the new bus voltage
    "$bin" reset --socket "$sock" >/dev/null 2>&1
    if wait_for 3000 is $PRE 1 && wait_for 2000 is $DSG 1; then
        now_us; dsg_at=$NOW
        if wait_for 1000 is $PRE 0; then
            now_us
            grep -q "discharge relay closed: bus at 4" "$log" \
                && ok "precharge: a charged bus (i2c-stub) completes the sequence, the precharge relay opens after the overlap" "precharge relay opened $(( (NOW - dsg_at) / 1000 )) ms after the discharge relay closed (overlapMs 100); $(grep -m1 -o 'discharge relay closed: bus at [^;]*' "$log")" \
                || bad "precharge: the log gives the bus voltage reason" "no 'discharge relay closed: bus at' in the log"
        else
            bad "precharge: a charged bus completes the sequence" "the precharge relay stayed closed"
        fi
    else
        bad "precharge: a charged bus completes the sequence" "precharge $(cat "$SIM/sim_gpio19/value"), discharge $(cat "$SIM/sim_gpio20/value") after reset; $(tail -3 "$log")"
    fi

    # 3. Discharge Enable released: both open in the same wake.
    release_input $DE
    if wait_for 500 is $DSG 0 && is $PRE 0; then
        ok "precharge: Discharge Enable released -> discharge and precharge relays open" "${WAITED_MS} ms"
    else
        bad "precharge: Discharge Enable released -> discharge and precharge relays open" "discharge $(cat "$SIM/sim_gpio20/value"), precharge $(cat "$SIM/sim_gpio19/value")"
    fi
    # 4. The heartbeat toggles at its guaranteed minimum rate (20/s), and stops while the daemon is frozen.
    #    The rate is asserted; the longest gap is reported (a guest under emulation is scheduled coarsely).
    count_toggles $HB 2000
    if [ "$TOGGLES" -ge 40 ]; then
        ok "heartbeat: at least minToggleHz (20/s) while healthy" "$TOGGLES toggles in 2 s, longest gap $GAP_MS ms (guest under emulation)"
    else
        bad "heartbeat: at least minToggleHz (20/s) while healthy" "$TOGGLES toggles in 2 s, longest gap $GAP_MS ms"
    fi
    kill -STOP "$pid"
    count_toggles $HB 1000
    stopped=$TOGGLES
    kill -CONT "$pid"
    count_toggles $HB 1000
    if [ "$stopped" = 0 ] && [ "$TOGGLES" -ge 10 ]; then
        ok "heartbeat: stops toggling while the daemon is frozen (SIGSTOP), resumes after SIGCONT" "0 toggles in 1 s frozen, $TOGGLES in the next second"
    else
        bad "heartbeat: stops toggling while the daemon is frozen (SIGSTOP), resumes after SIGCONT" "$stopped toggles while frozen, $TOGGLES after"
    fi

else
    bad "precharge: the daemon comes up with precharge and bus sensing" "${out:-no control socket}"
fi
stop_daemon
rest_lines
