/// PackGuard's safety policy: "off is immediate, on is earned".
///
/// A value-type state machine. The shell calls `step(_:now:)` with what it observed and the
/// current monotonic time; the policy answers with the level of every output, the events that
/// explain each change, and the next deadline by which it must be stepped again. It does no
/// I/O and reads no clock, so the same inputs at the same times always give the same outputs.
public struct SafetyPolicy: Sendable {
    public private(set) var configuration: PolicyConfiguration
    private var timing: PolicyTiming { configuration.timing }

    private var startedAt: Instant?
    private var phase: Phase = .starting
    private var forceOff = false
    private var stopped = false

    private var inputs = PerInput(repeating: InputTracker())
    private var relays = [RelayTracker(), RelayTracker()]  // indexed by Contactor.index
    private var socState = SocState()
    private var balance = BalanceTracker()
    private var precharge = PrechargeTracker()
    private var can = CANTracker()

    private var outputFailure: String?
    private var loopDeadlineMissed = false
    private var heartbeat = Level.inactive
    private var activeFaults: [Fault] = []
    private var outputs = OutputLevels(repeating: .inactive)

    private enum Phase: Equatable { case starting, running }

    public init(configuration: PolicyConfiguration) {
        Self.checkPreconditions(configuration)
        self.configuration = configuration
    }

    private static func checkPreconditions(_ configuration: PolicyConfiguration) {
        precondition(configuration.inputs.contains(.chargeEnable)
            && configuration.inputs.contains(.dischargeEnable), "both BMS enables are required")
        precondition(configuration.outputs.contains(.chargeRelay)
            && configuration.outputs.contains(.dischargeRelay), "both contactor relays are required")
        precondition(configuration.timing.qualifyMs > 0 && configuration.timing.chatterLimit > 0,
                     "timings are validated by the configuration layer")
        precondition(!configuration.precharge.enabled || configuration.outputs.contains(.prechargeRelay),
                     "precharge needs its relay")
    }

    // MARK: - Reload

    /// A configuration reload: the new settings take effect from the next decision, and every
    /// promise the running policy has made is kept. Force-off, latched faults with the history
    /// behind them (the chatter window's openings), the balancing session and its expiry clock,
    /// the SOC hysteresis states, the start-up phase and active faults all carry over; nothing is
    /// restarted. A closed relay stays closed unless `relocated` names its output line or an
    /// input it depends on: only such a relay opens here, and it re-qualifies (minimum off time
    /// included) like any other opening, without counting towards chatter.
    ///
    /// Returns the events of the reload; the shell applies `currentOutputs` right after.
    public mutating func reconfigure(to newConfiguration: PolicyConfiguration, relocated: Relocation,
                                     now: Instant) -> [PolicyEvent] {
        Self.checkPreconditions(newConfiguration)
        var events: [PolicyEvent] = []
        guard !stopped else { return events }
        let old = configuration
        configuration = newConfiguration

        // Inputs that moved, appeared or disappeared start unread: their old line says nothing
        // about the new one.
        for signal in InputSignal.allCases
        where relocated.inputs.contains(signal) || old.inputs.contains(signal) != newConfiguration.inputs.contains(signal) {
            inputs[signal] = InputTracker()
        }
        for contactor in Contactor.allCases {
            let moved = [contactor.relay].filter { relocated.outputs.contains($0) }.map(\.rawValue)
                + [contactor.enable, contactor.feedback].filter { relocated.inputs.contains($0) }.map(\.rawValue)
            guard !moved.isEmpty else { continue }
            var relay = relays[contactor.index]
            relay.eligibleSince = nil
            relay.feedbackMismatchSince = nil
            if outputs[contactor.relay].isActive {
                outputs[contactor.relay] = .inactive
                relay.openedAt = now  // the minimum off time protects the contactor here too
                events.append(PolicyEvent(
                    time: now, kind: .outputChanged(contactor.relay, .inactive),
                    reason: .opened(contactor.relay, because: .reloadMovedLines(moved))))
            }
            relays[contactor.index] = relay
        }
        // Every other output on a moved or removed line is requested anew, off: the next step
        // sets it again if it is still wanted.
        for signal in OutputSignal.allCases where !signal.isContactor
        && (relocated.outputs.contains(signal) || !newConfiguration.outputs.contains(signal)) {
            if outputs[signal].isActive && signal.isRelay {
                events.append(PolicyEvent(time: now, kind: .outputChanged(signal, .inactive),
                                          reason: .opened(signal, because: .reloadMovedOrRemovedLine)))
            }
            outputs[signal] = .inactive
        }
        // A running precharge starts again under the new settings (the discharge relay, if
        // already closed, stays closed; only the precharge relay opens early).
        if precharge.phase != .idle {
            precharge.end(reason: .reloadDuringPrecharge)
            if outputs[.prechargeRelay].isActive {
                outputs[.prechargeRelay] = .inactive
                events.append(PolicyEvent(time: now, kind: .outputChanged(.prechargeRelay, .inactive),
                                          reason: .opened(.prechargeRelay, because: .reloadDuringPrecharge)))
            }
            precharge.pendingReason = nil
        }
        events.append(PolicyEvent(time: now, kind: .reconfigured,
                                  reason: .reloaded))
        return events
    }

    // MARK: - Observation

    /// The outputs as of the last step (all inactive before the first).
    public var currentOutputs: OutputLevels { outputs }

