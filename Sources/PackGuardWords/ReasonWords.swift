import PackGuardCore

// The policy's reasons in words a user understands: the journal, the control socket's events and
// status, the bench and the simulator all show these. Only this module builds the sentences; the
// core hands over values.

extension Reason {
    public var words: String {
        switch self {
        case .controllerStarting: "controller starting"
        case .operatorForceOff: "operator force-off"
        case .fault(let detail): detail.words
        case .enableReleased(let contactor): "\(contactor.enable) released"
        case .socBelowCutoff(let cutoff, let resumes):
            "SOC at or below discharge cut-off \(percent(cutoff)) (resumes at \(percent(resumes)))"
        case .socAboveStop(let stop, let resumes):
            "SOC at or above charge stop \(percent(stop)) (resumes at \(percent(resumes)))"
        case .socInvalid(let problem, let action): "SOC invalid (\(problem.words)), onSocFault: \(action.rawValue)"
        case .contactorWelded: "contactor welded, all relays open"
        case .enableQualified(let contactor, let interval): "\(contactor.enable) asserted for \(interval)"
        case .prechargedByTimer(let elapsed): "precharged for \(elapsed) (timer, no bus voltage sensing)"
        case .prechargedByBus(let bus, let share, let elapsed):
            "bus at \(volts(bus)) = \(percent(share)) of pack after \(elapsed) of precharge"
        case .opened(let signal, let because): "\(signal) opened: \(because.words)"
        case .closed(let signal, let because): "\(signal) closed: \(because.words)"
        case .changed(let signal, let level): "\(signal) \(level.isActive ? "closed" : "opened")"
        case .prechargeStarted(let interval):
            "\(Contactor.discharge.enable) asserted for \(interval): precharging before the discharge relay closes"
        case .dischargeRelayOpened: "discharge relay opened"
        case .dischargeRelayClosed(let ago): "discharge relay closed \(ago) ago"
        case .prechargeDisabled: "precharge disabled"
        case .noPrechargeRunning: "no precharge running"
        case .precharging: "precharging"
        case .prechargeFailed(let failure): "precharge failed: \(failure.words)"
        case .reloadMovedLines(let moved):
            "the configuration reload moved \(moved.joined(separator: ", ")) to another line; it re-qualifies"
        case .reloadMovedOrRemovedLine: "the configuration reload moved or removed its line"
        case .reloadDuringPrecharge: "configuration reloaded during the precharge"
        case .reloaded: "configuration reloaded: force-off, latched faults, balancing and SOC states kept"
        case .running(let hold): "controller running: every input read, startup hold of \(hold) passed"
        case .shutdown(let why): why
        case .stopped(let why): "controller stopped: \(why)"
        case .faultRaised(let detail): "fault: \(detail.words)"
        case .faultCleared(let fault): "fault cleared: \(fault)"
        case .socRule(let rule, let soc, let threshold):
            switch rule {
            case .dischargeCutoff: "discharge cut-off: SOC \(percent(soc)) at or below \(percent(threshold))"
            case .dischargeResume: "discharge allowed again: SOC \(percent(soc)) reached \(percent(threshold))"
            case .chargeStop: "charge stop: SOC \(percent(soc)) at or above \(percent(threshold))"
            case .chargeResume: "charging allowed again: SOC \(percent(soc)) fell to \(percent(threshold))"
            }
        case .balancingOn(let limit): "balancing mode on: balancing switch on (ends by itself after \(limit))"
        case .balancingOff(let why): "balancing mode off: \(why.words)"
        case .balancingExpired(let after): "expired after \(after): turn the balancing switch off and on again to restart"
        case .balanceSwitchOff: "balancing switch off"
        case .balancingModeOn: "balancing mode on"
        case .balancingModeOff: "balancing mode off"
        case .chargerSafetyReleased: "\(InputSignal.chargerSafety) released"
        case .chargerSafetyNotQualified(let interval): "\(InputSignal.chargerSafety) not yet asserted for \(interval)"
        case .chargeRelayOpen: "charge relay open"
        case .shoreChargingAllowed(let interval):
            "balancing, \(InputSignal.chargerSafety) asserted for \(interval) and charge relay closed"
        case .forceOffHeld: "operator force-off: every relay held open"
        case .forceOffReleased: "operator force-off released: relays must qualify again"
        case .resetRefused(let contactors):
            "reset refused: " + contactors.map { "\($0.feedback) still reads closed" }.joined(separator: "; ")
        case .resetCleared(let faults):
            "reset: cleared " + (faults.isEmpty ? "no latched faults" : faults.map(\.description).joined(separator: ", "))
        }
    }
}

