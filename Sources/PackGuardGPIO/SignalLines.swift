import Glibc
import PackGuardCore
import Synchronization

/// Where a configured signal was found.
public struct ResolvedLine: Sendable, Equatable {
    public var chipPath: String
    public var chipName: String
    public var offset: Int
    public var name: String
}

/// Finds configured lines across every chip of a backend.
public struct LineResolver {
    public let backend: any GPIOBackend
    private var chips: [any GPIOChip] = []

    public init(backend: any GPIOBackend) throws(GPIOError) {
        self.backend = backend
        for path in try backend.chipPaths() { chips.append(try backend.openChip(path)) }
    }

    public var openChips: [any GPIOChip] { chips }

    public func resolve(_ locator: LineLocator) throws(GPIOError) -> (chip: any GPIOChip, offset: Int, name: String) {
        switch locator {
        case .name(let name):
            for chip in chips {
                if let offset = try chip.findLine(named: name) { return (chip, offset, name) }
            }
            throw GPIOError(.lineNotFound(similar: similarNames(to: name)), operation: "find GPIO line", line: name)
        case .chipOffset(let chipName, let offset):
            guard let chip = chips.first(where: { $0.name == chipName || $0.path == chipName || $0.label == chipName }) else {
                throw GPIOError(.chipMissing, operation: "find GPIO chip", chip: chipName, offset: offset, errno: ENOENT)
            }
            guard offset < chip.lineCount else {
                throw GPIOError(.systemError, operation: "find GPIO line (chip has \(chip.lineCount) lines)", chip: chip.name,
                                offset: offset, errno: EINVAL)
            }
            let info = try chip.lineInfo(offset: offset)
            return (chip, offset, info.name)
        }
    }

    /// Names that differ by a little, for "did you mean" in a not-found error.
    func similarNames(to name: String) -> [String] {
        var names: [String] = []
        for chip in chips {
            for offset in 0..<chip.lineCount {
                do {
                    let info = try chip.lineInfo(offset: offset)
                    if !info.name.isEmpty { names.append(info.name) }
                } catch {
                    continue  // a line whose info cannot be read has no name to suggest
                }
            }
        }
        // Likely typos first: the same digits in another order (GPIO71 for GPIO17), then by edit distance.
        let lowered = name.lowercased()
        let digits = name.filter(\.isNumber).sorted()
        let scored = names.map { candidate -> (String, Int) in
            let sameDigits = !digits.isEmpty && candidate.filter(\.isNumber).sorted() == digits
            return (candidate, sameDigits ? 0 : editDistance(candidate.lowercased(), lowered))
        }
        return scored.filter { $0.1 <= 2 }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(5).map(\.0)
    }
}

/// The signal lines of one configuration, requested and owned: outputs first, at their off
/// level, then inputs with edge events. Each signal has a request of its own, so that a
/// configuration reload can move one line while every other stays held (and every closed relay
/// stays closed). Thread-safe: the control thread and the watchdog monitor may both drive the
/// outputs, and a reload replaces lines under the same locks.
public final class SignalLines: Sendable {
    struct InputLine: Sendable {
        let signal: InputSignal
        let settings: InputLineSettings
        let location: ResolvedLine
        let request: any GPIOLineRequest
    }

    struct OutputLine: Sendable {
        let signal: OutputSignal
        let settings: OutputLineSettings
        let location: ResolvedLine
        let request: any GPIOLineRequest
    }

    struct Outputs: Sendable {
        var lines: [OutputLine]
        /// The level last applied successfully, per configured output.
        var applied: PerOutput<Level?>
        /// Driven off by the fast path and not read back yet.
        var unverified = PerOutput<Bool>(repeating: false)
        /// Relays switched on by the last `setOutputs`, read back by the next one: a closing write is
        /// the last I/O of a step, so that nothing delays the loop's return to its edges.
        var closedUnverified = PerOutput<Bool>(repeating: false)
    }

    // Lock order, where both are taken: outputs, then inputs.
    private let outputs: Mutex<Outputs>
    private let inputs: Mutex<[InputLine]>
    private let reconfigurations = Atomic<Int>(0)
    /// How many times the off reflex opened a relay; changed under the outputs lock, so that
    /// `setOutputs`'s veto (taken under the same lock) sees every opening before it writes. The
    /// reactions done in C count in `reflexTable.openings` (also under the outputs lock).
    private let reflexOpeningCount = Atomic<Int>(0)
    /// How many releases the off reflex found, whether or not it had anything to open; changed under
    /// the outputs lock. This is what vetoes a write decided before it (`reflexReleases`).
    private let reflexReleaseCount = Atomic<Int>(0)
    /// The off reflex's plans and reactions in C, guarded by the two locks above (see
    /// `LibgpiodReflexTable`). Every section under the outputs lock first takes in what C reactions
    /// drove off and ends by telling C which relays are closed (`withOutputs`).
    private let reflexTable: LibgpiodReflexTable