    /// The relays a release of `signal` opens in the step that sees it, in every state and every
    /// configuration: "off is immediate" needs no history (a released enable blocks its contactor,
    /// and a precharge ends with whatever opens the discharge relay). The shell may write them off
    /// before it steps the policy on the edge (the off reflex); the property tests hold the
    /// policy to this table.
    public static func relaysOpened(byReleaseOf signal: InputSignal) -> [OutputSignal] {
        switch signal {
        case .chargeEnable: [.chargeRelay]
        case .dischargeEnable: [.dischargeRelay, .prechargeRelay]
        case .chargerSafety, .balanceSwitch, .chargeContactorFeedback, .dischargeContactorFeedback: []
        }
    }
    /// Every active fault, transient and latched, in a stable order.
    public var faults: [Fault] { activeFaults }
    public var isForcedOff: Bool { forceOff }
    public var isBalancing: Bool { balance.active }
    /// When balancing mode started, while it is active.
    public var balancingSince: Instant? { balance.active ? balance.startedAt : nil }
    /// Where the precharge sequence is, for status.
    public var prechargeState: PrechargeState {
        switch precharge.phase {
        case .idle: precharge.failed ? .failed : .idle
        case .charging(let since): .charging(since: since)
        case .overlap(let since, _): .overlapping(since: since)
        }
    }
    /// While a sensed precharge runs, the shell samples the bus voltage at every step.
    public var isPrecharging: Bool { if case .charging = precharge.phase { true } else { false } }

    public var state: ControllerState {
        if stopped { return .stopped }
        if phase == .starting { return .starting }
        if forceOff { return .forcedOff }
        return activeFaults.isEmpty ? .running : .faulted
    }


    // MARK: - Stepping

    public mutating func step(_ input: StepInput, now: Instant) -> StepResult {
        var events: [PolicyEvent] = []
        if stopped {
            return StepResult(outputs: outputs, events: events, nextDeadline: nil, healthy: false)
        }
        if startedAt == nil { startedAt = now }

        absorb(input, now: now)
        for command in input.commands { apply(command, now: now, events: &events) }

        updatePhase(now: now, events: &events)
        updateSoc(now: now, events: &events)
        updateBalanceSwitch(now: now, events: &events)
        updateCAN(now: now)
        updateFaults(now: now, events: &events)

        var next = outputs
        for contactor in Contactor.allCases {
            decideContactor(contactor, now: now, next: &next)
        }
        checkFeedback(now: now, next: &next)
        for contactor in Contactor.allCases where next[contactor.relay] != outputs[contactor.relay] {
            noteContactorChange(contactor, closed: next[contactor.relay].isActive, now: now, events: &events)
        }
        decidePrecharge(now: now, next: &next, events: &events)
        updateFaults(now: now, events: &events)  // feedback, chatter or precharge may have latched a fault
        decideBalancing(now: now, next: &next, events: &events)
        decideIndicators(now: now, next: &next)

        for signal in OutputSignal.allCases where !configuration.outputs.contains(signal) {
            next[signal] = .inactive
        }
        outputs = next
        return StepResult(outputs: next, events: events, nextDeadline: nextDeadline(now: now),
                          healthy: isHealthy)
    }

    /// Orderly stop: every output off, no further step changes anything.
    public mutating func shutdown(now: Instant, reason: String) -> StepResult {
        var events: [PolicyEvent] = []
        for signal in OutputSignal.allCases where outputs[signal].isActive && signal.isRelay {
            events.append(PolicyEvent(time: now, kind: .outputChanged(signal, .inactive),
                                      reason: .opened(signal, because: .shutdown(reason))))
        }
        outputs = OutputLevels(repeating: .inactive)
        balance.active = false
        if !stopped {
            stopped = true
            events.append(PolicyEvent(time: now, kind: .stateChanged(.stopped), reason: .stopped(reason)))
        }
        return StepResult(outputs: outputs, events: events, nextDeadline: nil, healthy: false)
    }

    // MARK: - Inputs

    private mutating func absorb(_ input: StepInput, now: Instant) {
        for signal in configuration.inputs {
            guard let reading = input.readings[signal] else { continue }
            switch reading {
            case .level(let level):
                inputs[signal].observe(level, at: now)
            case .failed(let why):
                inputs[signal].readError = why
            }
        }
        if let values = input.can {
            can.values = values
            can.receivedAt = now
        }
        if configuration.soc.source == .can {
            // The SOC rules judge the CAN SOC exactly as they judge the ADC's.
            if let values = input.can {
                if let soc = values.soc {
                    socState.absorb(.percent(soc), at: now)
                } else {
                    socState.invalidate(canSocProblem(values))
                }
            }
        } else if let sample = input.soc {
            socState.absorb(sample, at: now)
        }
        if let sample = input.busVoltage { precharge.bus = sample }
        if let sample = input.packVoltage { precharge.pack = sample }
        outputFailure = input.outputFailure
        loopDeadlineMissed = input.loopDeadlineMissed
    }

    private mutating func updatePhase(now: Instant, events: inout [PolicyEvent]) {
        guard phase == .starting, let startedAt else { return }
        let allRead = configuration.inputs.allSatisfy { inputs[$0].everRead }
        if allRead && now - startedAt >= timing.startupHold {
            phase = .running
            events.append(PolicyEvent(time: now, kind: .stateChanged(.running),
                                      reason: .running(startupHold: timing.startupHold)))
        }
    }

