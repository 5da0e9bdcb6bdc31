import Glibc
import PackGuardConfig
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
/// level, then inputs with edge events. Released exactly once. Thread-safe: the control thread
/// and the watchdog monitor may both drive the outputs.
public final class SignalLines: Sendable {
    struct InputGroup: Sendable {
        let request: any GPIOLineRequest
        let signals: [InputSignal]
    }

    struct OutputGroup: Sendable {
        let request: any GPIOLineRequest
        let signals: [OutputSignal]
    }

    private let inputGroups: [InputGroup]
    private let outputGroups: [OutputGroup]
    public let resolved: [String: ResolvedLine]  // signal key → where it is
    private let outputLevels: Mutex<[OutputSignal: Level]>

    public static let consumer = "packguard"

    /// Requests every configured line. On any failure, whatever was already requested is
    /// released (outputs go back to their pull-downs) and the error names the line.
    public init(configuration: PackGuardConfiguration, backend: any GPIOBackend) throws(GPIOError) {
        let resolver = try LineResolver(backend: backend)
        var resolved: [String: ResolvedLine] = [:]
        var outputsByChip: [String: (chip: any GPIOChip, signals: [OutputSignal], settings: [OutputLineSettings])] = [:]
        for signal in OutputSignal.allCases {
            guard let line = configuration.outputs[signal] else { continue }
            let found = try resolver.resolve(line.locator)
            resolved[signal.rawValue] = ResolvedLine(chipPath: found.chip.path, chipName: found.chip.name, offset: found.offset, name: found.name)
            var group = outputsByChip[found.chip.path] ?? (found.chip, [], [])
            group.signals.append(signal)
            group.settings.append(OutputLineSettings(offset: found.offset, activeLow: line.activeLow, initial: .inactive))
            outputsByChip[found.chip.path] = group
        }
        var inputsByChip: [String: (chip: any GPIOChip, signals: [InputSignal], settings: [InputLineSettings])] = [:]
        for signal in InputSignal.allCases {
            guard let line = configuration.inputs[signal] else { continue }
            let found = try resolver.resolve(line.locator)
            resolved[signal.rawValue] = ResolvedLine(chipPath: found.chip.path, chipName: found.chip.name, offset: found.offset, name: found.name)
            var group = inputsByChip[found.chip.path] ?? (found.chip, [], [])
            group.signals.append(signal)
            group.settings.append(InputLineSettings(offset: found.offset, activeLow: line.activeLow, bias: line.bias))
            inputsByChip[found.chip.path] = group
        }
        // Outputs first, so that nothing else happens before every relay is held off.
        var outputGroups: [OutputGroup] = []
        var inputGroups: [InputGroup] = []
        do throws(GPIOError) {
            for (_, group) in outputsByChip.sorted(by: { $0.key < $1.key }) {
                let request = try group.chip.requestOutputs(group.settings, consumer: Self.consumer)
                outputGroups.append(OutputGroup(request: request, signals: group.signals))
            }
            for (_, group) in inputsByChip.sorted(by: { $0.key < $1.key }) {
                let request = try group.chip.requestInputs(group.settings, consumer: Self.consumer)
                inputGroups.append(InputGroup(request: request, signals: group.signals))
            }
        } catch {
            for group in inputGroups { group.request.release() }
            for group in outputGroups { group.request.release() }
            throw Self.named(error, resolved: resolved)
        }
        self.inputGroups = inputGroups
        self.outputGroups = outputGroups
        self.resolved = resolved
        var levels: [OutputSignal: Level] = [:]
        for group in outputGroups { for signal in group.signals { levels[signal] = .inactive } }
        self.outputLevels = Mutex(levels)
    }

    deinit { release() }

    /// Adds the line names to an error that only knew chip and offsets.
    private static func named(_ error: GPIOError, resolved: [String: ResolvedLine]) -> GPIOError {
        func name(_ offset: Int) -> String? {
            resolved.values.first(where: { $0.chipName == error.chip && $0.offset == offset })?.name
        }
        var error = error
        if error.line == nil, let offset = error.offset { error.line = name(offset) }
        for index in error.failedLines.indices where error.failedLines[index].line == nil {
            error.failedLines[index].line = name(error.failedLines[index].offset)
        }
        return error
    }

