import Logging
import PackGuardADC
import PackGuardCAN
import PackGuardConfig
import PackGuardCore
import PackGuardWords
import PackGuardGPIO
import Glibc
import Synchronization

/// A reload could not take the new configuration's lines; the running configuration stays.
public struct ControllerReloadError: Error, CustomStringConvertible {
    public var description: String
}

/// The controller could not keep its outputs safe and must exit so that systemd and the
/// hardware watchdog take over.
public struct ControllerFatalError: Error, CustomStringConvertible {
    public var description: String
}

/// The analog side the controller samples: the ADS1115 sampler and the clock its time is in.
public struct AnalogInputs: Sendable {
    public var sampler: AnalogSampler
    public init(sampler: AnalogSampler) { self.sampler = sampler }
}

/// The thin shell around the pure policy: reads inputs, steps the policy, applies only the
/// outputs that changed (with read-back), logs every relay change with its reason, pets the
/// watchdogs only after healthy steps and publishes status.
///
/// `step(now:)` is the whole of one iteration and is what tests and the bench call on a virtual
/// clock; `ControlLoop` calls it from the control thread around poll(2).
public final class Controller: @unchecked Sendable {
    // @unchecked: everything but `lines` (thread-safe), `health` (a mutex) and the `let`s is
    // confined to the control thread (or to the caller of step() in tests and the bench); the
    // watchdog monitor only touches `lines`, `health`, `clock` and `logger`. A reload changes
    // `configuration` and `policy` on the control thread and the monitor's deadline through
    // `health`, so the monitor never reads what a reload replaces.

    /// The configuration in force; replaced only by `reload`, on the control thread.
    public private(set) var configuration: PackGuardConfiguration
    public let lines: SignalLines
    public let events: EventLog
    let logger: Logger
    let clock: any DaemonClock
    let notifier: (any ServiceNotifier)?
    let watchdog: (any WatchdogDevice)?
    let forceOffStore: ForceOffStore?
    let backendDescription: String

    private var policy: SafetyPolicy
    public private(set) var analog: AnalogInputs?
    private var pendingCommands: [OperatorCommand] = []
    private var pendingOutputFailure: String?
    /// What a `deferClosing` step decided to close, and the reflex's releases it had seen.
    private var pendingClose: (levels: OutputLevels, reflexMark: Int)?
    private(set) var startedAt: Instant?
    private var sentReady = false
    private var loggedReady = false
    private var lastSystemdPet: Instant?
    /// A failing pet or notification is logged when it starts failing and when it works again,
    /// not at every step: a dead device must not flood the journal at the step rate.
    private var hardwarePetFailing = false
    /// Pets that went through, for status (and so telemetry's metrics).
    private var systemdPets = 0
    private var hardwarePets = 0
    private var notifyFailing = false
    private var lastHardwarePet: Instant?
    public private(set) var stepCount = 0
    private var lastResult: StepResult?
    /// The policy's results for this wake's edge events; kept to reuse its storage.
    private var edgeResults: [StepResult] = []
    private var lastReadings = PerInput<InputReading?>(repeating: nil)
    /// When every line's edges and every input's level were last read: the reconciling read, due
    /// every `loop.reconcileMs` (see `step`).
    private var lastFullRead: Instant?
    /// The type of the last edge event per input, to see a release the kernel did not report.
    private var lastEdge = PerInput<EdgeEvent.Edge?>(repeating: nil)

    /// A rising edge right after a rising one: the kernel merged or lost the falling edge of a
    /// short pulse between them (or its buffer overflowed), so the enable was released in between.
    /// The release table's write and the policy's steps both go by this.
    static func isMergedRelease(_ edge: EdgeEvent.Edge, after previous: EdgeEvent.Edge?) -> Bool {
        edge == .rising && previous == .rising
    }
    public private(set) var edgeReadsFailing = false
    /// Set once outputs could not be driven off: the loop must exit, whoever called step().
    public private(set) var fatalFailure: ControllerFatalError?
    /// How late steps finish (shown in status); control thread only.
    public let stepLatency = StepLatencyHistogram()
    /// The off-reaction as the daemon sees it: from the kernel's timestamp of a release edge
    /// (CLOCK_MONOTONIC, like `clock`) to the end of the write that opened its relay, by the off
    /// reflex thread or the control loop's fast path (shown in status and logged at stop);
    /// control thread only.
    public let offReaction = StepLatencyHistogram()
    /// The BMS's CAN messages as decoded so far, while `can.enabled`; control thread only.
    public private(set) var canBus: CANBus?
    /// The CAN reader's last failure, for status (nil while it reads).
    public var canReadError: String?
    private var lastDtc: Bool?