    public static let consumer = "packguard"

    /// Requests every configured line. On any failure, whatever was already requested is
    /// released (outputs go back to their pull-downs) and the error names the line.
    public init(wiring: LineWiring, backend: any GPIOBackend) throws(GPIOError) {
        let resolver = try LineResolver(backend: backend)
        var requested = Requested()
        do throws(GPIOError) {
            // Outputs first, so that nothing else happens before every relay is held off.
            for signal in OutputSignal.allCases {
                guard let line = wiring.outputs[signal] else { continue }
                requested.outputs.append(try Self.requestOutput(signal, line, resolver: resolver))
            }
            for signal in InputSignal.allCases {
                guard let line = wiring.inputs[signal] else { continue }
                requested.inputs.append(try Self.requestInput(signal, line, resolver: resolver))
            }
        } catch {
            requested.releaseAll()
            throw error
        }
        var applied = PerOutput<Level?>(repeating: nil)
        for line in requested.outputs { applied[line.signal] = .inactive }
        outputs = Mutex(Outputs(lines: requested.outputs, applied: applied))
        inputs = Mutex(requested.inputs)
        reflexTable = LibgpiodReflexTable(outputsLock: outputs.unsafePthreadMutex, inputsLock: inputs.unsafePthreadMutex)
        withOutputs { state in
            inputs.withLock { lines in Self.planReflex(reflexTable, outputs: state.lines, inputs: lines) }
        }
    }

    /// The off reflex's C plans for these lines: per enable, the relays its release always opens
    /// (`SafetyPolicy.relaysOpened(byReleaseOf:)`). A key whose lines are not all libgpiod's (the
    /// mocked chip) gets none, and the reflex reacts to it in Swift. Under both locks.
    private static func planReflex(_ table: LibgpiodReflexTable, outputs: [OutputLine], inputs: [InputLine]) {
        precondition(InputSignal.allCases.count <= LibgpiodReflexTable.capacity && OutputSignal.allCases.count <= LibgpiodReflexTable.capacity,
                     "more signals than the reflex table holds")
        for (key, signal) in InputSignal.allCases.enumerated() {
            let relays = SafetyPolicy.relaysOpened(byReleaseOf: signal)
            guard let input = inputs.first(where: { $0.signal == signal }), !relays.isEmpty else {
                table.clearPlan(key: key)
                continue
            }
            let opened = outputs.filter { relays.contains($0.signal) }.map { ($0.request, Self.bit(of: $0.signal)) }
            table.setPlan(key: key, input: input.request, outputs: opened)
        }
    }

    /// Each output's bit in the reflex table, worked out once: every outputs-lock section uses them,
    /// the heartbeat's at every step, and `allCases` builds a new array at every use.
    private static let outputBits: PerOutput<UInt32> = {
        var bits = PerOutput<UInt32>(repeating: 0)
        for (index, signal) in OutputSignal.allCases.enumerated() { bits[signal] = 1 << UInt32(index) }
        return bits
    }()
    private static let outputSignals = OutputSignal.allCases

    private static func bit(of signal: OutputSignal) -> UInt32 { outputBits[signal] }

    /// The outputs lock, with what C reactions drove off taken in first (applied off, to be read
    /// back, as the Swift fast path notes it) and the relays applied closed told to C at the end
    /// (the only ones a C reaction writes).
    private func withOutputs<Result, E: Error>(_ body: (inout Outputs) throws(E) -> Result) throws(E) -> Result {
        try outputs.withLock { (state: inout Outputs) throws(E) -> Result in
            let opened = reflexTable.takeOpened()
            if opened != 0 {
                for signal in Self.outputSignals where opened & Self.bit(of: signal) != 0 {
                    state.applied[signal] = .inactive
                    state.unverified[signal] = true
                }
            }
            defer {
                var closed: UInt32 = 0
                for line in state.lines where line.signal.isRelay && state.applied[line.signal] == .active { closed |= Self.bit(of: line.signal) }
                reflexTable.setClosed(closed)
            }
            return try body(&state)
        }
    }

    /// Lines requested so far, released together if a later request fails.
    private struct Requested {
        var outputs: [OutputLine] = []
        var inputs: [InputLine] = []

