/// The shipped default configuration (hardware/pi/packguard.yaml), built in so that
/// `packguard run --simulate` and the bench work with no file. A test keeps the two identical.
public enum BuiltInConfiguration {
    public static let name = "<built-in default: hardware/pi/packguard.yaml>"

    public static let yaml = #"""
# PackGuard configuration for a Raspberry Pi (4 or 5) beside an Orion Jr. 2 BMS.
# Installed as /etc/packguard/packguard.yaml. Check it with: packguard check-config /etc/packguard/packguard.yaml
# Every key is documented in hardware/CONFIG.md. Unknown keys are errors, not ignored.
#
# Lines are found by name across all GPIO chips ("GPIO17" is BCM GPIO 17 on both the Pi 4 and the Pi 5).
# Levels in the policy are logical (active/inactive); the physical polarity lives only here:
#   inputs:  the BMS outputs are open drain (pulled to ground = "on"), so they are activeLow with a pull-up.
#   outputs: relay drivers are logic-level MOSFETs, on when the GPIO is high (activeLow: false).
configVersion: 1

inputs:
  chargeEnable:            # Orion Jr. 2 main I/O pin 1 (grey wire), open drain, 175 mA max
    line: GPIO17           # Pi header pin 11
    activeLow: true
    bias: pullUp
  dischargeEnable:         # Orion Jr. 2 main I/O pin 3 (blue/white wire), open drain, 175 mA max
    line: GPIO27           # Pi header pin 13
    activeLow: true
    bias: pullUp
  chargerSafety:           # Orion Jr. 2 main I/O pin 5, open drain; only asserts in CHARGE mode (pin 4 powered)
    line: GPIO22           # Pi header pin 15
    activeLow: true
    bias: pullUp
  balanceSwitch:           # manual override switch to ground: on = shore-power balancing mode
    line: GPIO23           # Pi header pin 16
    activeLow: true
    bias: pullUp
  # Optional contactor auxiliary contacts (closed = contactor closed). Enable only when wired:
  # chargeContactorFeedback:
  #   line: GPIO24         # Pi header pin 18
  #   activeLow: true
  #   bias: pullUp
  # dischargeContactorFeedback:
  #   line: GPIO25         # Pi header pin 22
  #   activeLow: true
  #   bias: pullUp

outputs:
  # All outputs are on GPIOs that the BCM2711/BCM2712 hold pulled DOWN from reset (GPIO 9-27),
  # so every relay is off while the Pi is unpowered, booting, or PackGuard is not running.
  chargeRelay:             # relay coil driver -> charge contactor
    line: GPIO16           # Pi header pin 36
    activeLow: false
  dischargeRelay:          # relay coil driver -> discharge (load) contactor
    line: GPIO20           # Pi header pin 38
    activeLow: false
  balancePowerRelay:       # relay that powers the BMS CHARGE power input (pin 4, red wire, 3 A fuse)
    line: GPIO21           # Pi header pin 40
    activeLow: false
  shoreChargerRelay:       # optional: relay that enables AC power to the shore charger
    line: GPIO26           # Pi header pin 37
    activeLow: false
  statusLed:               # optional: on = running, slow blink = balancing, fast blink = fault, off = stopped
    line: GPIO13           # Pi header pin 33
    activeLow: false
  heartbeat:               # toggles once per healthy step; feeds the charge pump that powers K4-K7 (hardware/README.md 2.4)
    line: GPIO12           # Pi header pin 32
    activeLow: false
  # Optional precharge relay K8 (hardware/precharge.md); used only with precharge.enabled:
  # prechargeRelay:        # relay coil driver Q12 -> K8: precharge resistor R33 around the discharge contactor
  #   line: GPIO19         # Pi header pin 35
  #   activeLow: false

timing:
  startupHoldMs: 3000      # stay in "starting" at least this long after every input was read once
  qualifyMs: 500           # an enable must be continuously asserted this long before its relay closes
  minOffMs: 5000           # a relay that opened stays open at least this long
  chatterLimit: 5          # more openings than this ...
  chatterWindowS: 60       # ... within this window lock the relay out (latched fault "chatter")
  switchDebounceMs: 50     # balancing switch debounce
  balanceMaxHours: 12      # balancing mode ends by itself after this long
  feedbackTimeoutMs: 300   # contactor feedback must follow the command within this time
  inputStaleMs: 1000       # an input not read successfully for this long is a fault
  reconcileMs: 250         # re-read every input this often, even without edges
  loopDeadlineMs: 200      # the internal watchdog forces all relays off if a step takes longer

soc:
  enabled: false           # SOC rules are off by default: the BMS stays the authority
  dischargeCutoffSoc: 10   # percent: discharge relay opens at or below this ...
  chargeStopSoc: 98        # percent: charge relay opens at or above this ...
  socHysteresis: 5         # ... and each resumes only this many percent past its threshold
  socStaleMs: 5000         # a SOC reading older than this is invalid
  onSocFault: ignore       # ignore | openDischarge | openAll

adc:
  enabled: false           # ADS1115 on the Pi's I2C bus (header pins 3 and 5); soc.enabled needs it
  bus: /dev/i2c-1
  address: 0x48            # ADDR to GND (0x49 VDD, 0x4A SDA, 0x4B SCL)
  pga: 4.096               # full-scale volts: 6.144 | 4.096 | 2.048 | 1.024 | 0.512 | 0.256
  dataRate: 860            # samples per second: 8 | 16 | 32 | 64 | 128 | 250 | 475 | 860; conversions block the
                           # control loop, so the fastest (1.2 ms each) keeps an edge's wait short
  supplyVolts: 3.3         # the ADS1115's VDD; every input must stay within GND..VDD
  samplePeriodMs: 1000     # every used input is converted this often
  medianSamples: 3         # a signal is the median of its last this-many good samples
  staleMs: 5000            # a signal without a good sample for this long is invalid
  # channels: what each input carries. Not set here, so these defaults apply; to change any of it,
  # uncomment the whole block (an input left out is unused; each signal on one input at most).
  #   signal            soc | chargeLimit | dischargeLimit | unused
  #   dividerRatio      the board's divider, R_bottom / (R_top + R_bottom): volts at AINx per volt at the BMS pin
  #   calibrationGain, calibrationOffsetVolts
  #                     BMS pin volts = AINx volts / dividerRatio x gain + offset; calibrate with `packguard adc`
  #                     against a multimeter on the Orion pin
  #   scale             volts at the BMS pin [low, high] map linearly to units [low, high] (Orion profile scaling)
  #   plausible         [min, max] in units; a value outside is invalid (broken wire, wrong scale)
  # channels:
  #   AIN0:                  # Orion Jr. 2 main I/O pin 11: state of charge, 0-5 V
  #     signal: soc
  #     dividerRatio: 0.5714 # 20 kOhm / (15 kOhm + 20 kOhm), the board's divider
  #     calibrationOffsetVolts: 0
  #     calibrationGain: 1
  #     scale: { volts: [0, 5], units: [0, 100] }
  #     plausible: [-2, 102]
  #     unit: "%"
  #   AIN1:                  # Orion Jr. 2 main I/O pin 13: charge current limit, 0-5 V
  #     signal: chargeLimit
  #     dividerRatio: 0.5714
  #     calibrationOffsetVolts: 0
  #     calibrationGain: 1
  #     scale: { volts: [0, 5], units: [0, 100] }   # placeholder: set to the Orion profile's scaling
  #     plausible: [0, 105]
  #     unit: A
  #   AIN2:                  # Orion Jr. 2 main I/O pin 14: discharge current limit, 0-5 V
  #     signal: dischargeLimit
  #     dividerRatio: 0.5714
  #     calibrationOffsetVolts: 0
  #     calibrationGain: 1
  #     scale: { volts: [0, 5], units: [0, 100] }   # placeholder: set to the Orion profile's scaling
  #     plausible: [0, 105]
  #     unit: A
  #   AIN3:                  # bus voltage, load side of the discharge contactor (hardware/precharge.md)
  #     signal: busVoltage
  #     dividerRatio: 0.04853 # 5.1 kOhm / (100 kOhm + 5.1 kOhm), the board's bus divider

precharge:
  enabled: false           # precharge the inverter's capacitors before the discharge contactor closes (hardware/precharge.md)
  targetPercent: 95        # with AIN3 sensing the bus: close the contactor once the bus reaches this % of the pack
  timeMs: 500              # without bus sensing: precharge this long (at least 5 RC, below timeoutMs)
  timeoutMs: 3000          # a precharge not complete by then latches prechargeFailed (a short, a failed resistor)
  overlapMs: 100           # the precharge relay opens this long after the contactor closed
  maxAttempts: 3           # more precharges than this within attemptWindowS latch prechargeFailed (the resistor heats)
  attemptWindowS: 300
  # packVoltageV: 48       # sensed without a packVoltage input: the pack's MINIMUM operating voltage, not its nominal

heartbeat:
  minToggleHz: 20          # the loop toggles the heartbeat output at least this often (charge pump: hardware/README.md 2.4)

watchdog:
  hardware:
    enabled: false         # own /dev/watchdog (then do not set RuntimeWatchdogSec in systemd)
    device: /dev/watchdog
    timeoutS: 15           # at least twice petIntervalMs, so one late pet never resets the board
    petIntervalMs: 1000    # healthy steps pet it this often; the loop wakes for it

paths:
  controlSocket: /run/packguard/control.sock
  stateDirectory: /var/lib/packguard

control:                   # the control socket's permissions: README "Running it" has the table
  adminGroup: packguard-admin   # members (and root) may also `reset` and `force-off off`
  maxClients: 16           # connections served at once (1-1024); more get a "busy" reply
realtime:                  # the control thread's scheduling and memory (read at start); without the permission it logs once and runs normally
  scheduling: fifo         # fifo: SCHED_FIFO, ahead of every normal process; other: a normal process
  priority: 10             # SCHED_FIFO priority 1-47 (the watchdog thread runs one above, the off reflex two); packguard.service grants LimitRTPRIO=12
  lockMemory: true         # mlockall as pages are used: the loop never waits for a page from the SD card

"""#

    /// The built-in default, parsed. It is valid by test; a failure here is a programming error.
    public static func load() -> PackGuardConfiguration {
        do {
            return try ConfigurationLoader.parse(yaml, file: name)
        } catch {
            preconditionFailure("the built-in configuration is invalid: \(error)")
        }
    }
}
