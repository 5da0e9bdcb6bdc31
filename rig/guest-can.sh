# CAN on the real kernel (SocketCAN, CAN_RAW on vcan0, frames sent with can-utils): sourced by
# rig/guest-tests.sh, whose helpers it uses. Decoding both presets, each safety use judged from gpio-sim,
# a garbage flood, and a replayed candump log (rig/can/orion-default.log, generated from the layouts).

# orion_6b0 CURRENT_DECI_AMPS SOC_HALF_PERCENT RELAY_BITS: an orionDefault 0x6B0 payload with its checksum.
orion_6b0() {
    local c=$(( $1 & 0xFFFF )) b sum=$(( 0x6B0 + 8 )) out= i
    local bytes=($(( c >> 8 )) $(( c & 0xFF )) 0x02 0x0C $2 $(( ($3 >> 8) & 0xFF )) $(( $3 & 0xFF )))
    for b in "${bytes[@]}"; do sum=$(( sum + b )); out+=$(printf '%02X' $(( b ))); done
    printf '%s%02X' "$out" $(( sum & 0xFF ))
}
LIMITS=009632001E1400B3  # 0x6B1: DCL 150 A, CCL 50 A, 30 °C / 20 °C (checksum 0xB3)

# The simulated BMS: sends 0x6B0 (payload from $work/can-6b0) and 0x6B1 every 50 ms until stopped.
bms_sender_pid=
start_bms() {
    ( while :; do
        read -r payload <"$work/can-6b0"
        cansend vcan0 "6B0#$payload"; cansend vcan0 "6B1#$LIMITS"
        nap 0.05
      done ) &
    bms_sender_pid=$!
}
stop_bms() { [ -n "$bms_sender_pid" ] && { kill "$bms_sender_pid" 2>/dev/null; wait "$bms_sender_pid" 2>/dev/null; }; bms_sender_pid=; }
# Atomically (rename), so the sender never reads a half-written payload (it would send a short frame).
bms_says() { orion_6b0 "$1" "$2" "$3" >"$work/can-6b0.new" && mv -f "$work/can-6b0.new" "$work/can-6b0"; }
json_number() { echo "$1" | grep -o "\"$2\" *: *[0-9]*" | head -1 | grep -o '[0-9]*$'; }
status_has() { "$bin" status --socket "$sock" 2>/dev/null | grep -q -- "$1"; }

# MTU 72 lets cangen send CAN FD frames too (PackGuard's socket, classic CAN only, never gets them).
if ! { ip link add dev vcan0 type vcan && ip link set vcan0 mtu 72 && ip link set up vcan0; } 2>"$work/vcan.err"; then
    bad "can: vcan0 created (CONFIG_CAN_VCAN, iproute2)" "$(cat "$work/vcan.err")"
elif ! command -v cansend >/dev/null || ! command -v cangen >/dev/null || ! command -v canplayer >/dev/null; then
    bad "can: can-utils on the host root (cansend, cangen, canplayer)" "not found in PATH"
else
    rest_lines
    can_config=$work/packguard-can.yaml
    cat >"$can_config" <<EOF
inputs:
  chargeEnable: { line: $CE, activeLow: true, bias: pullUp }
  dischargeEnable: { line: $DE, activeLow: true, bias: pullUp }
outputs:
  chargeRelay: { line: $CHG, activeLow: false }
  dischargeRelay: { line: $DSG, activeLow: false }
timing:
  startupHoldMs: 500
  minOffMs: 500
can:
  enabled: true
  interface: vcan0
  preset: orionDefault
  staleMs: 1000
  onStale: openAll
  currentWhileOpen: true
  openCurrentA: 5
  openCurrentMs: 300
  bmsDisagrees: true
  disagreeMs: 300
paths:
  controlSocket: $sock
  stateDirectory: $work/state-can