        func releaseAll() {
            for line in outputs { line.request.release() }
            for line in inputs { line.request.release() }
        }
    }

    private static func requestOutput(_ signal: OutputSignal, _ line: OutputLineConfiguration,
                                      resolver: LineResolver) throws(GPIOError) -> OutputLine {
        let found = try resolver.resolve(line.locator)
        let settings = OutputLineSettings(offset: found.offset, activeLow: line.activeLow, initial: .inactive)
        let request: any GPIOLineRequest
        do {
            request = try found.chip.requestOutputs([settings], consumer: consumer)
        } catch {
            throw named(error, found.name)
        }
        return OutputLine(signal: signal, settings: settings, location: resolved(found), request: request)
    }

    private static func requestInput(_ signal: InputSignal, _ line: InputLineConfiguration,
                                     resolver: LineResolver) throws(GPIOError) -> InputLine {
        let found = try resolver.resolve(line.locator)
        let settings = InputLineSettings(offset: found.offset, activeLow: line.activeLow, bias: line.bias)
        let request: any GPIOLineRequest
        do {
            request = try found.chip.requestInputs([settings], consumer: consumer)
        } catch {
            throw named(error, found.name)
        }
        return InputLine(signal: signal, settings: settings, location: resolved(found), request: request)
    }

    private static func resolved(_ found: (chip: any GPIOChip, offset: Int, name: String)) -> ResolvedLine {
        ResolvedLine(chipPath: found.chip.path, chipName: found.chip.name, offset: found.offset, name: found.name)
    }

    /// Adds the line name to an error that only knew chip and offset (each request holds one line).
    private static func named(_ error: GPIOError, _ name: String) -> GPIOError {
        var error = error
        if error.line == nil { error.line = name }
        for index in error.failedLines.indices where error.failedLines[index].line == nil {
            error.failedLines[index].line = name
        }
        return error
    }

    /// The error of a one-line request, its line named and listed as not set.
    private static func listingItsLine(_ error: GPIOError, _ line: OutputLine) -> GPIOError {
        var error = named(error, line.location.name)
        if error.failedLines.isEmpty {
            error.failedLines = [GPIOError.LineFailure(offset: line.settings.offset, line: line.location.name, errno: error.errno)]
        }
        return error
    }

    // No deinit: each request releases its line when its last owner goes. A reload hands the
    // requests it keeps to the same object, so nothing here may release them behind its back.

    /// Where each configured signal was found, keyed by its configuration key.
    public var resolved: [String: ResolvedLine] {
        var result: [String: ResolvedLine] = [:]
        for line in outputs.withLock({ $0.lines }) { result[line.signal.rawValue] = line.location }
        for line in inputs.withLock({ $0 }) { result[line.signal.rawValue] = line.location }
        return result
    }

    /// Changes whenever a reload replaced any line (and so, perhaps, the event descriptors).
    public var generation: Int { reconfigurations.load(ordering: .acquiring) }

    // MARK: - Reload