    /// File descriptors to poll for edge events.
    public var eventFileDescriptors: [Int32] { inputGroups.compactMap(\.request.eventFileDescriptor) }

    /// Every input's logical level; a failed read is reported per signal, never hidden.
    public func readInputs() -> PerInput<InputReading?> {
        var readings = PerInput<InputReading?>(repeating: nil)
        for group in inputGroups {
            // A stack buffer: reading the inputs allocates nothing (it runs on every wake).
            withUnsafeTemporaryAllocation(of: Level.self, capacity: group.signals.count) { values in
                do throws(GPIOError) {
                    try group.request.readValues(into: values)
                    for (index, signal) in group.signals.enumerated() { readings[signal] = .level(values[index]) }
                } catch {
                    for signal in group.signals { readings[signal] = .failed(error.description) }
                }
            }
        }
        return readings
    }

    /// Drains pending edge events (each names its signal).
    public func readEdgeEvents() throws(GPIOError) -> [(signal: InputSignal, event: EdgeEvent)] {
        var result: [(InputSignal, EdgeEvent)] = []
        for group in inputGroups {
            let offsets = group.request.offsets
            for event in try group.request.readEdgeEvents() {
                if let index = offsets.firstIndex(of: event.offset) { result.append((group.signals[index], event)) }
            }
        }
        return result
    }

    /// Sets outputs and reads them back. Throws naming every output line that was not set.
    /// `unless` is checked under the same lock that `forceAllOff` takes: when it answers true
    /// nothing is set and the result is false, so a step that was overtaken by the watchdog
    /// monitor can never re-close what the monitor just opened.
    @discardableResult
    public func setOutputs(_ levels: OutputLevels, unless vetoed: () -> Bool = { false }) throws(GPIOError) -> Bool {
        try outputLevels.withLock { (current: inout [OutputSignal: Level]) throws(GPIOError) -> Bool in
            if vetoed() { return false }
            for group in outputGroups {
                // Only a group whose levels change is written.
                guard group.signals.contains(where: { levels[$0] != current[$0] ?? .inactive }) else { continue }
                // Stack buffers: the heartbeat makes this run on every healthy step.
                let count = group.signals.count
                do throws(GPIOError) {
                    try withUnsafeTemporaryAllocation(of: Level.self, capacity: count) { (wanted) throws(GPIOError) in
                        for (index, signal) in group.signals.enumerated() { wanted[index] = levels[signal] }
                        try group.request.writeValues(UnsafeBufferPointer(wanted))
                        try withUnsafeTemporaryAllocation(of: Level.self, capacity: count) { (readBack) throws(GPIOError) in
                            try group.request.readValues(into: readBack)
                            if !readBack.elementsEqual(wanted) {
                                throw GPIOError(.systemError, operation: "read back outputs (wanted \(Array(wanted)), read \(Array(readBack)))",
                                                chip: group.request.chip, errno: EIO)
                            }
                        }
                    }
                } catch {
                    throw Self.named(error, resolved: resolved)
                }
                for signal in group.signals { current[signal] = levels[signal] }
            }
            return true
        }
    }

    /// Drives every output inactive, trying every group even when one fails. Returns the
    /// failures (empty when every output is off).
    @discardableResult
    public func forceAllOff() -> [GPIOError] {
        outputLevels.withLock { current in
            var failures: [GPIOError] = []
            for group in outputGroups {
                do throws(GPIOError) {
                    try group.request.setValues(group.signals.map { _ in .inactive })
                    for signal in group.signals { current[signal] = .inactive }
                } catch {
                    failures.append(Self.named(error, resolved: resolved))
                }
            }
            return failures
        }
    }

    /// The output levels last applied successfully.
    public var appliedOutputs: [OutputSignal: Level] { outputLevels.withLock { $0 } }

    /// Releases every line: outputs first back to the kernel (and their pull-downs).
    public func release() {
        for group in outputGroups { group.request.release() }
        for group in inputGroups { group.request.release() }
    }
}
