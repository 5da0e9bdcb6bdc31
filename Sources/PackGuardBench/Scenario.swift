import PackGuardCore

/// A bench scenario: named steps run against the real controller logic on the mocked chip.
public struct Scenario: Sendable, Equatable {
    public var name: String
    public var description: String
    /// Where it came from ("bench/scenarios/x.yaml" or "built-in: x").
    public var source: String
    public var overrides: ConfigurationOverrides
    public var steps: [ScenarioStep]
}

/// Changes a scenario makes to the configuration under test, shown in the report.
public struct ConfigurationOverrides: Sendable, Equatable {
    public var timing: [String: Quantity] = [:]
    public var soc: [String: SocOverride] = [:]
    /// Wire simulated contactor auxiliary contacts (feedback inputs) that follow the relays.
    public var simulatedContactors = false
    /// Signals moved to another line (by name), e.g. `chargeRelay: GPIO5`: for `reload:` steps.
    public var lines: [String: String] = [:]
    /// `precharge` keys; with `enabled: true` the bench also wires the precharge relay (GPIO19) and,
    /// unless `sensing: timer`, the bus voltage on AIN3.
    public var precharge: [String: SocOverride] = [:]
    /// The simulated inverter behind the discharge contactor.
    public var inverter: InverterModel?
    /// `can` keys (enabled, preset, currentWhileOpen, bmsDisagrees, onStale and the numbers); with
    /// `enabled: true` the bench also runs a simulated BMS on the CAN bus.
    public var can: [String: SocOverride] = [:]

    public init() {}

    public var isEmpty: Bool {
        timing.isEmpty && soc.isEmpty && !simulatedContactors && lines.isEmpty && precharge.isEmpty && inverter == nil && can.isEmpty
    }
}

extension ConfigurationOverrides {
    /// "timing.qualifyMs = 800, precharge.enabled = true, chargeRelay on GPIO5", for reports.
    public var summary: String {
        func text(_ value: SocOverride) -> String {
            switch value {
            case .number(let q): "\(q)"
            case .flag(let b): "\(b)"
            case .action(let a): a.rawValue
            case .word(let w): w
            }
        }
        var parts = timing.sorted { $0.key < $1.key }.map { "timing.\($0.key) = \($0.value)" }
        parts += soc.sorted { $0.key < $1.key }.map { "soc.\($0.key) = \(text($0.value))" }
        parts += precharge.sorted { $0.key < $1.key }.map { "precharge.\($0.key) = \(text($0.value))" }
        parts += can.sorted { $0.key < $1.key }.map { "can.\($0.key) = \(text($0.value))" }
        if let inverter {
            parts.append("inverter \(inverter.capacitanceMf) mF through \(inverter.resistorOhms) Ω")
        }
        parts += lines.sorted { $0.key < $1.key }.map { "\($0.key) on \($0.value)" }
        if simulatedContactors { parts.append("simulated contactor feedback on GPIO24/GPIO25") }
        return parts.joined(separator: ", ")
    }
}

public enum SocOverride: Sendable, Equatable {
    case number(Quantity)
    case flag(Bool)
    case action(SocFaultAction)
    case word(String)
}

/// An inverter's input capacitance behind the discharge contactor, charged through the precharge
/// resistor: the bus voltage follows V_pack·(1 − e^(−t/RC)).
public struct InverterModel: Sendable, Equatable {
    public var capacitanceMf = 5.0
    public var resistorOhms = 10.0
    /// The bus voltage decays through the inverter's bleed resistors with this time constant.
    public var bleedTauS = 30.0

    public init() {}

    public var tauSeconds: Double { capacitanceMf / 1000 * resistorOhms }
}

/// A number written directly or as an expression over configuration values, such as
/// `startupHoldMs + qualifyMs + 10` or `dischargeCutoffSoc - 1`, so scenarios run unchanged on
/// any configuration.
public struct Quantity: Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var line: Int

    public init(text: String, line: Int) {
        self.text = text
        self.line = line
    }

    public var description: String { text }
}

public struct ScenarioStep: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// Drive inputs to a logical level, as the BMS, a switch or a contactor would.
        case set([(InputSignal, Level)])
        /// Set the state of charge seen by the ADC, in percent.
        case soc(Quantity)
        /// What the simulated BMS sends over CAN from now on (quantities by name; `silent`).
        case can(CANBusChange)
        case wait(Quantity)
        case fault(BenchFault)
        case clearFaults
        case command(OperatorCommand)
        case signal(String)
        /// A configuration reload (SIGHUP) with these changes over the running configuration.
        case reload(ConfigurationOverrides)
        /// Outputs must be in these states now, become so `within` ms, or stay so `for` ms.
        case expectOutputs([(OutputSignal, Level)], within: Quantity?, holdFor: Quantity?)
        case expectState(ControllerState)
        case expectFault(String, present: Bool)
        /// Some event since the previous event expectation has a reason containing this text.
        case expectEvent(String)
        /// Over the next `over` ms the heartbeat toggles at least `atLeastHz` times a second with no
        /// gap longer than 1/atLeastHz, or (nil) not at all.
        case expectHeartbeat(atLeastHz: Quantity?, over: Quantity)

        public static func == (lhs: Action, rhs: Action) -> Bool { "\(lhs)" == "\(rhs)" }
    }

    public var action: Action
    public var line: Int
}

/// A change to what the simulated BMS sends: values by quantity name (flags 0/1), and whether it
/// falls silent. Relay bits not given follow the enables the scenario sets.
public struct CANBusChange: Sendable, Equatable {
    public var values: [String: Double] = [:]
    public var silent: Bool?

    public init() {}
}

/// Faults the bench can inject.
public enum BenchFault: String, CaseIterable, Sendable, Equatable {
    case readError          // the next GPIO read fails (EIO)
    case readErrors         // every GPIO read fails until cleared
    case setError           // the next GPIO set fails (EIO)
    case loopStall          // the control loop misses its deadline
    case droppedEvents      // the kernel loses edge events
    case weldedCharge       // the charge contactor stays closed whatever its relay does
    case weldedDischarge
    case failedToCloseCharge     // the charge contactor never closes
    case failedToCloseDischarge
    case adcNack            // the ADS1115 stops answering
    case adcIOError
    case adcStuckBusy       // conversions never complete
    case adcFrozen          // the ADS1115 returns its last value forever
    case busShort           // the inverter's input is shorted: the bus stays at 0 V
}