    // MARK: - Faults

    /// Transient faults derived from this step's observations plus the latched ones.
    private mutating func updateFaults(now: Instant, events: inout [PolicyEvent]) {
        var current: [Fault] = []
        for signal in InputSignal.allCases where configuration.inputs.contains(signal) {
            let tracker = inputs[signal]
            if tracker.readError != nil {
                current.append(.inputReadError(signal))
            } else if let good = tracker.lastGoodRead, now - good > timing.inputStale {
                current.append(.inputStale(signal))
            }
        }
        if outputFailure != nil { current.append(.outputWriteError) }
        if loopDeadlineMissed { current.append(.loopDeadlineMissed) }
        // Judged from `running` on: during the start-up hold every relay is open anyway, and the
        // first ADC sample may not have arrived yet.
        if configuration.soc.enabled && phase == .running
            && !socState.isValid(now: now, staleAfter: .milliseconds(configuration.soc.socStaleMs)) {
            current.append(.socInvalid)
        }
        for contactor in Contactor.allCases {
            let relay = relays[contactor.index]
            if !relay.latches.isEmpty {
                for latch in RelayLatch.allCases where relay.latches.contains(latch) { current.append(latch.fault(contactor)) }
            }
        }
        if precharge.failed { current.append(.prechargeFailed) }
        if can.currentLatched { current.append(.currentWhileOpen) }
        for contactor in Contactor.allCases where can.disagreeing[contactor.index] {
            current.append(.bmsDisagrees(contactor))
        }
        if configuration.can.enabled && phase == .running && canStaleness(now: now) != nil {
            current.append(.canStale)
        }
        for fault in current where !activeFaults.contains(fault) {
            events.append(PolicyEvent(time: now, kind: .faultRaised(fault), reason: .faultRaised(faultDetail(fault, now: now))))
        }
        for fault in activeFaults where !current.contains(fault) {
            events.append(PolicyEvent(time: now, kind: .faultCleared(fault), reason: .faultCleared(fault)))
        }
        activeFaults = current
    }

    private func faultDetail(_ fault: Fault, now: Instant) -> FaultDetail {
        switch fault {
        case .inputReadError(let signal): .inputReadError(signal, inputs[signal].readError)
        case .outputWriteError: .outputWriteError(outputFailure)
        case .socInvalid: .socInvalid(socState.problem(now: now))
        case .chatter(let contactor): .chatter(contactor, limit: timing.chatterLimit, window: .seconds(timing.chatterWindowS))
        case .prechargeFailed: .prechargeFailed(precharge.failure)
        case .currentWhileOpen: .currentWhileOpen(can.current)
        case .bmsDisagrees(let contactor): .bmsDisagrees(contactor, can.disagreement[contactor.index])
        case .canStale: .canStale(canStaleness(now: now), onStale: configuration.can.onStale)
        default: .plain(fault)
        }
    }

    /// Faults that open every relay in the step they appear.
    private var allRelaysFault: Fault? {
        activeFaults.first { fault in
            switch fault {
            case .inputReadError, .inputStale, .outputWriteError, .loopDeadlineMissed, .welded, .currentWhileOpen: true
            case .canStale: configuration.can.onStale == .openAll
            case .socInvalid, .chatter, .failedToClose, .prechargeFailed, .bmsDisagrees: false
            }
        }
    }

    /// The controller itself works: every input has been read and no I/O or loop fault is
    /// active. Latched safety faults do not make it unhealthy: restarting would not clear them.
    private var isHealthy: Bool {
        guard configuration.inputs.allSatisfy({ inputs[$0].everRead }) else { return false }
        return !activeFaults.contains { fault in
            switch fault {
            case .inputReadError, .inputStale, .outputWriteError, .loopDeadlineMissed: true
            case .socInvalid, .chatter, .welded, .failedToClose, .prechargeFailed,
                 .currentWhileOpen, .bmsDisagrees, .canStale: false
            }
        }
    }

    // MARK: - Contactor relays

    /// Why a contactor may not be closed. Kept as a value: the words are built only when a relay
    /// actually opens, so a relay held open costs no string work per step.
    private enum Block {
        case starting, forceOff, fault(Fault), chatter, failedToClose, prechargeFailed, soc(SocBlock), enableReleased
    }

    private enum SocBlock { case cutoff, chargeStop, invalid }

    /// Why the contactor may not be closed right now, or nil when every condition holds.
    private func blocker(for contactor: Contactor, now: Instant) -> Block? {
        if phase == .starting { return .starting }
        if forceOff { return .forceOff }
        if let fault = allRelaysFault { return .fault(fault) }
        let relay = relays[contactor.index]
        if relay.latches.contains(.chatter) { return .chatter }
        if relay.latches.contains(.failedToClose) { return .failedToClose }
        if contactor == .discharge && precharge.failed { return .prechargeFailed }
        if can.disagreeing[contactor.index] { return .fault(.bmsDisagrees(contactor)) }
        if let soc = socBlocker(for: contactor, now: now) { return .soc(soc) }
        if inputs[contactor.enable].level != .active { return .enableReleased }
        return nil
    }

