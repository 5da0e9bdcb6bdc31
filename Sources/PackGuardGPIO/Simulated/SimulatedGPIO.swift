import Glibc
import PackGuardCore
import Synchronization

/// What the outside world does to a simulated line (like gpio-sim's `pull`).
public enum WorldDrive: Sendable, Equatable {
    case high
    case low
    /// Nothing drives the line: it follows the requested bias (pull-down when none, like gpio-sim).
    case floating
}

/// A mocked GPIO backend with the same contract as the real one: named lines, bias and
/// active-low like the kernel, outputs at their initial level from the request on, edge events
/// through a real pollable eventfd, and injectable faults. Thread-safe.
public final class SimulatedGPIO: GPIOBackend, Sendable {
    struct Line {
        var name: String
        var drive = WorldDrive.floating
        var request: Int?
        var consumer = ""
        var isOutput = false
        var activeLow = false
        var bias = Bias.asIs
        var outputHigh = false
        var history: [(nanoseconds: UInt64, high: Bool)] = []

        /// Keeps the newest changes only, so a simulator left running for days stays small.
        static let historyLimit = 4096

        mutating func record(_ high: Bool, at time: UInt64) {
            if history.count >= Self.historyLimit { history.removeFirst(Self.historyLimit / 2) }
            history.append((time, high))
        }
    }

    struct Chip {
        var name: String
        var label: String
        var lines: [Line]
        var vanished = false
    }

    struct Request {
        var chip: Int
        var offsets: [Int]
        var isInput: Bool
        var eventFD: Int32?
        var signalFD: Int32?
        var pending: [EdgeEvent] = []
        var lastLogical: [Level]
    }

    struct State {
        var chips: [Chip]
        var requests: [Int: Request] = [:]
        var nextRequest = 1
        var failNextRead: Int32?
        var failNextEdgeRead: Int32?
        var failNextSet: Int32?
        var failLinesNextSet: [String: Int32] = [:]  // line name → errno of its next write
        var dropEvents = false
        var busy: [String: String] = [:]  // line name → foreign consumer
        /// Line operations in the order they happened, while tracing (`startTrace`).
        var trace: [String]?
    }

    let state: Mutex<State>
    private let clock: @Sendable () -> UInt64

    /// - Parameters:
    ///   - chips: (label, line names) per chip; chips are named gpiochip0, gpiochip1, …
    ///   - clock: timestamps for edge events and output history, in nanoseconds.
    public init(chips: [(label: String, lines: [String])],
                clock: @escaping @Sendable () -> UInt64 = monotonicNanoseconds) {
        self.clock = clock
        let built = chips.enumerated().map { index, chip in
            Chip(name: "gpiochip\(index)", label: chip.label, lines: chip.lines.map { Line(name: $0) })
        }
        state = Mutex(State(chips: built))
    }

    deinit {
        state.withLock { state in
            for request in state.requests.values { request.closeDescriptors() }
        }
    }

    /// A chip shaped like a Raspberry Pi's 40-pin header GPIOs: lines GPIO0 … GPIO27.
    public static func raspberryPi(clock: @escaping @Sendable () -> UInt64 = monotonicNanoseconds) -> SimulatedGPIO {
        SimulatedGPIO(chips: [("pinctrl-bcm2711 (simulated)", (0...27).map { "GPIO\($0)" })], clock: clock)
    }

    public var description: String { "simulated GPIO chip" }

    public func chipPaths() throws(GPIOError) -> [String] {
        state.withLock { $0.chips.filter { !$0.vanished }.map { "/simulated/\($0.name)" } }
    }

    public func openChip(_ path: String) throws(GPIOError) -> any GPIOChip {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let found: (Int, Chip)? = state.withLock { state in
            state.chips.enumerated().first { $0.element.name == name && !$0.element.vanished }.map { ($0.offset, $0.element) }
        }
        guard let (index, chip) = found else {
            throw GPIOError(.chipMissing, operation: "open GPIO chip", chip: path, errno: ENOENT)
        }
        return SimulatedChip(backend: self, index: index, path: path, name: chip.name, label: chip.label,
                             lineCount: chip.lines.count)
    }

    // MARK: - The world side (tests, the bench, the simulator panel)

    /// Drive a line from outside, as the BMS or a switch would. Generates edge events.
    public func drive(_ lineName: String, _ drive: WorldDrive) {
        mutateLine(lineName) { state, chip, offset in
            state.chips[chip].lines[offset].drive = drive
        }
    }

    /// The physical level of a line as a meter on the pin would read it.
    public func physicalLevel(_ lineName: String) -> Bool {
        state.withLock { state in
            guard let (chip, offset) = Self.locate(lineName, in: state) else {
                preconditionFailure("no simulated line named \(lineName)")
            }
            return Self.physical(state.chips[chip].lines[offset])
        }
    }

    /// Every physical change of an output line since it was first requested, with its time.
    public func outputHistory(_ lineName: String) -> [(nanoseconds: UInt64, high: Bool)] {
        state.withLock { state in
            guard let (chip, offset) = Self.locate(lineName, in: state) else { return [] }
            return state.chips[chip].lines[offset].history
        }
    }

