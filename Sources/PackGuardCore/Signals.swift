/// A signal's logical level. Physical polarity (active-low, bias) exists only in configuration.
public enum Level: Sendable, Hashable, CustomStringConvertible {
    case active
    case inactive

    public init(_ isActive: Bool) { self = isActive ? .active : .inactive }

    public var isActive: Bool { self == .active }
    public var description: String { self == .active ? "active" : "inactive" }
}

/// The inputs PackGuard reads. Raw values are the configuration keys.
public enum InputSignal: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case chargeEnable
    case dischargeEnable
    case chargerSafety
    case balanceSwitch
    case chargeContactorFeedback
    case dischargeContactorFeedback

    /// Words a user recognises, with the BMS pin where there is one.
    public var description: String {
        switch self {
        case .chargeEnable: "Charge Enable (BMS pin 1)"
        case .dischargeEnable: "Discharge Enable (BMS pin 3)"
        case .chargerSafety: "Charger Safety (BMS pin 5)"
        case .balanceSwitch: "balancing switch"
        case .chargeContactorFeedback: "charge contactor feedback"
        case .dischargeContactorFeedback: "discharge contactor feedback"
        }
    }

    /// Inputs without which PackGuard cannot do its job.
    public var isRequired: Bool { self == .chargeEnable || self == .dischargeEnable }
}

/// The outputs PackGuard drives. Raw values are the configuration keys.
public enum OutputSignal: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case chargeRelay
    case dischargeRelay
    case balancePowerRelay
    case shoreChargerRelay
    case statusLed
    case heartbeat
    /// Switches a precharge resistor around the discharge contactor (optional).
    case prechargeRelay

    public var description: String {
        switch self {
        case .chargeRelay: "charge relay"
        case .dischargeRelay: "discharge relay"
        case .balancePowerRelay: "balance-power relay (BMS CHARGE input, pin 4)"
        case .shoreChargerRelay: "shore charger relay"
        case .statusLed: "status LED"
        case .heartbeat: "heartbeat"
        case .prechargeRelay: "precharge relay"
        }
    }

    /// Relays switch power; the LED and heartbeat only indicate.
    public var isRelay: Bool {
        switch self {
        case .chargeRelay, .dischargeRelay, .balancePowerRelay, .shoreChargerRelay, .prechargeRelay: true
        case .statusLed, .heartbeat: false
        }
    }

    public var isRequired: Bool { self == .chargeRelay || self == .dischargeRelay }

    /// The two contactor relays, which qualify before they close.
    public var isContactor: Bool { self == .chargeRelay || self == .dischargeRelay }
}

/// Signals whose GPIO line a configuration reload changed (another line, chip, polarity or
/// bias): their old readings and outputs say nothing about the new line.
public struct Relocation: Sendable, Equatable {
    public var inputs: InputSignals
    public var outputs: OutputSignals

    public init(inputs: InputSignals = [], outputs: OutputSignals = []) {
        self.inputs = inputs
        self.outputs = outputs
    }

    public var isEmpty: Bool { inputs.isEmpty && outputs.isEmpty }
}

/// The two contactor relays that the BMS enables gate.
public enum Contactor: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case charge
    case discharge

    public var relay: OutputSignal { self == .charge ? .chargeRelay : .dischargeRelay }
    public var enable: InputSignal { self == .charge ? .chargeEnable : .dischargeEnable }
    public var feedback: InputSignal {
        self == .charge ? .chargeContactorFeedback : .dischargeContactorFeedback
    }
    public var description: String { rawValue }
}

/// A fixed slot per input signal, stored inline: no dictionary and no heap allocation on the
/// control path (copying one copies six values).
///
/// Inlinable, so that callers in other modules specialize it: an unspecialized generic access
/// looks its type's metadata up at run time, on the off reflex's path too.
public struct PerInput<Value> {
    @usableFromInline var slots: InlineArray<6, Value>

    @inlinable
    public init(repeating value: Value) {
        slots = InlineArray(repeating: value)
    }

    @inlinable
    public subscript(signal: InputSignal) -> Value {
        get { slots[signal.index] }
        set { slots[signal.index] = newValue }
    }
}

extension PerInput: Sendable where Value: Sendable {}
extension PerInput: Equatable where Value: Equatable {
    public static func == (lhs: PerInput, rhs: PerInput) -> Bool {
        InputSignal.allCases.allSatisfy { lhs[$0] == rhs[$0] }
    }
}

/// A fixed slot per output signal, stored inline.
public struct PerOutput<Value> {
    @usableFromInline var slots: InlineArray<7, Value>

    @inlinable
    public init(repeating value: Value) {
        slots = InlineArray(repeating: value)
    }

    @inlinable
    public subscript(signal: OutputSignal) -> Value {
        get { slots[signal.index] }
        set { slots[signal.index] = newValue }
    }
}

extension PerOutput: Sendable where Value: Sendable {}
extension PerOutput: Equatable where Value: Equatable {
    public static func == (lhs: PerOutput, rhs: PerOutput) -> Bool {
        OutputSignal.allCases.allSatisfy { lhs[$0] == rhs[$0] }
    }
}

extension InputSignal {
    @inlinable
    public var index: Int {
        switch self {
        case .chargeEnable: 0
        case .dischargeEnable: 1
        case .chargerSafety: 2
        case .balanceSwitch: 3
        case .chargeContactorFeedback: 4
        case .dischargeContactorFeedback: 5
        }
    }
}

extension OutputSignal {
    @inlinable
    public var index: Int {
        switch self {
        case .chargeRelay: 0
        case .dischargeRelay: 1
        case .balancePowerRelay: 2
        case .shoreChargerRelay: 3
        case .statusLed: 4
        case .heartbeat: 5
        case .prechargeRelay: 6
        }
    }
}