    private func describe(_ block: Block, _ contactor: Contactor, now: Instant) -> Reason {
        let rules = configuration.soc
        switch block {
        case .starting: return .controllerStarting
        case .forceOff: return .operatorForceOff
        case .fault(let fault): return .fault(faultDetail(fault, now: now))
        case .chatter: return .fault(.plain(.chatter(contactor)))
        case .failedToClose: return .fault(.plain(.failedToClose(contactor)))
        case .prechargeFailed: return .fault(faultDetail(.prechargeFailed, now: now))
        case .enableReleased: return .enableReleased(contactor)
        case .soc(.cutoff):
            return .socBelowCutoff(cutoffPercent: rules.dischargeCutoffSoc, resumesAtPercent: rules.dischargeCutoffSoc + rules.socHysteresis)
        case .soc(.chargeStop):
            return .socAboveStop(stopPercent: rules.chargeStopSoc, resumesAtPercent: rules.chargeStopSoc - rules.socHysteresis)
        case .soc(.invalid):
            return .socInvalid(socState.problem(now: now), onSocFault: rules.onSocFault)
        }
    }

    private mutating func decideContactor(_ contactor: Contactor, now: Instant, next: inout OutputLevels) {
        let relaySignal = contactor.relay
        let blocked = blocker(for: contactor, now: now)
        var relay = relays[contactor.index]
        defer { relays[contactor.index] = relay }

        let precharged = contactor == .discharge && configuration.precharge.enabled
        if let blocked {
            relay.eligibleSince = nil
            if next[relaySignal].isActive {
                next[relaySignal] = .inactive
                relay.pendingReason = .opened(relaySignal, because: describe(blocked, contactor, now: now))
            }
            // Whatever would open the discharge relay ends a precharge in the same step.
            if precharged && precharge.phase != .idle {
                precharge.end(reason: describe(blocked, contactor, now: now))
            }
            return
        }
        if relay.eligibleSince == nil { relay.eligibleSince = now }
        guard !next[relaySignal].isActive, let eligibleSince = relay.eligibleSince else { return }
        let qualified = now - eligibleSince >= timing.qualify
        let restedEnough = relay.openedAt.map { now - $0 >= timing.minOff } ?? true
        guard qualified && restedEnough else { return }
        guard precharged else {
            next[relaySignal] = .active
            relay.pendingReason = .closed(relaySignal, because: .enableQualified(contactor, for: timing.qualify))
            return
        }
        // With precharge, "qualified" starts a sequence; the relay closes when it completes.
        if let completed = advancePrecharge(now: now) {
            next[relaySignal] = .active
            relay.pendingReason = .closed(relaySignal, because: completed)
        }
    }

    // MARK: - Precharge

    /// Steps the precharge sequence of a qualified discharge relay. Returns why it is
    /// complete (the discharge relay closes now), or nil while it is running, failed or refused.
    private mutating func advancePrecharge(now: Instant) -> Reason? {
        let rules = configuration.precharge
        switch precharge.phase {
        case .idle:
            precharge.attempts.removeAll { now - $0 > rules.attemptWindow }
            if precharge.attempts.count >= rules.maxAttempts {
                precharge.fail(.tooManyAttempts(count: precharge.attempts.count, window: rules.attemptWindow, maxAttempts: rules.maxAttempts))
                return nil
            }
            precharge.attempts.append(now)
            precharge.phase = .charging(since: now)
            precharge.pendingReason = .prechargeStarted(qualifiedFor: timing.qualify)
            return nil
        case .charging(let since):
            let elapsed = now - since
            switch rules.completion {
            case .timer(let milliseconds):
                if elapsed >= .milliseconds(milliseconds) {
                    precharge.phase = .overlap(since: since, until: min(now + rules.overlap, since + rules.timeout))
                    return .prechargedByTimer(after: elapsed)
                }
            case .busVoltage(let target, _):
                if let bus = precharge.busVolts, let pack = packVolts, pack > 0, bus >= pack * target / 100 {
                    precharge.phase = .overlap(since: since, until: min(now + rules.overlap, since + rules.timeout))
                    return .prechargedByBus(busVolts: bus, percentOfPack: bus / pack * 100, after: elapsed)
                }
            }
            if elapsed >= rules.timeout {
                precharge.fail(.notComplete(after: rules.timeout, prechargeShortfall()))
            }
            return nil
        case .overlap:
            return nil  // the discharge relay is already closed
        }
    }

    /// The pack voltage the bus is compared with, when known.
    private var packVolts: Double? {
        guard case .busVoltage(_, let pack) = configuration.precharge.completion else { return nil }
        switch pack {
        case .nominal(let volts): return volts
        case .measured: return precharge.packVolts
        }
    }

    private func prechargeShortfall() -> PrechargeShortfall {
        guard case .busVoltage(let target, _) = configuration.precharge.completion else { return .timerNeverCompleted }
        guard let bus = precharge.busVolts else { return .busUnknown(precharge.busProblem) }
        guard let pack = packVolts, pack > 0 else { return .packUnknown(busVolts: bus, precharge.packProblem) }
        return .busBelowTarget(busVolts: bus, percentOfPack: bus / pack * 100, packVolts: pack, targetPercent: target)
    }

