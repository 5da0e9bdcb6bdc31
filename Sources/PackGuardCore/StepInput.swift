/// What one input looked like when the shell read it.
public enum InputReading: Sendable, Equatable {
    case level(Level)
    /// The read failed; the text says how (operation, line, errno).
    case failed(String)
}

/// A state-of-charge sample from the ADC layer.
public enum SocSample: Sendable, Equatable {
    case percent(Double)
    /// The ADC layer could not produce a trustworthy value; the text says why.
    case invalid(String)
}

/// A voltage measured for the precharge (bus or pack), from the ADC layer.
public enum VoltageSample: Sendable, Equatable {
    case volts(Double)
    /// No trustworthy value; the text says why.
    case invalid(String)
}

/// Operator commands, from the control socket or the bench.
public enum OperatorCommand: Sendable, Equatable {
    /// Clear latched faults (refused while a cause persists).
    case reset
    /// Hold every relay open (true) or release that hold (false).
    case forceOff(Bool)
}

/// Everything the shell observed since the previous step.
public struct StepInput: Sendable, Equatable {
    /// Readings of this step; `nil` means the input was not read in this step.
    public var readings: PerInput<InputReading?>
    /// A new SOC sample, or `nil` when none was taken in this step.
    public var soc: SocSample?
    /// The inverter side of the discharge contactor, and the pack, for the precharge; `nil`
    /// when not read in this step.
    public var busVoltage: VoltageSample?
    public var packVoltage: VoltageSample?
    /// What the BMS reported over CAN, when CAN is enabled (every step); `nil` otherwise.
    public var can: CANPackValues?
    /// Set when applying the previous step's outputs failed: the text names output and errno.
    public var outputFailure: String?
    /// Set when the internal watchdog found the control loop late (it has already forced the
    /// relays off; the policy must agree with the hardware).
    public var loopDeadlineMissed: Bool
    public var commands: [OperatorCommand]

    public init(
        readings: PerInput<InputReading?> = PerInput(repeating: nil),
        soc: SocSample? = nil,
        busVoltage: VoltageSample? = nil,
        packVoltage: VoltageSample? = nil,
        can: CANPackValues? = nil,
        outputFailure: String? = nil,
        loopDeadlineMissed: Bool = false,
        commands: [OperatorCommand] = []
    ) {
        self.readings = readings
        self.soc = soc
        self.busVoltage = busVoltage
        self.packVoltage = packVoltage
        self.can = can
        self.outputFailure = outputFailure
        self.loopDeadlineMissed = loopDeadlineMissed
        self.commands = commands
    }

    /// One input seen released, nothing else: a release edge (or one the kernel merged away) as
    /// the shell steps it.
    public static func released(_ signal: InputSignal) -> StepInput {
        var input = StepInput()
        input.readings[signal] = .level(.inactive)
        return input
    }

    /// Convenience for tests and the bench: every given input read as the given level.
    public static func levels(_ levels: [InputSignal: Level]) -> StepInput {
        var input = StepInput()
        for (signal, level) in levels { input.readings[signal] = .level(level) }
        return input
    }
}