    /// The off reflex while the control loop runs (it starts and stops it); nil in tests and the
    /// bench that call `step` themselves. Control thread only.
    var reflex: OffReflex?

    /// Shared with the watchdog monitor thread.
    let health: Mutex<Health>
    private var lastPublished: (result: StepResult, now: Instant)?
    private var lastStatusKey: StatusKey?

    struct Health {
        /// When the control loop must next complete a step; the monitor forces off after it.
        var deadline: Instant?
        var tripped = false
        var trips = 0
        /// The configured deadline, here so that the monitor never reads `configuration`.
        var loopDeadlineMs: Int
    }

    public init(configuration: PackGuardConfiguration, lines: SignalLines, backendDescription: String,
                clock: any DaemonClock, logger: Logger, analog: AnalogInputs? = nil,
                notifier: (any ServiceNotifier)? = nil, watchdog: (any WatchdogDevice)? = nil,
                forceOffStore: ForceOffStore? = nil, events: EventLog = EventLog()) {
        self.configuration = configuration
        self.lines = lines
        self.backendDescription = backendDescription
        self.clock = clock
        self.logger = logger
        self.analog = analog
        self.notifier = notifier
        self.watchdog = watchdog
        self.forceOffStore = forceOffStore
        self.events = events
        self.policy = SafetyPolicy(configuration: configuration.policy)
        self.health = Mutex(Health(loopDeadlineMs: configuration.loop.loopDeadlineMs))
        if configuration.can.rules.enabled { canBus = CANBus(messages: configuration.can.messages) }
    }

    // MARK: - CAN

    /// The one way frames come in, from the SocketCAN endpoint or a simulated bus: decoded
    /// now, judged at the next step.
    @discardableResult
    public func receiveCAN(_ frame: CANFrame, at now: Instant) -> CANDecodeOutcome? {
        canBus?.receive(frame, at: now)
    }

    // MARK: - Reload

    /// A configuration reload, on the control thread. The policy keeps its state (force-off,
    /// latches and their history, balancing, SOC hysteresis, active faults, the start-up
    /// phase); lines whose wiring is unchanged stay held, so closed relays stay closed; a moved
    /// line is requested before its old one is released, and only its relay re-qualifies.
    /// `analog` is the sampler for the new file's ADC settings, opened by the caller beforehand.
    /// Throws when a new line cannot be requested: then nothing has changed.
    /// Never sends STOPPING=1, never disarms the hardware watchdog, never restarts the policy.
    public func reload(to newConfiguration: PackGuardConfiguration, analog newAnalog: AnalogInputs?,
                       backend: any GPIOBackend) throws(ControllerReloadError) {
        let relocation: Relocation
        do {
            let moved = try lines.reconfigure(to: newConfiguration, backend: backend)
            relocation = moved.relocation
            for failure in moved.notDrivenOff {
                logger.critical("reload: the old line could not be driven off before its release (its pull-down must hold the relay off): \(failure)")
            }
        } catch {
            throw ControllerReloadError(description: "\(error)")
        }
        let oldCAN = configuration.can
        configuration = newConfiguration
        analog = newAnalog
        if !newConfiguration.can.rules.enabled {
            canBus = nil
        } else if canBus == nil || oldCAN.messages != newConfiguration.can.messages {
            // A new table decodes afresh: its values are stale until its frames arrive.
            canBus = CANBus(messages: newConfiguration.can.messages)
        }
        if oldCAN.interface != newConfiguration.can.interface || oldCAN.rules.enabled != newConfiguration.can.rules.enabled
            || Set(oldCAN.messages.map(\.id)) != Set(newConfiguration.can.messages.map(\.id)) {
            logger.warning("reload: the CAN interface, its use or its identifiers changed: restart packguard to reopen the CAN socket with them")
        }
        for signal in relocation.inputs { lastEdge[signal] = nil }  // a new line's edges start afresh
        lastFullRead = nil  // the next step reads every line of the configuration in force, whoever calls it
        // The reflex watches the lines in force now (a moved or added enable has a new descriptor).
        if let reflex, !reflex.arm() {
            logger.warning("reload: the off reflex cannot watch every enable line; the control loop still reacts to each")
        }
        health.withLock { $0.loopDeadlineMs = newConfiguration.loop.loopDeadlineMs }
        let now = clock.now()
        record(policy.reconfigure(to: newConfiguration.policy, relocated: relocation, now: now))
    }

