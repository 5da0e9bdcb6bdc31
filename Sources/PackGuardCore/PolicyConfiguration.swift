/// Everything the policy needs to know about the installation. Validated by PackGuardConfig
/// before it gets here; the policy only checks its own preconditions.
public struct PolicyConfiguration: Sendable, Equatable {
    /// Inputs that are wired and configured. Charge and Discharge Enable are always present.
    public var inputs: InputSignals
    /// Outputs that are wired and configured. The two contactor relays are always present.
    public var outputs: OutputSignals
    public var timing: PolicyTiming
    public var soc: SocRules
    public var precharge: PrechargeRules
    public var can: CANRules

    public init(
        inputs: InputSignals = .all,
        outputs: OutputSignals = OutputSignals.all.subtracting([.prechargeRelay]),
        timing: PolicyTiming = PolicyTiming(),
        soc: SocRules = SocRules(),
        precharge: PrechargeRules = PrechargeRules(),
        can: CANRules = CANRules()
    ) {
        self.inputs = inputs
        self.outputs = outputs
        self.timing = timing
        self.soc = soc
        self.precharge = precharge
        self.can = can
    }
}

/// Every timing of the policy, with the defaults the issue and README name.
public struct PolicyTiming: Sendable, Equatable {
    public var startupHoldMs = 3000
    public var qualifyMs = 500
    public var minOffMs = 5000
    public var chatterLimit = 5
    public var chatterWindowS = 60
    public var switchDebounceMs = 50
    public var balanceMaxHours = 12
    public var feedbackTimeoutMs = 300
    public var inputStaleMs = 1000

    public init() {}

    var startupHold: Interval { .milliseconds(startupHoldMs) }
    var qualify: Interval { .milliseconds(qualifyMs) }
    var minOff: Interval { .milliseconds(minOffMs) }
    var chatterWindow: Interval { .seconds(chatterWindowS) }
    var switchDebounce: Interval { .milliseconds(switchDebounceMs) }
    var balanceMax: Interval { .hours(balanceMaxHours) }
    var feedbackTimeout: Interval { .milliseconds(feedbackTimeoutMs) }
    var inputStale: Interval { .milliseconds(inputStaleMs) }
}

/// What the SOC rules do when the SOC reading is invalid (stale, implausible, or unreadable).
public enum SocFaultAction: String, CaseIterable, Sendable, Equatable {
    /// The BMS stays the authority: SOC rules stop restricting anything.
    case ignore
    /// Open the discharge relay; charging stays allowed.
    case openDischarge
    /// Open both contactor relays.
    case openAll
}

/// Optional state-of-charge rules, off by default.
public struct SocRules: Sendable, Equatable {
    public var enabled = false
    public var dischargeCutoffSoc = 10.0
    public var chargeStopSoc = 98.0
    public var socHysteresis = 5.0
    public var socStaleMs = 5000
    public var onSocFault = SocFaultAction.ignore
    /// The ADC (BMS pin 11) or the BMS's CAN messages.
    public var source = SocSource.adc

    public init() {}

    /// The SOC range the policy accepts as plausible, in percent.
    public static let plausibleRange = 0.0...100.0
}

/// Optional precharge of the load side (an inverter's input capacitors) before the discharge
/// contactor closes, off by default.
public struct PrechargeRules: Sendable, Equatable {
    /// When a precharge has done its work.
    public enum Completion: Sendable, Equatable {
        /// The bus voltage is sensed: done once it reaches `targetPercent` of the pack voltage.
        case busVoltage(targetPercent: Double, pack: PackVoltage)
        /// No sensing: done after this long (the timer-only way most controllers precharge).
        case timer(milliseconds: Int)
    }

    /// Where the pack voltage the bus is compared with comes from.
    public enum PackVoltage: Sendable, Equatable {
        /// `StepInput.packVoltage`, measured.
        case measured
        /// A configured nominal voltage.
        case nominal(volts: Double)
    }

    public var enabled = false
    public var completion = Completion.timer(milliseconds: 500)
    /// A sequence that has not completed after this long fails (latched `prechargeFailed`); the
    /// precharge relay is never held closed longer.
    public var timeoutMs = 3000
    /// The precharge relay opens this long after the discharge contactor closed.
    public var overlapMs = 100
    /// More sequences than this within `attemptWindowS` latch `prechargeFailed`: a resistor
    /// driven into a short again and again overheats.
    public var maxAttempts = 3
    public var attemptWindowS = 300
    /// How often the shell steps (and samples the bus) while a sensed precharge runs.
    public var sampleIntervalMs = 20

    public init() {}

    var timeout: Interval { .milliseconds(timeoutMs) }
    var overlap: Interval { .milliseconds(overlapMs) }
    var attemptWindow: Interval { .seconds(attemptWindowS) }
}