extension FaultDetail {
    public var words: String {
        switch self {
        case .plain(let fault): fault.description
        case .inputReadError(_, let error): "\(fault): \(error ?? "unknown error")"
        case .outputWriteError(let error): "\(fault): \(error ?? "unknown error")"
        case .socInvalid(let problem): "\(fault): \(problem.words)"
        case .chatter(_, let limit, let window): "\(fault): opened more than \(limit) times within \(window), until reset"
        case .prechargeFailed(let failure): "\(fault): \(failure?.words ?? "")"
        case .currentWhileOpen(let current): "\(fault): \(current?.words ?? "")"
        case .bmsDisagrees(_, let disagreement): "\(fault): \(disagreement?.words ?? "readings differ")"
        case .canStale(let staleness, let action):
            "\(fault): \(staleness?.words ?? "frames arriving again"), onStale: \(action.rawValue)"
        }
    }
}

extension SocProblem {
    public var words: String {
        switch self {
        case .noReadingYet: "no SOC reading yet"
        case .implausible(let value): "implausible SOC \(percent(value))"
        case .invalid(let why): why
        case .stale(let age?): "last reading \(age) old (stale)"
        case .stale(nil): "stale reading"
        case .noCANSocYet: "no SOC in the CAN messages yet"
        case .canSocStale(let messages): "CAN SOC stale (\(messages.joined(separator: ", ")))"
        }
    }
}

extension PrechargeFailure {
    public var words: String {
        switch self {
        case .tooManyAttempts(let count, let window, let maxAttempts):
            "\(count) precharges within \(window) (maxAttempts \(maxAttempts)): the resistor must cool and the cause be found; reset to try again"
        case .notComplete(let after, let shortfall):
            "not complete after \(after): \(shortfall.words) (a short, a failed resistor, or a load already on the bus)"
        }
    }
}

extension PrechargeShortfall {
    public var words: String {
        switch self {
        case .timerNeverCompleted: "timer never completed"
        case .busUnknown(let why): "bus voltage unknown (\(why))"
        case .packUnknown(let bus, let why): "bus at \(volts(bus)), pack voltage unknown (\(why))"
        case .busBelowTarget(let bus, let share, let pack, let target):
            "bus at \(volts(bus)) = \(percent(share)) of pack \(volts(pack)), target \(percent(target))"
        }
    }
}

extension CurrentWhileOpen {
    public var words: String {
        let flowing = switch direction {
        case .intoPack: "\(amps(amperes)) into the pack with the charge relay commanded open"
        case .outOfPack: "\(amps(amperes)) out of the pack with the discharge relay commanded open"
        }
        return "\(flowing) for \(duration) (can.openCurrentA \(amps(thresholdAmperes)), can.openCurrentMs \(thresholdMs)); reset once the contactor is checked"
    }
}

extension Disagreement {
    public var words: String {
        "CAN says the BMS's \(contactor) relay is \(bmsRelayOn ? "on" : "off"), \(contactor.enable) reads \(enableAsserted ? "asserted" : "released") (for \(duration), can.disagreeMs \(thresholdMs))"
    }
}

extension CANStaleness {
    public var words: String {
        switch self {
        case .noDataYet: "no CAN data yet"
        case .noData(let interval): "no CAN data for \(interval)"
        case .messagesMissing(let messages, let interval): "no frame of \(messages.joined(separator: ", ")) for \(interval)"
        }
    }
}

extension PolicyEvent {
    /// "12.345 s discharge relay opened: ...", for logs.
    public var words: String { "\(time) \(reason.words)" }
}

/// "47.1 V": tenths, no Foundation formatting.
public func volts(_ value: Double) -> String {
    guard value.isFinite else { return "\(value) V" }
    let tenths = Int((abs(value) * 10).rounded())
    return "\(value < 0 && tenths > 0 ? "-" : "")\(tenths / 10).\(tenths % 10) V"
}

/// "12.5 A": tenths, no Foundation formatting.
public func amps(_ value: Double) -> String {
    String(volts(value).dropLast()) + "A"
}

/// "42 %" or "42.5 %": no Foundation formatting.
public func percent(_ value: Double) -> String {
    guard value.isFinite else { return "\(value) %" }
    let tenths = (value * 10).rounded()
    let whole = Int(tenths) / 10
    let fraction = abs(Int(tenths) % 10)
    return fraction == 0 ? "\(Int(tenths) / 10) %" : "\(whole).\(fraction) %"
}
