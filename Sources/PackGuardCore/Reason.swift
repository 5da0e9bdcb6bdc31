/// Why the policy did something, as values. The core never builds sentences: PackGuardWords renders
/// a reason to words for the journal, the control socket and the status page, and anything else
/// (telemetry, a translation) can read the values. Measurements from the world that the core only
/// passes on (a driver's error text, an ADC's "why invalid") stay text.
public indirect enum Reason: Sendable, Equatable {
    // What keeps a contactor open, or opens it.
    case controllerStarting
    case operatorForceOff
    case fault(FaultDetail)
    case enableReleased(Contactor)
    case socBelowCutoff(cutoffPercent: Double, resumesAtPercent: Double)
    case socAboveStop(stopPercent: Double, resumesAtPercent: Double)
    case socInvalid(SocProblem, onSocFault: SocFaultAction)
    case contactorWelded

    // What closes a contactor.
    case enableQualified(Contactor, for: Interval)
    case prechargedByTimer(after: Interval)
    case prechargedByBus(busVolts: Double, percentOfPack: Double, after: Interval)

    // An output changed: "<output> opened: <because>".
    case opened(OutputSignal, because: Reason)
    case closed(OutputSignal, because: Reason)
    /// A contactor relay changed with no recorded cause.
    case changed(OutputSignal, Level)

    // The precharge relay.
    case prechargeStarted(qualifiedFor: Interval)
    case dischargeRelayOpened
    case dischargeRelayClosed(ago: Interval)
    case prechargeDisabled
    case noPrechargeRunning
    case precharging
    case prechargeFailed(PrechargeFailure)

    // Configuration reload.
    case reloadMovedLines([String])
    case reloadMovedOrRemovedLine
    case reloadDuringPrecharge
    case reloaded

    // The controller's state.
    case running(startupHold: Interval)
    /// The shell's words for why it stops (a signal, a stop request).
    case shutdown(String)
    case stopped(String)
    case faultRaised(FaultDetail)
    case faultCleared(Fault)

    // SOC rules, balancing and the shore charger.
    case socRule(SocRule, socPercent: Double, thresholdPercent: Double)
    case balancingOn(endsAfter: Interval)
    case balancingOff(Reason)
    case balancingExpired(after: Interval)
    case balanceSwitchOff
    case balancingModeOn
    case balancingModeOff
    case chargerSafetyReleased
    case chargerSafetyNotQualified(Interval)
    case chargeRelayOpen
    case shoreChargingAllowed(qualifiedFor: Interval)

    // Operator commands.
    case forceOffHeld
    case forceOffReleased
    /// Reset refused: these contactors' feedback still reads closed.
    case resetRefused(stillClosed: [Contactor])
    case resetCleared([Fault])
}

/// A fault with what the policy knows about it.
public enum FaultDetail: Sendable, Equatable {
    /// A fault whose name says it all.
    case plain(Fault)
    /// The driver's error text.
    case inputReadError(InputSignal, String?)
    case outputWriteError(String?)
    case socInvalid(SocProblem)
    case chatter(Contactor, limit: Int, window: Interval)
    case prechargeFailed(PrechargeFailure?)
    case currentWhileOpen(CurrentWhileOpen?)
    case bmsDisagrees(Contactor, Disagreement?)
    case canStale(CANStaleness?, onStale: CANStaleAction)

    /// The fault this detail is about.
    public var fault: Fault {
        switch self {
        case .plain(let fault): fault
        case .inputReadError(let signal, _): .inputReadError(signal)
        case .outputWriteError: .outputWriteError
        case .socInvalid: .socInvalid
        case .chatter(let contactor, _, _): .chatter(contactor)
        case .prechargeFailed: .prechargeFailed
        case .currentWhileOpen: .currentWhileOpen
        case .bmsDisagrees(let contactor, _): .bmsDisagrees(contactor)
        case .canStale: .canStale
        }
    }
}

/// Why the SOC is not usable.
public enum SocProblem: Sendable, Equatable {
    case noReadingYet
    case implausible(percent: Double)
    /// The source's own words (an ADC conversion error, the CAN decoder).
    case invalid(String)
    case stale(age: Interval?)
    case noCANSocYet
    case canSocStale(messages: [String])
}

/// Why a precharge failed.
public enum PrechargeFailure: Sendable, Equatable {
    case tooManyAttempts(count: Int, window: Interval, maxAttempts: Int)
    case notComplete(after: Interval, PrechargeShortfall)
}

/// How far a precharge got when it timed out.
public enum PrechargeShortfall: Sendable, Equatable {
    case timerNeverCompleted
    case busUnknown(String)
    case packUnknown(busVolts: Double, String)
    case busBelowTarget(busVolts: Double, percentOfPack: Double, packVolts: Double, targetPercent: Double)
}

/// Current through a relay commanded open, as latched.
public struct CurrentWhileOpen: Sendable, Equatable {
    public enum Direction: Sendable, Equatable {
        /// Into the pack with the charge relay commanded open.
        case intoPack
        /// Out of the pack with the discharge relay commanded open.
        case outOfPack
    }

    public var direction: Direction
    public var amperes: Double
    public var duration: Interval
    public var thresholdAmperes: Double
    public var thresholdMs: Int
}

/// The BMS's relay bit over CAN against the wired enable.
public struct Disagreement: Sendable, Equatable {
    public var contactor: Contactor
    public var bmsRelayOn: Bool
    public var enableAsserted: Bool
    public var duration: Interval
    public var thresholdMs: Int
}

/// Why the CAN data is stale.
public enum CANStaleness: Sendable, Equatable {
    case noDataYet
    case noData(for: Interval)
    case messagesMissing([String], for: Interval)
}

/// An SOC rule that switched.
public enum SocRule: String, Sendable, Equatable, CaseIterable {
    case dischargeCutoff
    case dischargeResume
    case chargeStop
    case chargeResume
}