    /// Moves the lines to `configuration`. A signal whose line, chip, polarity and bias resolve
    /// as before keeps its request (an output keeps driving its level). Every changed or new line
    /// is requested first (outputs off); only once all of them are held are the lines that moved
    /// or disappeared driven off and released. If any request fails, the new requests are
    /// released, nothing else has changed, and the error names the line.
    /// Returns the signals whose line changed, for the policy, and the old output lines that could
    /// not be driven off before their release (each was released all the same, to its pull-down).
    public func reconfigure(to wiring: LineWiring, backend: any GPIOBackend) throws(GPIOError)
        -> (relocation: Relocation, notDrivenOff: [GPIOError]) {
        let resolver = try LineResolver(backend: backend)
        let (oldOutputs, oldInputs) = (outputs.withLock { $0.lines }, inputs.withLock { $0 })
        var keptOutputs: [OutputLine] = []
        var keptInputs: [InputLine] = []
        var fresh = Requested()
        var relocation = Relocation()
        do throws(GPIOError) {
            for signal in OutputSignal.allCases {
                let old = oldOutputs.first { $0.signal == signal }
                guard let line = wiring.outputs[signal] else {
                    if old != nil { relocation.outputs.insert(signal) }
                    continue
                }
                let found = try resolver.resolve(line.locator)
                if let old, old.location.chipPath == found.chip.path, old.settings.offset == found.offset,
                   old.settings.activeLow == line.activeLow {
                    keptOutputs.append(old)
                } else {
                    fresh.outputs.append(try Self.requestOutput(signal, line, resolver: resolver))
                    relocation.outputs.insert(signal)
                }
            }
            for signal in InputSignal.allCases {
                let old = oldInputs.first { $0.signal == signal }
                guard let line = wiring.inputs[signal] else {
                    if old != nil { relocation.inputs.insert(signal) }
                    continue
                }
                let found = try resolver.resolve(line.locator)
                if let old, old.location.chipPath == found.chip.path, old.settings.offset == found.offset,
                   old.settings.activeLow == line.activeLow, old.settings.bias == line.bias {
                    keptInputs.append(old)
                } else {
                    fresh.inputs.append(try Self.requestInput(signal, line, resolver: resolver))
                    relocation.inputs.insert(signal)
                }
            }
        } catch {
            fresh.releaseAll()
            throw error
        }
        // In signal order, as at start-up.
        let newOutputs = OutputSignal.allCases.compactMap { signal in
            keptOutputs.first { $0.signal == signal } ?? fresh.outputs.first { $0.signal == signal }
        }
        let newInputs = InputSignal.allCases.compactMap { signal in
            keptInputs.first { $0.signal == signal } ?? fresh.inputs.first { $0.signal == signal }
        }
        let retiredOutputs = oldOutputs.filter { old in !keptOutputs.contains { $0.request === old.request } }
        let retiredInputs = oldInputs.filter { old in !keptInputs.contains { $0.request === old.request } }
        var notDrivenOff: [GPIOError] = []
        withOutputs { state in
            // The old line of a moved relay is driven off before it is released: its pull-down
            // would do the same, but a board without one must not keep a relay closed.
            for line in retiredOutputs {
                do throws(GPIOError) {
                    try line.request.setValues([.inactive])
                } catch {
                    // Released below all the same: the kernel and the line's pull-down take it over.
                    notDrivenOff.append(Self.listingItsLine(error, line))
                }
                line.request.release()
            }
            var applied = PerOutput<Level?>(repeating: nil)
            for line in newOutputs { applied[line.signal] = state.applied[line.signal] ?? .inactive }
            for signal in relocation.outputs { applied[signal] = wiring.outputs[signal] == nil ? nil : .inactive }
            // A line kept through the reload keeps its pending read-back.
            var kept = Outputs(lines: newOutputs, applied: applied)
            for line in newOutputs where !relocation.outputs.contains(line.signal) {
                kept.unverified[line.signal] = state.unverified[line.signal]
                kept.closedUnverified[line.signal] = state.closedUnverified[line.signal]
            }
            state = kept
            inputs.withLock { lines in
                lines = newInputs
                // Before either lock is let go: no C reaction may reach a retired request.
                Self.planReflex(reflexTable, outputs: newOutputs, inputs: newInputs)
            }
        }
        for line in retiredInputs { line.request.release() }
        if !relocation.isEmpty { reconfigurations.add(1, ordering: .releasing) }
        return (relocation, notDrivenOff)
    }

    // MARK: - Inputs

    /// File descriptors to poll for edge events.
    public var eventFileDescriptors: [Int32] { inputs.withLock { $0.compactMap(\.request.eventFileDescriptor) } }

    /// The event descriptor of each input that has one, with its signal (for the off reflex).
    public var eventDescriptorsBySignal: [(signal: InputSignal, fd: Int32)] {
        inputs.withLock { lines in lines.compactMap { line in line.request.eventFileDescriptor.map { (line.signal, $0) } } }
    }

    /// How many times the off reflex has opened a relay (see `openRelays(_:ifReleased:)`).
    public var reflexOpenings: Int { reflexOpeningCount.load(ordering: .acquiring) + reflexTable.openings }

    /// How many releases the off reflex has found, in Swift and in C, whether or not it opened
    /// anything: a write decided before one must be vetoed (`setOutputs`'s and `closeRelays`'s
    /// `unless`), since the decision did not know of the release. Changed under the outputs lock,
    /// after the release is told (`openRelays`'s `whenReleased`, `takeReflexReleases`).
    public var reflexReleases: Int { reflexReleaseCount.load(ordering: .acquiring) + reflexTable.releases }

    /// The off reflex thread's wait (`pg_reflex_wait`): epoll_wait on `epoll`, then in C, under
    /// both locks, the reaction of every ready key that has a C plan (a release drives its closed
    /// relays off, and the loop's veto sees it as it sees `openRelays`). A key is an input's index
    /// in `InputSignal.allCases`; other keys, and keys with no plan, come back `.notReacted`.
    /// A wake with an input key is begun (`reflexWakes`); the caller ends it (`endReflexWake`).
    /// Returns how many wakes it filled, 0 on timeout, or -1 with errno.
    public func reflexWait(epoll: Int32, into wakes: UnsafeMutableBufferPointer<ReflexWake>, timeoutMs: Int32) -> Int32 {
        reflexTable.wait(epoll: epoll, into: wakes, timeoutMs: timeoutMs)
    }