EOF
    # No current while the contactors are open (current through an open contactor is currentWhileOpen).
    bms_says 0 110 0x43  # 0 A, SOC 55 %, discharge + charge relay on, ready
    start_bms
    if out=$("$bin" check-config "$can_config" 2>&1) && start_daemon "$can_config" && [ "$ON_SAMPLES" = 0 ]; then
        # 1. Decoding orionDefault: the values in status, the relays closing with the wires and the bits agreeing.
        if wait_for 5000 contactors_closed && bms_says -123 110 0x43 && wait_for 2000 status_has "packCurrentA -12.3 A"; then
            line=$("$bin" status --socket "$sock" 2>&1 | grep '^CAN ')
            echo "$line" | grep -q "soc 55.0 %" && echo "$line" | grep -q "chargeRelay on" && echo "$line" | grep -q "dischargeLimitA 150.0 A" \
                && ok "can: orionDefault 0x6B0/0x6B1 from cansend decoded into status" "$line" \
                || bad "can: orionDefault decoded into status" "$line"
        else
            bad "can: the relays close with the BMS agreeing over CAN" "charge $(cat "$SIM/sim_gpio16/value"), discharge $(cat "$SIM/sim_gpio20/value"); $("$bin" status --socket "$sock" 2>&1 | grep '^CAN ')"
        fi

        # 2. bmsDisagrees: the BMS says charge off over CAN while Charge Enable stays asserted (and, the
        #    charge relay opening, reports no current).
        bms_says 0 110 0x41
        now_us; sent_at=$NOW
        if wait_for 3000 is $CHG 0; then
            now_us
            is $DSG 1 && grep -q "CAN says the BMS's charge relay is off, Charge Enable (BMS pin 1) reads asserted" "$log" \
                && ok "can: bmsDisagrees opens the charge relay only, the event names both readings" "$(( (NOW - sent_at) / 1000 )) ms after the first disagreeing frame (disagreeMs 300)" \
                || bad "can: bmsDisagrees opens the charge relay only" "discharge $(cat "$SIM/sim_gpio20/value"); $(grep -m1 bmsDisagrees "$log")"
        else
            bad "can: bmsDisagrees opens the charge relay" "GPIO16 still high 3 s after the BMS said charge off"
        fi
        bms_says 0 110 0x43
        wait_for 3000 contactors_closed || bad "can: the charge relay re-closes once the readings agree" "charge $(cat "$SIM/sim_gpio16/value")"

        # 3. Stale CAN with onStale: openAll: the BMS falls silent, every relay opens; frames again, they re-close.
        stop_bms
        now_us; silent_at=$NOW
        if wait_for 3000 is $CHG 0 && is $DSG 0; then
            now_us; open_ms=$(( (NOW - silent_at) / 1000 ))
            status_has "canStale" && ok "can: silence for staleMs opens every relay (onStale: openAll)" "$open_ms ms after the last frame (staleMs 1000)" \
                || bad "can: stale CAN is a fault in status" "$("$bin" status --socket "$sock" 2>&1 | head -1)"
        else
            bad "can: silence for staleMs opens every relay" "charge $(cat "$SIM/sim_gpio16/value"), discharge $(cat "$SIM/sim_gpio20/value")"
        fi

        # 4. A replayed log (canplayer, generated from the layouts): counted exactly, the DTC an event. The
        #    log's charging current flows while the relays are open (stale): that latches currentWhileOpen,
        #    which the operator resets afterwards.
        json=$("$bin" status --json --socket "$sock" 2>/dev/null)
        before=$(json_number "$json" decoded) bad_before=$(json_number "$json" badChecksum) short_before=$(json_number "$json" short)
        if canplayer -I "$RIG_DIR/can/orion-default.log" 2>"$work/canplayer.err"; then
            nap 0.3
            json=$("$bin" status --json --socket "$sock" 2>/dev/null)
            after=$(json_number "$json" decoded) bad_sum=$(( $(json_number "$json" badChecksum) - bad_before )) short=$(( $(json_number "$json" short) - short_before ))
            if [ $(( after - before )) = 40 ] && [ "$bad_sum" = 1 ] && [ "$short" = 1 ] && "$bin" events --socket "$sock" 2>/dev/null | grep -q "can.dtc.set\|reports a DTC"; then
                ok "can: a replayed candump log (canplayer) decodes 40 frames, ignores 1 bad checksum and 1 short, DTC set is an event" "decoded $before -> $after"
            else
                bad "can: a replayed candump log" "decoded $before -> $after, badChecksum +$bad_sum, short +$short; events: $("$bin" events --socket "$sock" 2>&1 | tail -3)"
            fi
        else
            bad "can: canplayer replays rig/can/orion-default.log" "$(cat "$work/canplayer.err")"
        fi

        # 5. A garbage flood (random IDs incl. extended, RTR and FD, random lengths and payloads, ~10 000/s
        #    asked) beside the BMS's own frames: no crash, no missed deadline, the enables still obeyed.
        bms_says 0 110 0x43
        start_bms
        nap 0.3
        "$bin" reset --socket "$sock" >/dev/null 2>&1
        wait_for 4000 contactors_closed || bad "can: relays re-close when frames return" "charge $(cat "$SIM/sim_gpio16/value")"
        read -r rx_before </sys/class/net/vcan0/statistics/rx_packets
        cangen vcan0 -g 0.1 -m -I r -L r -D r -i 2>/dev/null &
        flood_pid=$!
        cangen vcan0 -g 0.1 -I 6B1 -L r -D r -i 2>/dev/null &  # garbage on a configured ID: short, bad checksum
        flood6b1_pid=$!
        nap 4
        release_input $CE
        wait_for 1000 is $CHG 0; released=$?; release_ms=$WAITED_MS
        bms_says 0 110 0x41  # the BMS agrees: charge off, discharge on
        assert_input $CE; bms_says 0 110 0x43
        wait_for 4000 is $CHG 1; reclosed=$?
        nap 5
        kill "$flood_pid" "$flood6b1_pid" 2>/dev/null; wait "$flood_pid" "$flood6b1_pid" 2>/dev/null
        read -r rx_after </sys/class/net/vcan0/statistics/rx_packets
        frames=$(( rx_after - rx_before ))
        json=$("$bin" status --json --socket "$sock" 2>/dev/null)
        trips=$(echo "$json" | grep -o '"internalTrips" *: *[0-9]*' | grep -o '[0-9]*$')
        ignored=$(echo "$json" | grep -o '"\(short\|badChecksum\)" *: *[0-9]*' | grep -o '[0-9]*$' | awk '{ n += $1 } END { print n + 0 }')
        if kill -0 "$pid" 2>/dev/null && [ "$trips" = 0 ] && [ "$released" = 0 ] && [ "$reclosed" = 0 ] && is $DSG 1; then
            ok "can: a garbage flood leaves the daemon up, no missed deadline, Charge Enable still obeyed" "$frames frames in ~10 s ($(( frames / 10 ))/s reached under emulation), $ignored short or bad-checksum counted, release -> open in $release_ms ms, internalTrips 0"
        else
            bad "can: a garbage flood" "alive $(kill -0 "$pid" 2>/dev/null && echo yes || echo no), trips $trips, released $released ($release_ms ms), reclosed $reclosed, $frames frames"
        fi

        # 6. currentWhileOpen: Discharge Enable released (the BMS agreeing), yet 12 A flows out of the pack:
        #    a welded contactor seen by current. Latched, every relay opens.
        release_input $DE; bms_says 0 110 0x42  # the BMS agrees: discharge off, charge on
        if wait_for 1000 is $DSG 0; then
            bms_says 120 110 0x42
            now_us; current_at=$NOW
            if wait_for 3000 is $CHG 0; then
                now_us
                status_has "currentWhileOpen" && ok "can: current out of the pack with the discharge relay open latches currentWhileOpen, every relay opens" "$(( (NOW - current_at) / 1000 )) ms after 12 A appeared (openCurrentMs 300)" \
                    || bad "can: currentWhileOpen in status" "$("$bin" status --socket "$sock" 2>&1 | head -1)"
            else
                bad "can: currentWhileOpen opens every relay" "charge relay still closed 3 s after 12 A appeared"
            fi
        else
            bad "can: Discharge Enable released opens the discharge relay" "GPIO20 still high"
        fi
    else
        bad "can: the daemon comes up listening on vcan0" "${out:-no control socket}; $(tail -3 "$log")"
    fi
    stop_daemon
    stop_bms

    # 7. Decoding the Victron profile with `packguard can` (little-endian, charging positive on the wire).
    victron_config=$work/packguard-victron.yaml
    sed -e 's/preset: orionDefault/preset: victron/' -e '/bmsDisagrees: true/d' -e 's/staleMs: 1000/staleMs: 3000/' "$can_config" >"$victron_config"
    "$bin" can --config "$victron_config" --interface vcan0 --seconds 8 --count 4 >"$work/can-victron.out" 2>&1 &
    can_pid=$!
    nap 1.5
    cansend vcan0 "351#4802F401E803B801"; cansend vcan0 "355#4D0063000000"; cansend vcan0 "356#C014FA00D700"; cansend vcan0 "35A#0400000000000000"
    wait "$can_pid"; can_status=$?
    if [ "$can_status" = 0 ] && grep -q "soc 77 %" "$work/can-victron.out" && grep -q "packCurrentA -25" "$work/can-victron.out" \
        && grep -q "packVoltageV 53.12 V" "$work/can-victron.out" && grep -q "chargeLimitA 50 A" "$work/can-victron.out"; then
        ok "can: packguard can decodes the Victron profile (0x351, 0x355, 0x356, 0x35A) from cansend" "$(grep -m1 '0x356' "$work/can-victron.out")"
    else
        bad "can: packguard can decodes the Victron profile" "exit $can_status: $(cat "$work/can-victron.out")"
    fi
    ip link del dev vcan0
fi
rest_lines
