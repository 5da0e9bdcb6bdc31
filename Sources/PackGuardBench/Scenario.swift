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

    public init() {}

    public var isEmpty: Bool { timing.isEmpty && soc.isEmpty && !simulatedContactors && lines.isEmpty }
}

public enum SocOverride: Sendable, Equatable {
    case number(Quantity)
    case flag(Bool)
    case action(SocFaultAction)
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

        public static func == (lhs: Action, rhs: Action) -> Bool { "\(lhs)" == "\(rhs)" }
    }

    public var action: Action
    public var line: Int
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
}