    /// The enables C reactions found released since the last call, each with when the write that
    /// opened its relays ended (nil when they were open already).
    public func takeReflexReleases() -> [(signal: InputSignal, openedAt: Instant?)] {
        reflexTable.takeReleased().map { (InputSignal.allCases[$0.key], $0.openedAtNanoseconds.map { Instant(nanoseconds: $0) }) }
    }

    /// Wakes of the reflex with edges: begun, handled, and when the latest began (CLOCK_MONOTONIC).
    public var reflexWakes: (begun: UInt64, handled: UInt64, latest: Instant) {
        // handled first: a wake begun after it was read can only make begun larger (never a false "done").
        let handled = reflexTable.handled
        return (reflexTable.begun, handled, Instant(nanoseconds: reflexTable.beganNanoseconds))
    }

    /// A reflex wake whose reactions and hand-off are over.
    public func endReflexWake() { reflexTable.end() }

    /// Every input's logical level (or only those of `only`); a failed read is reported per
    /// signal, never hidden.
    public func readInputs(only: InputSignals? = nil) -> PerInput<InputReading?> {
        inputs.withLock { lines in
            var readings = PerInput<InputReading?>(repeating: nil)
            for line in lines where only?.contains(line.signal) ?? true {
                // A stack buffer: reading the inputs allocates nothing (it runs on every wake).
                withUnsafeTemporaryAllocation(of: Level.self, capacity: 1) { value in
                    do throws(GPIOError) {
                        try line.request.readValues(into: value)
                        readings[line.signal] = .level(value[0])
                    } catch {
                        readings[line.signal] = .failed(error.description)
                    }
                }
            }
            return readings
        }
    }

    /// Drains pending edge events (each names its signal), oldest first across lines: each line
    /// has its own request, so the kernel's timestamps restore the order between lines.
    /// `readable`: the event descriptors the wait just reported ready; only their lines are read
    /// (the others cost a system call each for nothing). nil reads every line, which the
    /// controller's reconciling read does (every `reconcileMs` at least), so a line whose
    /// descriptor never wakes the wait (a vanished chip, on libgpiod v1) is still read.
    public func readEdgeEvents(readable: [Int32]? = nil) throws(GPIOError) -> [(signal: InputSignal, event: EdgeEvent)] {
        try inputs.withLock { (lines) throws(GPIOError) -> [(signal: InputSignal, event: EdgeEvent)] in
            var result: [(signal: InputSignal, event: EdgeEvent)] = []
            var sources = 0
            for line in lines {
                if let readable, let fd = line.request.eventFileDescriptor, !readable.contains(fd) { continue }
                let events = try line.request.readEdgeEvents()
                guard !events.isEmpty else { continue }
                sources += 1
                for event in events { result.append((line.signal, event)) }
            }
            if sources > 1 {
                // Stable: events of one line keep their kernel order even with equal timestamps.
                result = result.enumerated().sorted {
                    ($0.element.event.timestampNanoseconds, $0.offset) < ($1.element.event.timestampNanoseconds, $1.offset)
                }.map(\.element)
            }
            return result
        }
    }

    // MARK: - Outputs

