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
  heartbeat:               # optional: toggles once per healthy control step
    line: GPIO12           # Pi header pin 32
    activeLow: false

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
  enabled: false           # ADS1115 on the Pi's I2C bus (header pins 3 and 5)
  bus: /dev/i2c-1
  address: 0x48

watchdog:
  hardware:
    enabled: false         # own /dev/watchdog (then do not set RuntimeWatchdogSec in systemd)
    device: /dev/watchdog
    timeoutS: 15

paths:
  controlSocket: /run/packguard/control.sock
  stateDirectory: /var/lib/packguard

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