    /// Ends the overlap once its time is up or the discharge relay opened, and sets the precharge
    /// relay from the phase.
    private mutating func decidePrecharge(now: Instant, next: inout OutputLevels, events: inout [PolicyEvent]) {
        if case .overlap(_, let until) = precharge.phase {
            if !next[.dischargeRelay].isActive {
                precharge.end(reason: .dischargeRelayOpened)
            } else if now >= until {
                precharge.phase = .idle
                precharge.pendingReason = .dischargeRelayClosed(ago: configuration.precharge.overlap)
            }
        }
        if !configuration.precharge.enabled && precharge.phase != .idle { precharge.end(reason: .prechargeDisabled) }
        let reason = precharge.pendingReason ?? (precharge.phase == .idle ? .noPrechargeRunning : .precharging)
        precharge.pendingReason = nil
        setRelay(.prechargeRelay, to: Level(precharge.phase != .idle), next: &next, now: now, events: &events, reason: reason)
    }

    private mutating func noteContactorChange(_ contactor: Contactor, closed: Bool, now: Instant,
                                              events: inout [PolicyEvent]) {
        var relay = relays[contactor.index]
        defer { relays[contactor.index] = relay }
        let reason = relay.pendingReason ?? .changed(contactor.relay, Level(closed))
        relay.pendingReason = nil
        // The contactor is expected to follow from this instant: feedback gets feedbackTimeoutMs.
        relay.feedbackMismatchSince = now
        events.append(PolicyEvent(time: now, kind: .outputChanged(contactor.relay, Level(closed)), reason: reason))
        guard !closed else { return }
        relay.openedAt = now
        relay.openings.append(now)
        relay.openings.removeAll { now - $0 > timing.chatterWindow }
        if relay.openings.count > timing.chatterLimit { relay.latches.insert(.chatter) }
    }

    /// Contactor feedback, when wired: a relay that does not follow its command is a latched fault.
    private mutating func checkFeedback(now: Instant, next: inout OutputLevels) {
        var weldedNow = false
        for contactor in Contactor.allCases where configuration.inputs.contains(contactor.feedback) {
            guard let feedback = inputs[contactor.feedback].level else { continue }
            var relay = relays[contactor.index]
            let commandedClosed = outputs[contactor.relay].isActive
            let mismatch = feedback.isActive != commandedClosed
            if !mismatch {
                relay.feedbackMismatchSince = nil
            } else {
                let since = relay.feedbackMismatchSince ?? now
                relay.feedbackMismatchSince = since
                if now - since >= timing.feedbackTimeout {
                    if commandedClosed && !relay.latches.contains(.failedToClose) {
                        relay.latches.insert(.failedToClose)
                        next[contactor.relay] = .inactive
                        relay.pendingReason = .opened(contactor.relay, because: .fault(.plain(.failedToClose(contactor))))
                        relay.eligibleSince = nil
                    } else if !commandedClosed && !relay.latches.contains(.welded) {
                        relay.latches.insert(.welded)
                        weldedNow = true
                    }
                }
            }
            relays[contactor.index] = relay
        }
        if weldedNow {
            for contactor in Contactor.allCases where next[contactor.relay].isActive {
                next[contactor.relay] = .inactive
                relays[contactor.index].eligibleSince = nil
                relays[contactor.index].pendingReason = .opened(contactor.relay, because: .contactorWelded)
            }
        }
    }

    // MARK: - CAN

    /// Why the CAN data counts as stale now, or nil while every configured message is fresh.
    private func canStaleness(now: Instant) -> CANStaleness? {
        guard let at = can.receivedAt, let values = can.values else { return .noDataYet }
        if now - at > configuration.can.stale { return .noData(for: now - at) }
        if !values.staleMessages.isEmpty { return .messagesMissing(values.staleMessages, for: configuration.can.stale) }
        return nil
    }

    private func canSocProblem(_ values: CANPackValues) -> SocProblem {
        values.staleMessages.isEmpty ? .noCANSocYet : .canSocStale(messages: values.staleMessages)
    }

    /// The values, while they are fresh enough to judge by.
    private func freshCAN(now: Instant) -> CANPackValues? {
        guard configuration.can.enabled, let at = can.receivedAt, now - at <= configuration.can.stale else { return nil }
        return can.values
    }

    /// The two CAN safety uses. Judged against the relays as last commanded (`outputs`), so a
    /// relay that opens in this step is judged from the next, when it is really open.
    private mutating func updateCAN(now: Instant) {
        let rules = configuration.can
        let values = freshCAN(now: now)

        // currentWhileOpen: into the pack through an open charge path, or out through an open
        // discharge relay, for longer than openCurrentMs.
        var flowing: (direction: CurrentWhileOpen.Direction, amperes: Double)?
        if rules.currentWhileOpen, let current = values?.packCurrentA {
            let chargePathOpen = !outputs[.chargeRelay].isActive
                && !(configuration.outputs.contains(.shoreChargerRelay) && outputs[.shoreChargerRelay].isActive)
            if chargePathOpen && -current > rules.openCurrentA {
                flowing = (.intoPack, -current)
            } else if !outputs[.dischargeRelay].isActive && current > rules.openCurrentA {
                flowing = (.outOfPack, current)
            }
        }
        if let flowing, !can.currentLatched {
            let since = can.currentSince ?? now
            can.currentSince = since
            if now - since >= rules.openCurrent {
                can.currentLatched = true
                can.current = CurrentWhileOpen(direction: flowing.direction, amperes: flowing.amperes, duration: now - since,
                                               thresholdAmperes: rules.openCurrentA, thresholdMs: rules.openCurrentMs)
            }
        } else if flowing == nil {
            can.currentSince = nil
        }

        // bmsDisagrees: the BMS's relay bit against the wired enable, both known, for disagreeMs.
        for contactor in Contactor.allCases {
            let index = contactor.index
            guard rules.bmsDisagrees, let bit = values?.relayBit(contactor), let wire = inputs[contactor.enable].level,
                  bit != wire.isActive else {
                can.disagreeSince[index] = nil
                can.disagreeing[index] = false
                continue
            }
            let since = can.disagreeSince[index] ?? now
            can.disagreeSince[index] = since
            if now - since >= rules.disagree {
                can.disagreeing[index] = true
                can.disagreement[index] = Disagreement(contactor: contactor, bmsRelayOn: bit, enableAsserted: wire.isActive,
                                                        duration: now - since, thresholdMs: rules.disagreeMs)
            }
        }
    }