    // MARK: - One iteration

    /// Reads everything, steps the policy and applies the outputs. Throws only when outputs can
    /// no longer be driven off: the caller must then exit non-zero.
    ///
    /// The off fast path: the edge events are read and stepped first, and every relay the policy
    /// opened on them is written at once (`SignalLines.openRelaysAtOnce`). Only then come
    /// `handOff` (the control loop re-arms its deadline monitor there), the log of those steps,
    /// the reconciling read of every input, ADC sampling, the full step, the outputs with their
    /// read-back and the status. The policy decides every level; this only orders the I/O.
    /// `readableEdges`: the event descriptors the loop's wait reported ready for this wake (or the
    /// off reflex handed on), or nil (a command, a reload, a test). With a list, only those lines'
    /// edges and levels are read, unless the reconciling read is due: every line's edges and every
    /// input's level are read at least every `loop.reconcileMs`, whenever the policy's own
    /// deadline has come (a qualification, a minimum off time: a relay closes only on levels just
    /// read), when commands are waiting, and while edge reads fail; a wake whose edges cannot be read
    /// reads every input's level in the same step. The wait is level-triggered and
    /// the reflex hands on every edge it watches, so a line left out had nothing to read; the
    /// reconciling read is what catches a lost edge or a line whose descriptor never wakes the wait.
    @discardableResult
    /// `deferClosing`: the relays this step closes are written by `closePendingRelays`, which the
    /// control loop calls right before it sleeps, so that no work of the step comes after a closing
    /// write (a release that follows the close at once then finds every thread asleep).
    public func step(now: Instant, readableEdges: [Int32]? = nil, handOff: () -> Void = {},
                     deferClosing: Bool = false) throws(ControllerFatalError) -> StepResult {
        pendingClose = nil  // a newer decision replaces one not yet written
        if startedAt == nil { startedAt = now }
        health.withLock { $0.deadline = now + .milliseconds($0.loopDeadlineMs) }
        let missedDeadline = health.withLock { health -> Bool in
            defer { health.tripped = false }
            return health.tripped
        }

        // Edges first. What a release always opens (the policy's own table,
        // `SafetyPolicy.relaysOpened(byReleaseOf:)`, the same the off reflex thread uses) is
        // written before anything else, the policy's steps included. Then one policy step per edge in kernel order, so that a short release
        // that is over by the time we read the level still opens its relay, and whatever else
        // those steps opened is written too.
        edgeResults.removeAll(keepingCapacity: true)
        // What the off reflex saw released comes first: it may already have opened those relays.
        var reflexMark = lines.reflexReleases
        var reflexOpenedAt = PerInput<Instant?>(repeating: nil)
        for (signal, openedAt) in reflex?.takeReleases() ?? [] {
            reflexOpenedAt[signal] = openedAt
            edgeResults.append(policy.step(.released(signal), now: now))
        }
        var edgeReadError: GPIOError?
        var fastPathFailure: GPIOError?  // handled with the step's outputs, as their own failure
        var firstRelease: Int64?  // the kernel's timestamp of this wake's first release
        var reflexOpened = 0
        let reconciling = readableEdges == nil || isReconcileDue(now: now)
        var edged = InputSignals()  // the lines that had edges: read again below
        do throws(GPIOError) {
            let edges = try lines.readEdgeEvents(readable: reconciling ? nil : readableEdges)
            for (signal, _) in edges { edged.insert(signal) }
            var releaseOpens = OutputLevels(repeating: .active)
            var previous = lastEdge
            for (signal, event) in edges {
                // A falling edge, or a merged release: either way the enable was released.
                if event.edge == .falling || Self.isMergedRelease(event.edge, after: previous[signal]) {
                    for relay in SafetyPolicy.relaysOpened(byReleaseOf: signal) { releaseOpens[relay] = .inactive }
                    let edge = Int64(clamping: event.timestampNanoseconds)
                    if let opened = reflexOpenedAt[signal], opened.nanoseconds >= edge {
                        // The reflex thread opened its relays already: that was the reaction.
                        offReaction.record(microseconds: (opened.nanoseconds - edge) / 1000)
                        reflexOpenedAt[signal] = nil
                    } else if firstRelease == nil {
                        firstRelease = edge
                    }
                }
                previous[signal] = event.edge
            }
            if firstRelease != nil {
                do throws(GPIOError) {
                    reflexOpened = try lines.openRelaysAtOnce(releaseOpens)
                } catch {
                    fastPathFailure = error
                }
                if reflexOpened > 0, let edge = firstRelease {
                    offReaction.record(microseconds: (clock.now().nanoseconds - edge) / 1000)
                }
            }
            for (signal, event) in edges {
                // A merged release (the fast path above opened on it): the policy must see it too, or a relay
                // could stay closed through it.
                if Self.isMergedRelease(event.edge, after: lastEdge[signal]) {
                    edgeResults.append(policy.step(.released(signal), now: now))
                }
                lastEdge[signal] = event.edge
                var input = StepInput()
                input.readings[signal] = .level(event.edge == .rising ? .active : .inactive)
                edgeResults.append(policy.step(input, now: now))
            }
        } catch {
            edgeReadError = error
        }
        if let latest = edgeResults.last {
            do throws(GPIOError) {
                let opened = try lines.openRelaysAtOnce(latest.outputs)
                if opened > 0, reflexOpened == 0, let edge = firstRelease {
                    offReaction.record(microseconds: (clock.now().nanoseconds - edge) / 1000)
                }
            } catch {
                if fastPathFailure == nil { fastPathFailure = error }
            }
        }
        handOff()
        for result in edgeResults { record(result) }
        if let edgeReadError {
            // The levels are still read below; the loop stops polling the event fds (they would
            // stay readable and spin it) and steps on its timer until edges read again.
            if !edgeReadsFailing { logger.error("reading edge events failed: \(edgeReadError); stepping on the timer only") }
            edgeReadsFailing = true
        } else if edgeReadsFailing {
            edgeReadsFailing = false
            logger.notice("edge events readable again")
        }

        // After a failed edge read, every level: the edges of this wake are not known.
        let readsEveryLevel = reconciling || edgeReadError != nil
        var input = StepInput(readings: lines.readInputs(only: readsEveryLevel ? nil : edged))
        if reconciling { lastFullRead = now }
        for signal in configuration.policy.inputs where input.readings[signal] != nil { lastReadings[signal] = input.readings[signal] }
        if var analog {
            let time = UInt64(max(0, now.nanoseconds))
            if analog.sampler.isSampleDue(now: time) {
                analog.sampler.sample(now: time)
            } else if policy.isPrecharging {
                // A sensed precharge follows the bus at every step, between the regular samples.
                analog.sampler.sample(now: time, only: Self.prechargeSignals)
            }
            switch analog.sampler.reading(of: .soc, now: time) {
            case .valid(let value, _, _): input.soc = .percent(min(100, max(0, value)))
            case .invalid(let reason): input.soc = .invalid(reason)
            }
            if configuration.policy.precharge.enabled {
                input.busVoltage = voltage(.busVoltage, analog: analog, now: time)
                input.packVoltage = voltage(.packVoltage, analog: analog, now: time)
            }
            self.analog = analog
        }
        if let canBus {
            let values = canBus.packValues(now: now, staleAfter: .milliseconds(configuration.can.rules.staleMs))
            input.can = values
            noteDtc(values.dtc)
        }
        input.outputFailure = pendingOutputFailure
        input.loopDeadlineMissed = missedDeadline
        input.commands = pendingCommands
        pendingCommands.removeAll()

        var result = policy.step(input, now: now)
        record(result)

        pendingOutputFailure = nil
        var outputError = fastPathFailure
        do throws(GPIOError) {
            // If the monitor forced the relays off while this step ran, or the off reflex found a
            // release (whether or not it had anything to open), the policy must hear of it before
            // anything is applied: never close on a decision that did not know of it.
            while try !lines.setOutputs(result.outputs, unless: {
                health.withLock { $0.tripped } || lines.reflexReleases != reflexMark
            }, closingRelays: !deferClosing) {
                if health.withLock({ $0.tripped }) {
                    health.withLock { $0.tripped = false }
                    var missed = StepInput()
                    missed.loopDeadlineMissed = true
                    result = policy.step(missed, now: now)
                    record(result)
                }
                if lines.reflexReleases != reflexMark {
                    reflexMark = lines.reflexReleases
                    for (signal, _) in reflex?.takeReleases() ?? [] {
                        result = policy.step(.released(signal), now: now)
                        record(result)
                    }
                }
            }
            if deferClosing { pendingClose = (result.outputs, reflexMark) }
        } catch {
            outputError = error
        }
        // A failed write, in the fast path or here, is an output failure even when the retry
        // worked: every relay opens and the policy faults.
        if let error = outputError {
            if let fatal = openEveryRelay(after: error) { throw fatal }
            // Let the policy agree with the hardware right away: every relay open, faulted.
            var failed = StepInput()
            failed.outputFailure = error.description
            result = policy.step(failed, now: now)
            record(result)
        }

        stepCount += 1
        lastResult = result
        if result.healthy { petWatchdogs(now: now) }
        publish(result, now: now)
        stepLatency.record(started: now, finished: clock.now())
        return result
    }