    /// Sets outputs and reads them back. Every line that switches off is written first, before any
    /// read-back, so that opening a relay waits for nothing; those lines are then read back, and
    /// only then are the lines that switch on written: the indicators each read back in turn, the
    /// relays last, read back by the next call (which comes within a heartbeat or reconcile
    /// interval), so that a closing write is the last I/O before the loop waits for edges again.
    /// A line that the off fast path (`openRelaysAtOnce`) drove off is read back here too. After a line fails, every
    /// line still to be switched off is attempted (nothing more is switched on); the error names
    /// every output line that failed.
    /// `unless` is checked under the same lock that `forceAllOff` takes: when it answers true
    /// nothing is set and the result is false, so a step that was overtaken by the watchdog
    /// monitor can never re-close what the monitor just opened.
    /// `closingRelays` false leaves the relays that switch on to a later `closeRelays` (the control
    /// loop's, right before it sleeps, so that nothing of the step runs after a closing write).
    @discardableResult
    public func setOutputs(_ levels: OutputLevels, unless vetoed: () -> Bool = { false },
                           closingRelays: Bool = true) throws(GPIOError) -> Bool {
        try withOutputs { (state: inout Outputs) throws(GPIOError) -> Bool in
            if vetoed() { return false }
            var failure: GPIOError?
            func note(_ error: GPIOError, _ line: OutputLine) {
                // The first failure is the error; every failed line is listed in it.
                let failed = Self.listingItsLine(error, line)
                if failure == nil { failure = failed; failure?.failedLines = [] }
                failure?.failedLines += failed.failedLines
            }
            // 1. Every line that switches off, written back to back.
            var written = PerOutput<Bool>(repeating: false)
            for line in state.lines where !levels[line.signal].isActive && state.applied[line.signal] != .inactive {
                do throws(GPIOError) {
                    try Self.write(.inactive, to: line)
                    written[line.signal] = true
                } catch {
                    note(error, line)
                }
            }
            // 2. Their read-back, and that of lines the fast path drove off.
            for line in state.lines where written[line.signal] || (state.unverified[line.signal] && !levels[line.signal].isActive) {
                let fastPath = state.unverified[line.signal]
                state.unverified[line.signal] = false
                do throws(GPIOError) {
                    try Self.readBack(.inactive, from: line)
                    state.applied[line.signal] = .inactive
                } catch {
                    // Not applied: a fast-path line is back at the level it had before (on), so
                    // that the next step writes it again.
                    if fastPath { state.applied[line.signal] = .active }
                    note(error, line)
                }
            }
            // 3. The read-back of relays the last call closed that stay closed (a relay closed then
            //    opened again was written and read back above).
            for line in state.lines where state.closedUnverified[line.signal] {
                state.closedUnverified[line.signal] = false
                guard levels[line.signal].isActive, state.applied[line.signal] == .active else { continue }
                do throws(GPIOError) {
                    try Self.readBack(.active, from: line)
                } catch {
                    state.applied[line.signal] = nil  // unknown: written again once the failure is handled
                    note(error, line)
                }
            }
            // 4. Lines that switch on, none after a failure: the indicators each written and read
            //    back, then the relays, written last and back to back, read back by the next call.
            //    A relay that did not close is the safe side; a closing write followed by more I/O
            //    would hold the loop away from its edges (a release must wait for nothing).
            for relays in closingRelays ? [false, true] : [false] {
                for line in state.lines where line.signal.isRelay == relays && levels[line.signal].isActive
                    && state.applied[line.signal] != .active {
                    guard failure == nil else { break }
                    state.unverified[line.signal] = false
                    do throws(GPIOError) {
                        try Self.write(.active, to: line)
                        if relays {
                            state.closedUnverified[line.signal] = true
                        } else {
                            try Self.readBack(.active, from: line)
                        }
                        state.applied[line.signal] = .active
                    } catch {
                        note(error, line)
                    }
                }
            }
            if let failure { throw failure }
            return true
        }
    }

    /// The relays that `levels` has on and that are not applied on, written back to back and read
    /// back by the next `setOutputs`: the closing writes that `setOutputs(_:unless:closingRelays:)`
    /// left out. `unless` is checked under the outputs lock first, as there: when it answers true
    /// (the watchdog monitor tripped or the off reflex found a release since the step decided), nothing is
    /// written and the result is false. A relay applied off by anyone since (a release, a forced
    /// off) is only closed if `levels` still says so, which is the step's decision: the veto is what
    /// keeps a stale decision from re-closing. After a failure nothing more is closed; the error names the line.
    @discardableResult
    public func closeRelays(_ levels: OutputLevels, unless vetoed: () -> Bool = { false }) throws(GPIOError) -> Bool {
        try withOutputs { (state: inout Outputs) throws(GPIOError) -> Bool in
            if vetoed() { return false }
            var failure: GPIOError?
            for line in state.lines where line.signal.isRelay && levels[line.signal].isActive && state.applied[line.signal] != .active {
                guard failure == nil else { break }  // closing is the unsafe direction: none after a failure
                state.unverified[line.signal] = false
                do throws(GPIOError) {
                    try Self.write(.active, to: line)
                    state.closedUnverified[line.signal] = true
                    state.applied[line.signal] = .active
                } catch {
                    Self.note(error, line, in: &failure)
                }
            }
            if let failure { throw failure }
            return true
        }
    }