    // MARK: - SOC rules

    private mutating func updateSoc(now: Instant, events: inout [PolicyEvent]) {
        let rules = configuration.soc
        guard rules.enabled, let soc = socState.validValue(now: now, staleAfter: .milliseconds(rules.socStaleMs)) else { return }
        if !socState.dischargeCutoff && soc <= rules.dischargeCutoffSoc {
            socState.dischargeCutoff = true
            events.append(PolicyEvent(time: now, kind: .socRule(.dischargeCutoff),
                                      reason: .socRule(.dischargeCutoff, socPercent: soc, thresholdPercent: rules.dischargeCutoffSoc)))
        } else if socState.dischargeCutoff && soc >= rules.dischargeCutoffSoc + rules.socHysteresis {
            socState.dischargeCutoff = false
            events.append(PolicyEvent(time: now, kind: .socRule(.dischargeResume),
                                      reason: .socRule(.dischargeResume, socPercent: soc, thresholdPercent: rules.dischargeCutoffSoc + rules.socHysteresis)))
        }
        if !socState.chargeStop && soc >= rules.chargeStopSoc {
            socState.chargeStop = true
            events.append(PolicyEvent(time: now, kind: .socRule(.chargeStop),
                                      reason: .socRule(.chargeStop, socPercent: soc, thresholdPercent: rules.chargeStopSoc)))
        } else if socState.chargeStop && soc <= rules.chargeStopSoc - rules.socHysteresis {
            socState.chargeStop = false
            events.append(PolicyEvent(time: now, kind: .socRule(.chargeResume),
                                      reason: .socRule(.chargeResume, socPercent: soc, thresholdPercent: rules.chargeStopSoc - rules.socHysteresis)))
        }
    }

    private func socBlocker(for contactor: Contactor, now: Instant) -> SocBlock? {
        let rules = configuration.soc
        guard rules.enabled else { return nil }
        if socState.isValid(now: now, staleAfter: .milliseconds(rules.socStaleMs)) {
            switch contactor {
            case .discharge where socState.dischargeCutoff: return .cutoff
            case .charge where socState.chargeStop: return .chargeStop
            default: return nil
            }
        }
        switch (rules.onSocFault, contactor) {
        case (.ignore, _), (.openDischarge, .charge): return nil
        case (.openDischarge, .discharge), (.openAll, _): return .invalid
        }
    }

    // MARK: - Balancing mode and charger

    private mutating func updateBalanceSwitch(now: Instant, events: inout [PolicyEvent]) {
        guard configuration.inputs.contains(.balanceSwitch), let raw = inputs[.balanceSwitch].level else { return }
        let stableFor = now - inputs[.balanceSwitch].levelSince
        guard stableFor >= timing.switchDebounce, raw != balance.debounced else { return }
        balance.debounced = raw
        // A new switch cycle: the timer starts when balancing first turns on in this cycle.
        balance.startedAt = nil
        balance.expired = false
    }

    private mutating func decideBalancing(now: Instant, next: inout OutputLevels, events: inout [PolicyEvent]) {
        var reason: Reason?
        if balance.debounced.isActive {
            if let startedAt = balance.startedAt, !balance.expired, now - startedAt >= timing.balanceMax {
                balance.expired = true
            }
            if balance.expired {
                reason = .balancingExpired(after: timing.balanceMax)
            } else if phase == .starting {
                reason = .controllerStarting
            } else if forceOff {
                reason = .operatorForceOff
            } else if let fault = allRelaysFault {
                reason = .fault(faultDetail(fault, now: now))
            }
        } else {
            reason = .balanceSwitchOff
        }
        let wanted = reason == nil
        if wanted && balance.startedAt == nil { balance.startedAt = now }
        if wanted != balance.active {
            balance.active = wanted
            events.append(PolicyEvent(
                time: now, kind: .balancing(wanted),
                reason: wanted ? .balancingOn(endsAfter: timing.balanceMax) : .balancingOff(reason ?? .balanceSwitchOff)))
        }
        let reasonText = reason ?? .balancingModeOn
        setRelay(.balancePowerRelay, to: Level(wanted), next: &next, now: now, events: &events,
                 reason: reasonText)

        // Shore charger: only while balancing, the BMS's Charger Safety is qualified and the
        // charge contactor is closed.
        var chargerReason = Reason.balancingModeOff
        var chargerWanted = false
        let safety = inputs[.chargerSafety]
        if !balance.active {
            chargerReason = .balancingModeOff
        } else if !configuration.inputs.contains(.chargerSafety) || safety.level != .active {
            chargerReason = .chargerSafetyReleased
        } else if now - safety.levelSince < timing.qualify {
            chargerReason = .chargerSafetyNotQualified(timing.qualify)
        } else if !next[.chargeRelay].isActive {
            chargerReason = .chargeRelayOpen
        } else {
            chargerWanted = true
            chargerReason = .shoreChargingAllowed(qualifiedFor: timing.qualify)
        }
        setRelay(.shoreChargerRelay, to: Level(chargerWanted), next: &next, now: now, events: &events,
                 reason: chargerReason)
    }