    /// Whether this step must read every line (see `step`'s `readableEdges`).
    private func isReconcileDue(now: Instant) -> Bool {
        guard let lastFullRead, let lastResult else { return true }
        if now - lastFullRead >= .milliseconds(configuration.loop.reconcileMs) { return true }
        if let deadline = lastResult.nextDeadline, deadline <= now { return true }
        return !pendingCommands.isEmpty || edgeReadsFailing
    }

    /// The closing writes the last `deferClosing` step left, if any: vetoed, like the step's own
    /// writes, when the watchdog monitor tripped or the off reflex found a release since the step
    /// decided. A failed write opens every relay, as in a step. Returns true when the loop must step
    /// at once: after a veto, so that the policy decides again on what it did not know (as a step
    /// does after a veto of its own writes), and after a failure, so that it faults. Control thread only.
    public func closePendingRelays() -> Bool {
        guard let pending = pendingClose else { return false }
        pendingClose = nil
        do throws(GPIOError) {
            let written = try lines.closeRelays(pending.levels, unless: {
                health.withLock { $0.tripped } || lines.reflexReleases != pending.reflexMark
            })
            return !written
        } catch {
            _ = openEveryRelay(after: error)  // fatal: remembered, and the loop exits on it
            return true
        }
    }

    /// A failed output write: every relay is driven off and the next step's policy hears of it
    /// (`pendingOutputFailure`). When even that fails, the fatal error is remembered (the loop exits
    /// on it, also after a step run for a control-socket command) and returned.
    private func openEveryRelay(after error: GPIOError) -> ControllerFatalError? {
        logger.critical("applying outputs failed: \(error); opening every relay")
        pendingOutputFailure = error.description
        let failures = lines.forceAllOff()
        guard !failures.isEmpty else { return nil }
        let text = failures.map(\.description).joined(separator: "; ")
        logger.critical("cannot drive the outputs off: \(text); exiting so that systemd and the hardware watchdog take over")
        let fatal = ControllerFatalError(description: "outputs cannot be driven off: \(text)")
        fatalFailure = fatal
        return fatal
    }