    /// The off fast path: drives off at once, without reading back, every relay that `levels` has
    /// off and that was last applied on (never the status LED or the heartbeat, which only
    /// indicate, and never a line switched on). The next `setOutputs` reads those lines back.
    /// Every such relay is attempted even when one fails; the error names each failed line, whose
    /// level stays as last applied so that `setOutputs` writes it again. Returns how many were written.
    @discardableResult
    public func openRelaysAtOnce(_ levels: OutputLevels) throws(GPIOError) -> Int {
        try withOutputs { (state: inout Outputs) throws(GPIOError) -> Int in
            var failure: GPIOError?
            var count = 0
            for line in state.lines where Self.opens(line, levels, state) {
                do throws(GPIOError) {
                    try Self.write(.inactive, to: line)
                    Self.noteOpened(line, in: &state)
                    count += 1
                } catch {
                    Self.note(error, line, in: &failure)
                }
            }
            if let failure { throw failure }
            return count
        }
    }

    /// What the off reflex saw of an enable.
    public enum ReleaseReaction: Equatable, Sendable {
        /// The enable could not be read: nothing was written (the control loop reports the read).
        case unreadable
        /// It reads asserted: nothing was written.
        case asserted
        /// It reads released; `opened` relays were driven off (0: they were open already).
        case released(opened: Int)
    }

    /// The off reflex's reaction: reads `signal` and, only if it reads released, drives off at
    /// once, as `openRelaysAtOnce` does, every relay that `levels` has off and that was last
    /// applied on. With libgpiod the read and the writes are one C call (`pg_release_react`), so
    /// that nothing runs between them; the mocked chip does the same in Swift. An opening counts in
    /// `reflexOpenings`, which vetoes a `setOutputs` decided before it. Throws when the enable read
    /// released and a relay could not be written (every relay is attempted; the error names each
    /// failed line, whose level stays as last applied).
    /// `whenReleased` runs under the outputs lock once the enable read released, before the opening
    /// counts: the loop's veto, taken under the same lock, then always finds the release to take.
    public func openRelays(_ levels: OutputLevels, ifReleased signal: InputSignal,
                           whenReleased: () -> Void = {}) throws(GPIOError) -> ReleaseReaction {
        try withOutputs { (state: inout Outputs) throws(GPIOError) -> ReleaseReaction in
            try inputs.withLock { (inputLines) throws(GPIOError) -> ReleaseReaction in
                guard let input = inputLines.first(where: { $0.signal == signal }) else { return .unreadable }
                return try withUnsafeTemporaryAllocation(of: Int.self, capacity: max(1, state.lines.count)) { (chosen) throws(GPIOError) -> ReleaseReaction in
                    var count = 0
                    for (index, line) in state.lines.enumerated() where Self.opens(line, levels, state) {
                        chosen[count] = index
                        count += 1
                    }
                    let (reaction, failure) = Self.react(input: input, opening: UnsafeBufferPointer(rebasing: chosen[..<count]), in: &state)
                    if case .released(let opened) = reaction {
                        whenReleased()
                        // Counted even when another relay failed: what did open must never be re-closed.
                        if opened > 0 { reflexOpeningCount.add(1, ordering: .releasing) }
                        reflexReleaseCount.add(1, ordering: .releasing)
                    }
                    if let failure { throw failure }
                    return reaction
                }
            }
        }
    }

