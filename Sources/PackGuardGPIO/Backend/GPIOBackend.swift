import PackGuardCore

/// Kernel-style bias for an input line.
public typealias Bias = LineBias

/// How to request one input line.
public struct InputLineSettings: Sendable, Equatable {
    public var offset: Int
    public var activeLow: Bool
    public var bias: Bias

    public init(offset: Int, activeLow: Bool, bias: Bias) {
        self.offset = offset
        self.activeLow = activeLow
        self.bias = bias
    }
}

/// How to request one output line, with the logical level it has from the first instant.
public struct OutputLineSettings: Sendable, Equatable {
    public var offset: Int
    public var activeLow: Bool
    public var initial: Level

    public init(offset: Int, activeLow: Bool, initial: Level) {
        self.offset = offset
        self.activeLow = activeLow
        self.initial = initial
    }
}

/// An edge seen on an input line, in logical terms.
public struct EdgeEvent: Sendable, Equatable {
    public enum Edge: Sendable, Equatable {
        /// Logical inactive → active.
        case rising
        /// Logical active → inactive.
        case falling
    }

    public var offset: Int
    public var edge: Edge
    public var timestampNanoseconds: UInt64

    public init(offset: Int, edge: Edge, timestampNanoseconds: UInt64) {
        self.offset = offset
        self.edge = edge
        self.timestampNanoseconds = timestampNanoseconds
    }
}

/// What the kernel says about one line.
public struct GPIOLineInfo: Sendable, Equatable {
    public var offset: Int
    public var name: String
    public var consumer: String
    public var used: Bool
    public var isOutput: Bool
    public var activeLow: Bool
    /// The bias the kernel reports (`.asIs` when it reports none, as for a free line).
    public var bias: Bias

    public init(offset: Int, name: String, consumer: String, used: Bool, isOutput: Bool, activeLow: Bool, bias: Bias = .asIs) {
        self.offset = offset
        self.name = name
        self.consumer = consumer
        self.used = used
        self.isOutput = isOutput
        self.activeLow = activeLow
        self.bias = bias
    }
}

/// Where chips come from: the real /dev/gpiochip* devices, or the simulated chip.
public protocol GPIOBackend: Sendable {
    /// Human description, e.g. "libgpiod v1 1.6.3" or "simulated chip".
    var description: String { get }
    /// Paths of every chip, in a stable order.
    func chipPaths() throws(GPIOError) -> [String]
    func openChip(_ path: String) throws(GPIOError) -> any GPIOChip
}

/// One open GPIO chip. Implementations own their handle and release it in deinit.
public protocol GPIOChip: AnyObject, Sendable {
    var path: String { get }
    var name: String { get }
    var label: String { get }
    var lineCount: Int { get }
    func lineInfo(offset: Int) throws(GPIOError) -> GPIOLineInfo
    /// The offset of the line with this exact name, or nil when the chip has none.
    func findLine(named name: String) throws(GPIOError) -> Int?
    /// Requests inputs with bias, active-low and both-edge events.
    func requestInputs(_ lines: [InputLineSettings], consumer: String) throws(GPIOError) -> any GPIOLineRequest
    /// Requests outputs, each at its initial level from the first instant.
    func requestOutputs(_ lines: [OutputLineSettings], consumer: String) throws(GPIOError) -> any GPIOLineRequest
}

/// Lines held by one request. Values are logical and in request order. Thread-safe; released
/// exactly once (by `release()` or deinit, whichever comes first).
public protocol GPIOLineRequest: AnyObject, Sendable {
    var chip: String { get }
    var offsets: [Int] { get }
    /// Pollable (POLLIN) while edge events are pending; nil for outputs.
    var eventFileDescriptor: Int32? { get }
    /// Reads every line's logical value into `buffer` (one slot per line, request order) without
    /// allocating: the control loop calls this several times a second.
    func readValues(into buffer: UnsafeMutableBufferPointer<Level>) throws(GPIOError)
    /// Sets every line (one value per line, request order) without allocating. A line that fails
    /// never stops the others from being attempted; the error lists every line not set.
    func writeValues(_ values: UnsafeBufferPointer<Level>) throws(GPIOError)
    /// Pending edge events, without blocking; empty when none.
    func readEdgeEvents() throws(GPIOError) -> [EdgeEvent]
    func release()
}

extension GPIOLineRequest {
    /// Sets every line, in request order.
    public func setValues(_ values: [Level]) throws(GPIOError) {
        try values.withUnsafeBufferPointer { (buffer) throws(GPIOError) in try writeValues(buffer) }
    }

    /// Every line's logical value, in request order.
    public func values() throws(GPIOError) -> [Level] {
        var levels = [Level](repeating: .inactive, count: offsets.count)
        try levels.withUnsafeMutableBufferPointer { (buffer) throws(GPIOError) in try readValues(into: buffer) }
        return levels
    }
}