    /// A DTC set or cleared is an event; unknown (stale) is neither.
    private func noteDtc(_ dtc: Bool?) {
        guard let dtc, dtc != lastDtc else { return }
        defer { lastDtc = dtc }
        guard lastDtc != nil || dtc else { return }  // "no DTC" at start is no news
        let uptime = (startedAt.map { clock.now() - $0 } ?? Interval(nanoseconds: 0)).milliseconds
        let reason = dtc ? "BMS reports a DTC over CAN (malfunction indicator on): read the code in the Orion utility"
                         : "BMS DTC cleared (malfunction indicator off)"
        events.append(kind: dtc ? "can.dtc.set" : "can.dtc.cleared", reason: reason, uptimeMs: uptime)
        if dtc { logger.warning("\(reason)") } else { logger.notice("\(reason)") }
    }

    private static let prechargeSignals: Set<AnalogSignal> = [.busVoltage, .packVoltage]

    /// A precharge voltage, or nil when no input carries it.
    private func voltage(_ signal: AnalogSignal, analog: AnalogInputs, now: UInt64) -> VoltageSample? {
        guard analog.sampler.configuration.channel(for: signal) != nil else { return nil }
        switch analog.sampler.reading(of: signal, now: now) {
        case .valid(let value, _, _): return .volts(value)
        case .invalid(let reason): return .invalid(reason)
        }
    }

    /// Queues an operator command for the next step; force-off is persisted first, and the
    /// persist failure is returned. A hold is queued regardless (the safe side); a release that
    /// cannot be persisted is not queued, so the relays stay held open.
    @discardableResult
    public func submit(_ command: OperatorCommand) -> ForceOffStore.StoreError? {
        if case .forceOff(let on) = command, let forceOffStore {
            do {
                try forceOffStore.save(on)
            } catch {
                logger.error("force-off \(on ? "on applied" : "off refused") but not persisted: \(error)")
                if on { pendingCommands.append(command) }
                return error
            }
        }
        pendingCommands.append(command)
        return nil
    }