    /// The consumer holding a line, or nil when it is free.
    public func consumer(of lineName: String) -> String? {
        state.withLock { state in
            guard let (chip, offset) = Self.locate(lineName, in: state) else { return nil }
            let line = state.chips[chip].lines[offset]
            return line.request != nil ? line.consumer : state.busy[lineName]
        }
    }

    // MARK: - Fault injection

    /// The next value read of any request fails with this errno (EIO by default).
    /// Starts recording every line read, write and edge read, in order ("read GPIO27",
    /// "write GPIO20=inactive", "edges GPIO27"), for tests of the order of the I/O.
    public func startTrace() { state.withLock { $0.trace = [] } }

    /// The operations since `startTrace` (or the last call), and tracing goes on.
    public func takeTrace() -> [String] {
        state.withLock { state in
            defer { if state.trace != nil { state.trace = [] } }
            return state.trace ?? []
        }
    }

    public func failNextRead(errno code: Int32 = EIO) { state.withLock { $0.failNextRead = code } }
    /// The next edge event read of any request fails with this errno (EIO by default).
    public func failNextEdgeRead(errno code: Int32 = EIO) { state.withLock { $0.failNextEdgeRead = code } }
    /// The next value set of any request fails with this errno, as a whole: no line is set (as one
    /// libgpiod v2 request fails).
    public func failNextSet(errno code: Int32 = EIO) { state.withLock { $0.failNextSet = code } }
    /// The next write to each of these lines fails with its errno while the request's other lines
    /// are still set, as libgpiod v1 sets a request's lines one by one.
    public func failNextSet(lines: [String: Int32]) {
        state.withLock { $0.failLinesNextSet.merge(lines) { _, new in new } }
    }
    /// While true, edges are lost as when the kernel's event buffer overflows.
    public func dropEvents(_ drop: Bool) { state.withLock { $0.dropEvents = drop } }
    /// Another program holds this line: requesting it fails with EBUSY naming `consumer`.
    public func holdLine(_ lineName: String, consumer: String) { state.withLock { $0.busy[lineName] = consumer } }
    /// Queues an edge event on a requested input without changing its level, as the kernel does
    /// for a pulse shorter than it can sample: `rising` on an asserted line is "rising, rising",
    /// its falling edge lost.
    public func emitEdge(_ lineName: String, _ edge: EdgeEvent.Edge) {
        let time = clock()
        state.withLock { state in
            guard let (chip, offset) = Self.locate(lineName, in: state) else {
                preconditionFailure("no simulated line named \(lineName)")
            }
            for (id, request) in state.requests where request.chip == chip && request.isInput && request.offsets.contains(offset) {
                var request = request
                request.pending.append(EdgeEvent(offset: offset, edge: edge, timestampNanoseconds: time))
                if let fd = request.signalFD {
                    var one: UInt8 = 1
                    _ = write(fd, &one, 1)  // EAGAIN only when the pipe is already full, i.e. already readable
                }
                state.requests[id] = request
            }
        }
    }

    /// The chip disappears: every operation on it fails with ENODEV, as on unplug or driver unbind.
    public func vanish(chip index: Int = 0) { state.withLock { $0.chips[index].vanished = true } }

    // MARK: - Internals shared with the chip and request types

    static func physical(_ line: Line) -> Bool {
        if line.request != nil && line.isOutput { return line.outputHigh }
        switch line.drive {
        case .high: return true
        case .low: return false
        case .floating: return line.request != nil && line.bias == .pullUp
        }
    }

    static func logical(_ line: Line) -> Level { Level(physical(line) != line.activeLow) }

    static func locate(_ name: String, in state: State) -> (Int, Int)? {
        for (c, chip) in state.chips.enumerated() {
            if let o = chip.lines.firstIndex(where: { $0.name == name }) { return (c, o) }
        }
        return nil
    }

    func now() -> UInt64 { clock() }

    /// Applies a change and turns every resulting logical change of a requested input into an event.
    func mutateLine(_ lineName: String, _ change: (inout State, Int, Int) -> Void) {
        let time = clock()
        state.withLock { state in
            guard let (chip, offset) = Self.locate(lineName, in: state) else {
                preconditionFailure("no simulated line named \(lineName)")
            }
            change(&state, chip, offset)
            Self.deliverEdges(&state, chip: chip, time: time)
        }
    }

    static func deliverEdges(_ state: inout State, chip: Int, time: UInt64) {
        for (id, request) in state.requests where request.chip == chip && request.isInput {
            var request = request
            var signalled = false
            for (index, offset) in request.offsets.enumerated() {
                let level = logical(state.chips[chip].lines[offset])
                guard level != request.lastLogical[index] else { continue }
                request.lastLogical[index] = level
                if state.dropEvents { continue }
                request.pending.append(EdgeEvent(offset: offset, edge: level.isActive ? .rising : .falling,
                                                 timestampNanoseconds: time))
                signalled = true
            }
            if signalled, let fd = request.signalFD {
                var one: UInt8 = 1
                _ = write(fd, &one, 1)  // EAGAIN only when the pipe is already full, i.e. already readable
            }
            state.requests[id] = request
        }
    }
}

extension SimulatedGPIO.Request {
    func closeDescriptors() {
        if let eventFD { close(eventFD) }
        if let signalFD { close(signalFD) }
    }
}

/// CLOCK_MONOTONIC in nanoseconds (the kernel's edge event clock).
@Sendable public func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
