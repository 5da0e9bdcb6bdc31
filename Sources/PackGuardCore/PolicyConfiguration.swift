/// Everything the policy needs to know about the installation. Validated by PackGuardConfig
/// before it gets here; the policy only checks its own preconditions.
public struct PolicyConfiguration: Sendable, Equatable {
    /// Inputs that are wired and configured. Charge and Discharge Enable are always present.
    public var inputs: Set<InputSignal>
    /// Outputs that are wired and configured. The two contactor relays are always present.
    public var outputs: Set<OutputSignal>
    public var timing: PolicyTiming
    public var soc: SocRules

    public init(
        inputs: Set<InputSignal> = Set(InputSignal.allCases),
        outputs: Set<OutputSignal> = Set(OutputSignal.allCases),
        timing: PolicyTiming = PolicyTiming(),
        soc: SocRules = SocRules()
    ) {
        self.inputs = inputs
        self.outputs = outputs
        self.timing = timing
        self.soc = soc
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
    public var reconcileMs = 250
    public var loopDeadlineMs = 200

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

    public init() {}

    /// The SOC range the policy accepts as plausible, in percent.
    public static let plausibleRange = 0.0...100.0
}