    /// Restores the persisted force-off latch; call once before the first step.
    public func restorePersistentState() {
        guard let forceOffStore else { return }
        do {
            if try forceOffStore.load() {
                pendingCommands.append(.forceOff(true))
                logger.warning("force-off is on (persisted in \(forceOffStore.path)): every relay stays open until `packguard force-off off`")
            }
        } catch {
            // Unknown state: hold everything off rather than guess.
            pendingCommands.append(.forceOff(true))
            logger.error("cannot read the force-off state (\(error)); holding every relay off")
        }
    }

    /// The descriptors the loop waits on for edges (none while reading edges fails).
    public var pollableEventDescriptors: [Int32] { edgeReadsFailing ? [] : lines.eventFileDescriptors }

    /// When the loop must step again at the latest.
    public func nextWake(after now: Instant) -> Instant {
        var wake = now + .milliseconds(configuration.loop.reconcileMs)
        // A healthy step toggles the heartbeat: wake for its guaranteed minimum rate, at 90 % of
        // the interval, so that a wake that comes late (timer rounding, scheduling) still keeps it.
        if configuration.outputs[.heartbeat] != nil {
            wake = min(wake, now + .milliseconds(configuration.heartbeat.toggleIntervalMs * 9 / 10))
        }
        if let deadline = lastResult?.nextDeadline, deadline < wake { wake = max(deadline, now) }
        // A message going stale changes what the policy may do: step just after it does.
        if let canBus {
            let stale = Interval.milliseconds(configuration.can.rules.staleMs + 1)
            for seen in canBus.lastSeen { if let seen, seen + stale > now, seen + stale < wake { wake = seen + stale } }
        }
        if let analog, let last = analog.sampler.lastSampleStartedAt {
            let due = Instant(nanoseconds: Int64(last) + Int64(analog.sampler.configuration.samplePeriodMilliseconds) * 1_000_000)
            if due < wake { wake = max(due, now) }
        }
        // The watchdogs are petted only by steps, so a step is due for each pet, however long
        // reconcileMs is: systemd's at half of WATCHDOG_USEC at the latest, the device's at its interval.
        if let interval = notifier?.watchdogIntervalNanoseconds, let last = lastSystemdPet {
            let due = last + Interval(nanoseconds: Int64(interval / 2))
            if due < wake { wake = max(due, now) }
        }
        if watchdog != nil, let last = lastHardwarePet {
            let due = last + .milliseconds(configuration.hardwareWatchdog.petIntervalMs)
            if due < wake { wake = max(due, now) }
        }
        return wake
    }

    /// Sets when the next step is due, so the monitor can tell a stalled loop from an idle one.
    public func expectStep(by instant: Instant) {
        health.withLock { $0.deadline = instant + .milliseconds($0.loopDeadlineMs) }
        stepLatency.expect(instant)
    }

    /// Orderly stop: policy off, every output off, lines released, systemd and watchdog told.
    public func shutdown(reason: String) {
        if let reflex {
            reflex.stop()  // before the lines it reads and writes are released
            logger.notice("off reflex: opened a relay \(reflex.openings) times before the control loop")
        }
        let now = clock.now()
        let result = policy.shutdown(now: now, reason: reason)
        record(result)
        let failures = lines.forceAllOff()
        for failure in failures { logger.critical("could not drive an output off at shutdown: \(failure)") }
        lines.release()
        publish(result, now: now)
        notify(["STOPPING=1", "STATUS=stopped: \(reason)"])
        if let watchdog {
            do {
                try watchdog.disarm()
            } catch {
                logger.error("could not disarm \(watchdog.description): \(error) (it will reset the machine)")
            }
        }
        let reaction = offReaction.report
        if reaction.count > 0 {
            logger.notice("off-reaction (kernel edge to relay written) over \(reaction.count) releases: p50 \(reaction.p50Us) µs, p99 \(reaction.p99Us) µs, max \(reaction.maxUs) µs")
        }
        logger.notice("stopped: \(reason); every relay off, lines released")
    }

    // MARK: - Watchdog monitor side

    /// Called by the monitor thread: if the loop is late, force every relay off now.
    /// Returns true when it tripped.
    @discardableResult
    public func checkDeadline(now: Instant) -> Bool {
        let late = health.withLock { health -> Int? in
            guard let deadline = health.deadline, now > deadline, !health.tripped else { return nil }
            health.tripped = true
            health.trips += 1
            health.deadline = nil
            return health.loopDeadlineMs
        }
        guard let deadlineMs = late else { return false }
        let failures = lines.forceAllOff()
        logger.critical("control loop missed its \(deadlineMs) ms deadline: every relay forced off by the internal watchdog\(failures.isEmpty ? "" : "; failures: \(failures)")")
        return true
    }