    /// `openRelays(_:ifReleased:)` once the relays are chosen (`opening`: indices into `state.lines`).
    private static func react(input: InputLine, opening: UnsafeBufferPointer<Int>, in state: inout Outputs)
        -> (ReleaseReaction, GPIOError?) {
        var failure: GPIOError?
        var opened = 0
        if let inputRequest = input.request as? LibgpiodRequest,
           let outcome = withLibgpiodRequests(opening, of: state, { (outputRequests) -> LibgpiodRequest.ReleaseReactOutcome in
               withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(1, opening.count)) { errors in
                   let slots = UnsafeMutableBufferPointer(rebasing: errors[..<opening.count])
                   let outcome = LibgpiodRequest.releaseReact(input: inputRequest, outputs: outputRequests, outputErrors: slots)
                   guard outcome == .opened || outcome == .notAllOpened else { return outcome }
                   for (slot, index) in opening.enumerated() {
                       let line = state.lines[index]
                       let code = outcome == .opened ? 0 : slots[slot]
                       if code == 0 {
                           noteOpened(line, in: &state)
                           opened += 1
                       } else if let request = line.request as? LibgpiodRequest {
                           note(named(request.failure("set line values", errno: code), line.location.name), line, in: &failure)
                       }
                   }
                   return outcome
               }
           }) {
            switch outcome {
            case .asserted: return (.asserted, nil)
            case .unreadable: return (.unreadable, nil)
            case .opened, .notAllOpened: break
            }
        } else {
            // The mocked chip (or a request of another backend): the same read, then the same writes.
            let level = withUnsafeTemporaryAllocation(of: Level.self, capacity: 1) { value -> Level? in
                do throws(GPIOError) {
                    try input.request.readValues(into: value)
                    return value[0]
                } catch {
                    return nil
                }
            }
            guard let level else { return (.unreadable, nil) }
            guard level == .inactive else { return (.asserted, nil) }
            for index in opening {
                let line = state.lines[index]
                do throws(GPIOError) {
                    try write(.inactive, to: line)
                    noteOpened(line, in: &state)
                    opened += 1
                } catch {
                    note(error, line, in: &failure)
                }
            }
        }
        return (.released(opened: opened), failure)
    }

    /// Runs `body` with the libgpiod requests of the lines at `indices`, or returns nil when any
    /// of them is of another backend.
    private static func withLibgpiodRequests<T>(_ indices: UnsafeBufferPointer<Int>, of state: Outputs,
                                                _ body: (UnsafeBufferPointer<LibgpiodRequest>) -> T) -> T? {
        withUnsafeTemporaryAllocation(of: LibgpiodRequest.self, capacity: max(1, indices.count)) { requests -> T? in
            var initialized = 0
            defer { requests.baseAddress?.deinitialize(count: initialized) }
            for index in indices {
                guard let request = state.lines[index].request as? LibgpiodRequest else { return nil }
                (requests.baseAddress! + initialized).initialize(to: request)
                initialized += 1
            }
            return body(UnsafeBufferPointer(rebasing: requests[..<initialized]))
        }
    }

    /// Whether the fast path drives `line` off for `levels`: a relay that `levels` has off and
    /// that was last applied on.
    private static func opens(_ line: OutputLine, _ levels: OutputLevels, _ state: Outputs) -> Bool {
        line.signal.isRelay && !levels[line.signal].isActive && state.applied[line.signal] == .active
    }

    /// A relay the fast path drove off: applied off, read back by the next `setOutputs`.
    private static func noteOpened(_ line: OutputLine, in state: inout Outputs) {
        state.applied[line.signal] = .inactive
        state.unverified[line.signal] = true
    }

    /// The first failure is the error; every failed line is listed in it.
    private static func note(_ error: GPIOError, _ line: OutputLine, in failure: inout GPIOError?) {
        let failed = listingItsLine(error, line)
        if failure == nil { failure = failed; failure?.failedLines = [] }
        failure?.failedLines += failed.failedLines
    }

    /// One line's value, from a stack buffer: the heartbeat makes this run on every healthy step.
    private static func write(_ level: Level, to line: OutputLine) throws(GPIOError) {
        try withUnsafeTemporaryAllocation(of: Level.self, capacity: 1) { (buffer) throws(GPIOError) in
            buffer[0] = level
            do throws(GPIOError) {
                try line.request.writeValues(UnsafeBufferPointer(buffer))
            } catch {
                throw Self.named(error, line.location.name)
            }
        }
    }

    /// Reads a line back and fails unless it holds `level`.
    private static func readBack(_ level: Level, from line: OutputLine) throws(GPIOError) {
        try withUnsafeTemporaryAllocation(of: Level.self, capacity: 1) { (buffer) throws(GPIOError) in
            do throws(GPIOError) {
                try line.request.readValues(into: buffer)
            } catch {
                throw Self.named(error, line.location.name)
            }
            if buffer[0] != level {
                throw GPIOError(.systemError, operation: "read back output (wanted \(level), read \(buffer[0]))",
                                chip: line.request.chip, line: line.location.name, offset: line.settings.offset, errno: EIO)
            }
        }
    }

    /// Drives every output inactive, trying every line even when one fails. Returns the
    /// failures (empty when every output is off).
    @discardableResult
    public func forceAllOff() -> [GPIOError] {
        withOutputs { state in
            var failures: [GPIOError] = []
            for line in state.lines {
                do throws(GPIOError) {
                    try line.request.setValues([.inactive])
                    state.applied[line.signal] = .inactive
                    state.closedUnverified[line.signal] = false
                } catch {
                    failures.append(Self.listingItsLine(error, line))
                }
            }
            return failures
        }
    }

    /// The output levels last applied successfully.
    public var appliedOutputs: [OutputSignal: Level] {
        withOutputs { state in
            var result: [OutputSignal: Level] = [:]
            for line in state.lines { result[line.signal] = state.applied[line.signal] }
            return result
        }
    }

    /// Releases every line: outputs first back to the kernel (and their pull-downs).
    public func release() {
        withOutputs { state in
            inputs.withLock { lines in
                reflexTable.clearPlans()  // before any request it names is released
                for line in state.lines { line.request.release() }
                for line in lines { line.request.release() }
            }
        }
    }
}