    private func setRelay(_ signal: OutputSignal, to level: Level, next: inout OutputLevels, now: Instant,
                          events: inout [PolicyEvent], reason: Reason) {
        guard configuration.outputs.contains(signal), next[signal] != level else { return }
        next[signal] = level
        events.append(PolicyEvent(time: now, kind: .outputChanged(signal, level),
                                  reason: level.isActive ? .closed(signal, because: reason) : .opened(signal, because: reason)))
    }

    // MARK: - Indicators

    static let slowBlinkHalfPeriod = Interval.milliseconds(500)
    static let fastBlinkHalfPeriod = Interval.milliseconds(125)

    private var ledBlinkHalfPeriod: Interval? {
        if !activeFaults.isEmpty || forceOff { return Self.fastBlinkHalfPeriod }
        if balance.active { return Self.slowBlinkHalfPeriod }
        return nil
    }

    private mutating func decideIndicators(now: Instant, next: inout OutputLevels) {
        if let half = ledBlinkHalfPeriod {
            next[.statusLed] = Level((now.nanoseconds / half.nanoseconds) % 2 == 0)
        } else {
            next[.statusLed] = .active
        }
        if isHealthy {
            heartbeat = heartbeat.isActive ? .inactive : .active
        }
        next[.heartbeat] = heartbeat
    }

    // MARK: - Commands

    private mutating func apply(_ command: OperatorCommand, now: Instant, events: inout [PolicyEvent]) {
        switch command {
        case .forceOff(let on):
            forceOff = on
            events.append(PolicyEvent(time: now, kind: .commandAccepted(command),
                                      reason: on ? .forceOffHeld : .forceOffReleased))
        case .reset:
            let stillClosed = Contactor.allCases.filter {
                relays[$0.index].latches.contains(.welded) && inputs[$0.feedback].level != .inactive
            }
            if !stillClosed.isEmpty {
                events.append(PolicyEvent(time: now, kind: .commandRefused(command),
                                          reason: .resetRefused(stillClosed: stillClosed)))
                return
            }
            let latched = activeFaults.filter(\.isLatched)
            for index in relays.indices {
                relays[index].latches.removeAll()
                relays[index].openings.removeAll()
                relays[index].feedbackMismatchSince = nil
            }
            precharge.failed = false
            precharge.failure = nil
            can.currentLatched = false
            can.current = nil
            can.currentSince = nil
            precharge.attempts.removeAll()
            events.append(PolicyEvent(time: now, kind: .commandAccepted(command), reason: .resetCleared(latched)))
        }
    }

    // MARK: - Deadlines

    private func nextDeadline(now: Instant) -> Instant? {
        var earliest: Instant?
        func consider(_ t: Instant?) {
            guard let t, t > now else { return }
            if earliest.map({ t < $0 }) ?? true { earliest = t }
        }
        if phase == .starting, let startedAt { consider(startedAt + timing.startupHold) }
        for contactor in Contactor.allCases {
            let relay = relays[contactor.index]
            if !outputs[contactor.relay].isActive, let eligible = relay.eligibleSince {
                consider(eligible + timing.qualify)
                if let opened = relay.openedAt { consider(opened + timing.minOff) }
            }
            if let since = relay.feedbackMismatchSince { consider(since + timing.feedbackTimeout) }
        }
        for signal in configuration.inputs {
            if let good = inputs[signal].lastGoodRead { consider(good + timing.inputStale + .milliseconds(1)) }
        }
        if configuration.inputs.contains(.balanceSwitch) {
            consider(inputs[.balanceSwitch].levelSince + timing.switchDebounce)
            if let startedAt = balance.startedAt, !balance.expired { consider(startedAt + timing.balanceMax) }
        }
        if balance.active { consider(inputs[.chargerSafety].levelSince + timing.qualify) }
        if configuration.soc.enabled, let at = socState.lastValidAt {
            consider(at + .milliseconds(configuration.soc.socStaleMs) + .milliseconds(1))
        }
        if configuration.can.enabled {
            let rules = configuration.can
            if let at = can.receivedAt { consider(at + rules.stale + .milliseconds(1)) }
            if let since = can.currentSince { consider(since + rules.openCurrent) }
            for since in can.disagreeSince { if let since { consider(since + rules.disagree) } }
        }
        switch precharge.phase {
        case .idle: break
        case .charging(let since):
            consider(since + configuration.precharge.timeout)
            switch configuration.precharge.completion {
            case .timer(let milliseconds): consider(since + .milliseconds(milliseconds))
            case .busVoltage: consider(now + .milliseconds(configuration.precharge.sampleIntervalMs))
            }
        case .overlap(_, let until): consider(until)
        }
        if configuration.outputs.contains(.statusLed), let half = ledBlinkHalfPeriod {
            consider(Instant(nanoseconds: (now.nanoseconds / half.nanoseconds + 1) * half.nanoseconds))
        }
        return earliest
    }
}