    // MARK: - Observation

    public var currentPolicy: SafetyPolicy { policy }

    /// The status as of the last step. Control thread only (it reads the policy).
    public var statusReport: StatusReport? { lastPublished.map { buildReport($0.result, now: $0.now) } }

    // MARK: - Internals

    private func record(_ result: StepResult) { record(result.events) }

    private func record(_ policyEvents: [PolicyEvent]) {
        let uptime = (startedAt.map { clock.now() - $0 } ?? Interval(nanoseconds: 0)).milliseconds
        for event in policyEvents {
            events.append(kind: event.kind.code, reason: event.reason.words, uptimeMs: uptime)
            switch event.kind {
            case .faultRaised: logger.error("\(event.reason.words)")
            case .outputChanged, .faultCleared, .stateChanged, .balancing, .socRule, .commandAccepted, .reconfigured:
                logger.notice("\(event.reason.words)")
            case .commandRefused: logger.warning("\(event.reason.words)")
            }
        }
    }

    private func petWatchdogs(now: Instant) {
        if !sentReady {
            // Sent again at each healthy step until systemd has it: a send never waits, so a full
            // notify socket (EAGAIN) must not leave the start unfinished.
            sentReady = notify(["READY=1", "STATUS=\(policy.state.rawValue): every input read"]) || notifier == nil
            if !loggedReady {
                loggedReady = true
                logger.notice("ready: outputs held off, every input read (\(backendDescription))")
            }
        }
        if let interval = notifier?.watchdogIntervalNanoseconds {
            if lastSystemdPet.map({ now - $0 >= Interval(nanoseconds: Int64(interval / 4)) }) ?? true {
                if notify(["WATCHDOG=1"]) { systemdPets += 1 }
                lastSystemdPet = now
            }
        }
        if let watchdog, lastHardwarePet.map({ now - $0 >= .milliseconds(configuration.hardwareWatchdog.petIntervalMs) }) ?? true {
            do {
                try watchdog.pet()
                lastHardwarePet = now
                hardwarePets += 1
                if hardwarePetFailing {
                    hardwarePetFailing = false
                    logger.notice("petting \(watchdog.description) works again")
                }
            } catch {
                // Retried at every healthy step; if it never works, the device resets the board.
                if !hardwarePetFailing {
                    hardwarePetFailing = true
                    logger.error("petting \(watchdog.description) failed: \(error) (retried at every step; logged again when it works)")
                }
            }
        }
    }

    /// Whether the notification went out.
    @discardableResult
    private func notify(_ fields: [String]) -> Bool {
        guard let notifier else { return false }
        do {
            try notifier.notify(fields)
            if notifyFailing {
                notifyFailing = false
                logger.notice("sd_notify works again")
            }
            return true
        } catch {
            if !notifyFailing {
                notifyFailing = true
                logger.error("sd_notify \(fields.first ?? "") failed: \(error) (logged again when it works)")
            }
            return false
        }
    }

    /// Remembers what the status report is built from (built on request, not every step:
    /// the hot path stays cheap) and tells systemd when the one-line summary changes.
    private func publish(_ result: StepResult, now: Instant) {
        lastPublished = (result, now)
        let key = StatusKey(state: policy.state, charge: result.outputs[.chargeRelay], discharge: result.outputs[.dischargeRelay],
                            balancing: policy.isBalancing, faults: policy.faults)
        if key != lastStatusKey, notifier != nil {
            lastStatusKey = key
            notify(["STATUS=\(buildReport(result, now: now).summary)"])
        }
    }

    private struct StatusKey: Equatable {
        var state: ControllerState
        var charge: Level
        var discharge: Level
        var balancing: Bool
        var faults: [Fault]
    }

