import PackGuardCore

// The GPIO module owns how a line is specified: the configuration maps its file onto these types,
// and nothing here knows about the file.

/// How a GPIO line is found: by its name on any chip (portable across Pi models), or by chip
/// and offset (for boards whose lines have no names).
public enum LineLocator: Sendable, Hashable, CustomStringConvertible {
    case name(String)
    case chipOffset(chip: String, offset: Int)

    public var description: String {
        switch self {
        case .name(let name): name
        case .chipOffset(let chip, let offset): "\(chip) offset \(offset)"
        }
    }
}

/// The kernel's bias settings for an input line.
public enum LineBias: String, CaseIterable, Sendable, Hashable {
    case pullUp
    case pullDown
    case disabled
    case asIs
}

/// Where an input signal is wired and how its physical level maps to active/inactive.
public struct InputLineConfiguration: Sendable, Hashable {
    public var locator: LineLocator
    public var activeLow: Bool
    public var bias: LineBias
    /// Line in the configuration file, for error messages.
    public var sourceLine: Int

    public init(locator: LineLocator, activeLow: Bool, bias: LineBias, sourceLine: Int = 0) {
        self.locator = locator
        self.activeLow = activeLow
        self.bias = bias
        self.sourceLine = sourceLine
    }
}

/// Where an output signal is wired and which physical level energises it.
public struct OutputLineConfiguration: Sendable, Hashable {
    public var locator: LineLocator
    public var activeLow: Bool
    public var sourceLine: Int

    public init(locator: LineLocator, activeLow: Bool, sourceLine: Int = 0) {
        self.locator = locator
        self.activeLow = activeLow
        self.sourceLine = sourceLine
    }
}

/// Which line each configured signal is wired to: all SignalLines needs to request them.
public struct LineWiring: Sendable, Equatable {
    public var inputs: [InputSignal: InputLineConfiguration]
    public var outputs: [OutputSignal: OutputLineConfiguration]

    public init(inputs: [InputSignal: InputLineConfiguration], outputs: [OutputSignal: OutputLineConfiguration]) {
        self.inputs = inputs
        self.outputs = outputs
    }
}
