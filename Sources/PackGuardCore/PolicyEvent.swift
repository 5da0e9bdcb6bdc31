/// The controller's overall state, as shown to users.
public enum ControllerState: String, Sendable, Equatable {
    case starting
    case running
    case faulted
    case forcedOff
    case stopped
}

/// Something the policy did or noticed, and why (PackGuardWords renders the reason).
public struct PolicyEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case outputChanged(OutputSignal, Level)
        case faultRaised(Fault)
        case faultCleared(Fault)
        case stateChanged(ControllerState)
        case balancing(Bool)
        case socRule(SocRule)
        case commandAccepted(OperatorCommand)
        case commandRefused(OperatorCommand)
        /// The configuration was reloaded (the policy kept its state).
        case reconfigured
    }

    public var time: Instant
    public var kind: Kind
    public var reason: Reason

    public init(time: Instant, kind: Kind, reason: Reason) {
        self.time = time
        self.kind = kind
        self.reason = reason
    }

}

/// The logical level of every output after a step.
public typealias OutputLevels = PerOutput<Level>

/// What one step decided.
public struct StepResult: Sendable, Equatable {
    public var outputs: OutputLevels
    public var events: [PolicyEvent]
    /// The earliest time at which outputs may change without any new input: the shell must
    /// step again by then (qualification, minimum off time, timeouts, LED blink, staleness).
    public var nextDeadline: Instant?
    /// True when inputs were read and no input, output or loop fault is active: the shell may
    /// pet its watchdogs and toggle the heartbeat only after such a step.
    public var healthy: Bool
}

/// Where the precharge sequence is, as status shows it.
public enum PrechargeState: Sendable, Equatable {
    case idle
    /// The precharge relay is closed, the discharge relay still open.
    case charging(since: Instant)
    /// Both closed, the precharge relay about to open.
    case overlapping(since: Instant)
    /// Latched `prechargeFailed`: the discharge relay stays open until a reset.
    case failed
}
