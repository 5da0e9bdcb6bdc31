import PackGuardADC
import PackGuardCAN
import PackGuardCore
import PackGuardGPIO

/// The ADS1115 ADC on the Pi's I2C bus: whether the controller reads it, and the device and
/// channel configuration it reads it with (validated by `ADS1115Configuration.validate()`).
public struct ADCSettings: Sendable, Equatable {
    public var enabled = false
    /// Bus, address, PGA, data rate, supply, sampling and what each input carries.
    public var ads1115 = ADS1115Configuration()

    public init() {}

    public init(enabled: Bool, ads1115: ADS1115Configuration) {
        self.enabled = enabled
        self.ads1115 = ads1115
    }

    /// The I2C bus device, `adc.bus`.
    public var bus: String {
        get { ads1115.busPath }
        set { ads1115.busPath = newValue }
    }

    /// The 7-bit I2C address, `adc.address`.
    public var address: Int {
        get { Int(ads1115.address) }
        set { ads1115.address = UInt8(clamping: newValue) }
    }
}

/// The control loop's own timing: how often it re-reads what no edge reported, and how late a
/// step may be before the internal watchdog forces every relay off. The policy never sees these.
public struct LoopTiming: Sendable, Equatable {
    public var reconcileMs = 250
    public var loopDeadlineMs = 200

    public init() {}
}

/// Optional ownership of the hardware watchdog device.
public struct HardwareWatchdogSettings: Sendable, Equatable {
    public var enabled = false
    public var device = "/dev/watchdog"
    public var timeoutS = 15
    /// How often a healthy loop pets the device; the loop wakes for it, however long reconcileMs is.
    public var petIntervalMs = 1000

    public init() {}
}

/// The precharge as the file gives it; how it completes (sensed or timed) follows from whether an
/// ADS1115 input carries `busVoltage`.
public struct PrechargeSettings: Sendable, Equatable {
    public var enabled = false
    public var targetPercent = 95.0
    public var timeMs = 500
    public var timeoutMs = 3000
    public var overlapMs = 100
    public var maxAttempts = 3
    public var attemptWindowS = 300
    /// The pack's nominal voltage, when no input carries `packVoltage`.
    public var packVoltageV: Double?

    public init() {}
}

/// The heartbeat output's guaranteed minimum rate: the loop wakes for it, so a healthy controller
/// toggles the line at least this many times a second (the charge pump of hardware/README.md 2.4
/// holds the relay supply only above its design rate).
public struct HeartbeatSettings: Sendable, Equatable {
    /// Level changes per second (20: a toggle at least every 50 ms, a 10 Hz square wave at the slowest).
    public var minToggleHz = 20

    public init() {}

    /// The longest time between two toggles of a healthy controller, in milliseconds.
    public var toggleIntervalMs: Int { 1000 / minToggleHz }
}

/// Where the daemon keeps its socket and persistent state.
public struct PathSettings: Sendable, Equatable {
    public var controlSocket = "/run/packguard/control.sock"
    public var stateDirectory = "/var/lib/packguard"

    public init() {}
}

/// Who may command the daemon over the control socket, and how many clients it serves at once.
public struct ControlSettings: Sendable, Equatable {
    /// Members (and root) may `reset` and `force-off off`; group `packguard` may only read and hold off.
    public var adminGroup = "packguard-admin"
    /// Open control connections served at once; more are refused with a reason.
    public var maxClients = 16

    public init() {}
}

/// The BMS's CAN bus: where it is read, with which decoding table, and the safety uses (`rules`,
/// which go to the policy). Off by default.
public struct CANSettings: Sendable, Equatable {
    /// Which table decodes the frames: a built-in preset, or `messages` from the file.
    public enum Table: String, Sendable, Equatable, CaseIterable {
        case orionDefault, victron, custom
    }

    public var interface = "can0"
    /// For the installer's `ip link set can0 type can bitrate ...`; the daemon only listens.
    public var bitrate = 500_000
    public var table = Table.orionDefault
    /// The effective table: the preset's messages, or the file's.
    public var messages = CANPreset.orionDefault.messages
    public var rules = CANRules()

    public init() {}

    public static let bitrates = [125_000, 250_000, 500_000, 1_000_000]
}

/// A complete, validated PackGuard configuration.
public struct PackGuardConfiguration: Sendable, Equatable {
    /// The file it came from, or "<built-in>".
    public var source: String
    public var inputs: [InputSignal: InputLineConfiguration]
    public var outputs: [OutputSignal: OutputLineConfiguration]
    public var policy: PolicyConfiguration
    public var adc: ADCSettings
    public var hardwareWatchdog: HardwareWatchdogSettings
    public var paths: PathSettings
    public var heartbeat: HeartbeatSettings
    public var precharge: PrechargeSettings {
        didSet { policy.precharge = Self.rules(precharge, adc: adc) }
    }
    public var control = ControlSettings()
    public var loop = LoopTiming()
    public var realtime = RealtimeSettings()
    public var can = CANSettings() {
        didSet { policy.can = can.rules }
    }

    public init(
        source: String,
        inputs: [InputSignal: InputLineConfiguration],
        outputs: [OutputSignal: OutputLineConfiguration],
        timing: PolicyTiming = PolicyTiming(),
        soc: SocRules = SocRules(),
        adc: ADCSettings = ADCSettings(),
        hardwareWatchdog: HardwareWatchdogSettings = HardwareWatchdogSettings(),
        paths: PathSettings = PathSettings(),
        heartbeat: HeartbeatSettings = HeartbeatSettings(),
        precharge: PrechargeSettings = PrechargeSettings()
    ) {
        self.source = source
        self.inputs = inputs
        self.outputs = outputs
        self.policy = PolicyConfiguration(inputs: InputSignals(inputs.keys), outputs: OutputSignals(outputs.keys),
                                          timing: timing, soc: soc, precharge: Self.rules(precharge, adc: adc))
        self.adc = adc
        self.hardwareWatchdog = hardwareWatchdog
        self.paths = paths
        self.heartbeat = heartbeat
        self.precharge = precharge
    }

    /// The policy's precharge rules: sensed when the ADC reads the bus, timed otherwise.
    public static func rules(_ settings: PrechargeSettings, adc: ADCSettings) -> PrechargeRules {
        var rules = PrechargeRules()
        rules.enabled = settings.enabled
        if adc.enabled, adc.ads1115.channel(for: .busVoltage) != nil {
            let pack: PrechargeRules.PackVoltage = adc.ads1115.channel(for: .packVoltage) != nil
                ? .measured : .nominal(volts: settings.packVoltageV ?? 0)
            rules.completion = .busVoltage(targetPercent: settings.targetPercent, pack: pack)
        } else {
            rules.completion = .timer(milliseconds: settings.timeMs)
        }
        rules.timeoutMs = settings.timeoutMs
        rules.overlapMs = settings.overlapMs
        rules.maxAttempts = settings.maxAttempts
        rules.attemptWindowS = settings.attemptWindowS
        return rules
    }

    public var timing: PolicyTiming { policy.timing }
}