// MARK: - Trackers

private struct InputTracker: Sendable {
    var level: Level?
    var levelSince = Instant.zero
    var lastGoodRead: Instant?
    var readError: String?
    var everRead: Bool { lastGoodRead != nil }

    mutating func observe(_ new: Level, at now: Instant) {
        if new != level {
            level = new
            levelSince = now
        }
        lastGoodRead = now
        readError = nil
    }
}

/// A per-relay latch: the relay stays open (welded: every relay) until `reset`.
private enum RelayLatch: CaseIterable, Sendable, Hashable {
    case chatter
    case welded
    case failedToClose

    var bit: UInt8 {
        switch self {
        case .chatter: 1
        case .welded: 2
        case .failedToClose: 4
        }
    }

    func fault(_ contactor: Contactor) -> Fault {
        switch self {
        case .chatter: .chatter(contactor)
        case .welded: .welded(contactor)
        case .failedToClose: .failedToClose(contactor)
        }
    }
}

/// A set of latches as bits (asked at every step: no hashing).
private struct RelayLatches: Sendable {
    private var bits: UInt8 = 0

    var isEmpty: Bool { bits == 0 }
    func contains(_ latch: RelayLatch) -> Bool { bits & latch.bit != 0 }
    mutating func insert(_ latch: RelayLatch) { bits |= latch.bit }
    mutating func removeAll() { bits = 0 }
}

private struct RelayTracker: Sendable {
    var eligibleSince: Instant?
    var openedAt: Instant?
    var openings: [Instant] = []
    /// What latched this relay open until a reset. A set: a contactor can fail to close and later
    /// weld, and each latch is its own fault.
    var latches = RelayLatches()
    var feedbackMismatchSince: Instant?
    var pendingReason: Reason?
}

private struct PrechargeTracker: Sendable {
    enum Phase: Sendable, Equatable {
        case idle
        /// The precharge relay is closed, the discharge relay open.
        case charging(since: Instant)
        /// Both closed until `until`.
        case overlap(since: Instant, until: Instant)
    }

    var phase = Phase.idle
    /// When each sequence of the attempt window started.
    var attempts: [Instant] = []
    var failed = false
    var failure: PrechargeFailure?
    var bus: VoltageSample?
    var pack: VoltageSample?
    /// Why the precharge relay changes in this step, for its event.
    var pendingReason: Reason?

    var busVolts: Double? { if case .volts(let v)? = bus { v } else { nil } }
    var packVolts: Double? { if case .volts(let v)? = pack { v } else { nil } }
    var busProblem: String { if case .invalid(let why)? = bus { why } else { "no reading yet" } }
    var packProblem: String { if case .invalid(let why)? = pack { why } else { "no reading yet" } }

    mutating func end(reason: Reason) {
        phase = .idle
        pendingReason = reason
    }

    mutating func fail(_ why: PrechargeFailure) {
        failed = true
        failure = why
        end(reason: .prechargeFailed(why))
    }
}

private struct CANTracker: Sendable {
    var values: CANPackValues?
    var receivedAt: Instant?
    var currentSince: Instant?
    var currentLatched = false
    var current: CurrentWhileOpen?
    var disagreeSince: [Instant?] = [nil, nil]  // indexed by Contactor.index
    var disagreeing = [false, false]
    var disagreement: [Disagreement?] = [nil, nil]
}

private struct BalanceTracker: Sendable {
    var debounced = Level.inactive
    /// When balancing mode first turned on in the current switch cycle (faults do not restart it).
    var startedAt: Instant?
    var expired = false
    var active = false
}

private struct SocState: Sendable {
    var lastValid: Double?
    var lastValidAt: Instant?
    var lastProblem: SocProblem? = .noReadingYet
    var dischargeCutoff = false
    var chargeStop = false

    mutating func absorb(_ sample: SocSample, at now: Instant) {
        switch sample {
        case .percent(let value) where SocRules.plausibleRange.contains(value):
            lastValid = value
            lastValidAt = now
            lastProblem = nil
        case .percent(let value):
            lastValid = nil
            lastValidAt = nil
            lastProblem = .implausible(percent: value)
        case .invalid(let why):
            lastValid = nil
            lastValidAt = nil
            lastProblem = .invalid(why)
        }
    }

    mutating func invalidate(_ problem: SocProblem) {
        lastValid = nil
        lastValidAt = nil
        lastProblem = problem
    }

    func validValue(now: Instant, staleAfter: Interval) -> Double? {
        guard let lastValid, let lastValidAt, now - lastValidAt <= staleAfter else { return nil }
        return lastValid
    }

    func isValid(now: Instant, staleAfter: Interval) -> Bool { validValue(now: now, staleAfter: staleAfter) != nil }

    func problem(now: Instant?) -> SocProblem {
        if let lastProblem { return lastProblem }
        if let lastValidAt, let now { return .stale(age: now - lastValidAt) }
        return .stale(age: nil)
    }
}

extension Interval {
    static let zero = Interval(nanoseconds: 0)
}

extension Contactor {
    var index: Int { self == .charge ? 0 : 1 }

    init?(relay: OutputSignal) {
        switch relay {
        case .chargeRelay: self = .charge
        case .dischargeRelay: self = .discharge
        default: return nil
        }
    }
}