    private func buildReport(_ result: StepResult, now: Instant) -> StatusReport {
        var inputs: [String: StatusReport.Input] = [:]
        for (signal, line) in configuration.inputs {
            let name = lines.resolved[signal.rawValue]?.name ?? "\(line.locator)"
            switch lastReadings[signal] {
            case .level(let level):
                inputs[signal.rawValue] = .init(line: name, logical: level.description,
                                                raw: (level.isActive != line.activeLow) ? 1 : 0, error: nil)
            case .failed(let why):
                inputs[signal.rawValue] = .init(line: name, logical: "unread", raw: nil, error: why)
            case nil:
                inputs[signal.rawValue] = .init(line: name, logical: "unread", raw: nil, error: nil)
            }
        }
        var outputs: [String: StatusReport.Output] = [:]
        for (signal, line) in configuration.outputs {
            let level = result.outputs[signal]
            outputs[signal.rawValue] = .init(line: lines.resolved[signal.rawValue]?.name ?? "\(line.locator)",
                                             logical: level.description, raw: (level.isActive != line.activeLow) ? 1 : 0)
        }
        let faults = policy.faults.map { StatusReport.FaultEntry(code: $0.code, description: $0.description, latched: $0.isLatched) }
        let maxBalance = Interval.hours(configuration.timing.balanceMaxHours)
        let balancing: StatusReport.Balancing
        if let since = policy.balancingSince {
            let elapsed = now - since
            balancing = .init(active: true, elapsedS: elapsed.milliseconds / 1000,
                              remainingS: max(0, (maxBalance.nanoseconds - elapsed.nanoseconds) / 1_000_000_000))
        } else {
            balancing = .init(active: false, elapsedS: nil, remainingS: nil)
        }
        let trips = health.withLock { $0.trips }
        let systemd = notifier?.watchdogIntervalNanoseconds.map { "WATCHDOG=1 every \($0 / 4_000_000) ms" } ?? (notifier == nil ? "not under systemd" : "notify only")
        return StatusReport(
            state: policy.state.rawValue, backend: backendDescription, configuration: configuration.source,
            uptimeS: (now - (startedAt ?? now)).milliseconds / 1000, steps: stepCount,
            inputs: inputs, outputs: outputs, faults: faults, forceOff: policy.isForcedOff, balancing: balancing,
            soc: analogReport(.soc, now: now), precharge: prechargeReport(now: now),
            chargeCurrentLimit: analogReport(.chargeLimit, now: now),
            dischargeCurrentLimit: analogReport(.dischargeLimit, now: now),
            can: canReport(now: now),
            watchdogs: .init(loopDeadlineMs: configuration.loop.loopDeadlineMs, internalTrips: trips,
                             systemd: systemd, hardware: watchdog?.description ?? "not used",
                             systemdPets: systemdPets, hardwarePets: hardwarePets),
            events: events.last(20))
    }

    private func canReport(now: Instant) -> StatusReport.CAN? {
        guard let canBus else { return nil }
        let stale = Interval.milliseconds(configuration.can.rules.staleMs)
        var values: [String: Double] = [:]
        for quantity in CANQuantity.allCases {
            if let value = canBus.value(quantity, now: now, staleAfter: stale) { values[quantity.rawValue] = value }
        }
        let counters = canBus.counters
        return .init(interface: configuration.can.interface, table: configuration.can.table.rawValue, values: values,
                     staleMessages: canBus.staleMessages(now: now, staleAfter: stale),
                     decoded: counters.decoded, unknownID: counters.unknownID, short: counters.short,
                     badChecksum: counters.badChecksum, readError: canReadError)
    }

    private func prechargeReport(now: Instant) -> StatusReport.Precharge? {
        guard configuration.policy.precharge.enabled else { return nil }
        let (state, since): (String, Instant?) = switch policy.prechargeState {
        case .idle: ("idle", nil)
        case .charging(let since): ("charging", since)
        case .overlapping(let since): ("overlapping", since)
        case .failed: ("failed", nil)
        }
        let completion = if case .timer = configuration.policy.precharge.completion { "timer" } else { "busVoltage" }
        return .init(state: state, elapsedMs: since.map { (now - $0).milliseconds }, completion: completion,
                     busVoltage: analogReport(.busVoltage, now: now), packVoltage: analogReport(.packVoltage, now: now))
    }

    private func analogReport(_ signal: AnalogSignal, now: Instant) -> StatusReport.Analog? {
        guard let analog, let channel = analog.sampler.configuration.channels.first(where: { $0.signal == signal }) else { return nil }
        switch analog.sampler.reading(of: signal, now: UInt64(max(0, now.nanoseconds))) {
        case .valid(let value, _, _): return .init(value: value, unit: channel.unit, valid: true, reason: nil)
        case .invalid(let reason): return .init(value: nil, unit: channel.unit, valid: false, reason: reason)
        }
    }
}

func sleepMilliseconds(_ ms: Int) {
    var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
