import PackGuardCAN
import PackGuardADC
import PackGuardConfig
import PackGuardCore

/// A scenario problem, located in its file.
public struct ScenarioError: Error, Sendable, Equatable, CustomStringConvertible {
    public var source: String
    public var line: Int?
    public var column: Int?
    public var message: String

    public var description: String {
        var location = source
        if let line { location += ":\(line)" }
        if let column { location += ":\(column)" }
        return "\(location): \(message)"
    }
}

extension Quantity {
    /// The names a quantity may use, with their values in this configuration.
    static func variables(_ configuration: PackGuardConfiguration) -> [String: Double] {
        let t = configuration.timing
        let s = configuration.policy.soc
        return [
            "startupHoldMs": Double(t.startupHoldMs), "qualifyMs": Double(t.qualifyMs), "minOffMs": Double(t.minOffMs),
            "chatterLimit": Double(t.chatterLimit), "chatterWindowMs": Double(t.chatterWindowS * 1000),
            "switchDebounceMs": Double(t.switchDebounceMs), "balanceMaxMs": Double(t.balanceMaxHours * 3_600_000),
            "feedbackTimeoutMs": Double(t.feedbackTimeoutMs), "inputStaleMs": Double(t.inputStaleMs),
            "reconcileMs": Double(t.reconcileMs), "loopDeadlineMs": Double(t.loopDeadlineMs),
            "dischargeCutoffSoc": s.dischargeCutoffSoc, "chargeStopSoc": s.chargeStopSoc,
            "socHysteresis": s.socHysteresis, "socStaleMs": Double(s.socStaleMs),
            "minToggleHz": Double(configuration.heartbeat.minToggleHz),
            "prechargeTimeMs": Double(configuration.precharge.timeMs),
            "prechargeTimeoutMs": Double(configuration.precharge.timeoutMs),
            "overlapMs": Double(configuration.precharge.overlapMs),
        ]
    }

    /// Evaluates `a + b - c * 2` over numbers and configuration names (left to right, `*` first).
    public func value(in configuration: PackGuardConfiguration, source: String) throws(ScenarioError) -> Double {
        let variables = Self.variables(configuration)
        var tokens: [String] = []
        var current = ""
        for character in text where !character.isWhitespace {
            if "+-*".contains(character) {
                if !current.isEmpty { tokens.append(current) }
                tokens.append(String(character))
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        func operand(_ token: String) throws(ScenarioError) -> Double {
            if let number = Double(token) { return number }
            if let value = variables[token] { return value }
            let known = variables.keys.sorted().joined(separator: ", ")
            throw ScenarioError(source: source, line: line, column: nil,
                                message: "'\(token)' in '\(text)' is neither a number nor one of: \(known)")
        }
        // Terms separated by + and -, each a product of operands.
        var total = 0.0
        var sign = 1.0
        var index = 0
        var expectOperand = true
        var product: Double?
        while index < tokens.count {
            let token = tokens[index]
            if expectOperand {
                if token == "-" && product == nil { sign = -sign; index += 1; continue }
                let value = try operand(token)
                product = (product ?? 1) * value
                expectOperand = false
            } else if token == "*" {
                expectOperand = true
            } else if token == "+" || token == "-" {
                total += sign * (product ?? 0)
                product = nil
                sign = token == "-" ? -1 : 1
                expectOperand = true
            } else {
                throw ScenarioError(source: source, line: line, column: nil, message: "cannot read '\(text)' as a quantity")
            }
            index += 1
        }
        guard !expectOperand, let last = product else {
            throw ScenarioError(source: source, line: line, column: nil, message: "'\(text)' ends without a value")
        }
        return total + sign * last
    }

    public func milliseconds(in configuration: PackGuardConfiguration, source: String) throws(ScenarioError) -> Int64 {
        let value = try value(in: configuration, source: source)
        guard value >= 0 else {
            throw ScenarioError(source: source, line: line, column: nil, message: "'\(text)' is \(value) ms: a duration cannot be negative")
        }
        return Int64(value.rounded())
    }
}

extension ConfigurationOverrides {
    /// Applies the scenario's configuration changes (quantities may refer to the base values).
    public func apply(to configuration: inout PackGuardConfiguration, source: String = "scenario") throws(ScenarioError) {
        let base = configuration
        var timing = configuration.policy.timing
        for (key, quantity) in self.timing.sorted(by: { $0.key < $1.key }) {
            let value = Int(try quantity.value(in: base, source: source).rounded())
            switch key {
            case "startupHoldMs": timing.startupHoldMs = value
            case "qualifyMs": timing.qualifyMs = value
            case "minOffMs": timing.minOffMs = value
            case "chatterLimit": timing.chatterLimit = value
            case "chatterWindowS": timing.chatterWindowS = value
            case "switchDebounceMs": timing.switchDebounceMs = value
            case "balanceMaxHours": timing.balanceMaxHours = value
            case "feedbackTimeoutMs": timing.feedbackTimeoutMs = value
            case "inputStaleMs": timing.inputStaleMs = value
            case "reconcileMs": timing.reconcileMs = value
            case "loopDeadlineMs": timing.loopDeadlineMs = value
            default: throw ScenarioError(source: source, line: quantity.line, column: nil, message: "unknown timing '\(key)'")
            }
        }
        configuration.policy.timing = timing
        var soc = configuration.policy.soc
        for (key, override) in self.soc.sorted(by: { $0.key < $1.key }) {
            switch (key, override) {
            case ("enabled", .flag(let on)): soc.enabled = on
            case ("onSocFault", .action(let action)): soc.onSocFault = action
            case ("dischargeCutoffSoc", .number(let q)): soc.dischargeCutoffSoc = try q.value(in: base, source: source)
            case ("chargeStopSoc", .number(let q)): soc.chargeStopSoc = try q.value(in: base, source: source)
            case ("socHysteresis", .number(let q)): soc.socHysteresis = try q.value(in: base, source: source)
            case ("socStaleMs", .number(let q)): soc.socStaleMs = Int(try q.value(in: base, source: source).rounded())
            default: throw ScenarioError(source: source, line: nil, column: nil, message: "cannot set soc.\(key) to \(override)")
            }
        }
        configuration.policy.soc = soc
        if soc.enabled { configuration.adc.enabled = true }
        for (key, line) in lines.sorted(by: { $0.key < $1.key }) {
            if let input = InputSignal(rawValue: key) {
                // A newly wired input is an open-drain signal to ground, like every BMS output.
                var wired = configuration.inputs[input] ?? InputLineConfiguration(locator: .name(line), activeLow: true, bias: .pullUp)
                wired.locator = .name(line)
                configuration.inputs[input] = wired
            } else if let output = OutputSignal(rawValue: key) {
                var wired = configuration.outputs[output] ?? OutputLineConfiguration(locator: .name(line), activeLow: false)
                wired.locator = .name(line)
                configuration.outputs[output] = wired
            } else {
                throw ScenarioError(source: source, line: nil, column: nil, message: "lines: '\(key)' is not an input or output signal")
            }
        }
        try applyPrecharge(to: &configuration, base: base, source: source)
        try applyCAN(to: &configuration, base: base, source: source)
        configuration.policy.inputs = Set(configuration.inputs.keys)
        configuration.policy.outputs = Set(configuration.outputs.keys)
        // The policy's precharge rules follow the ADC wiring, which the changes above may have altered.
        configuration.policy.precharge = PackGuardConfiguration.rules(configuration.precharge, adc: configuration.adc)
    }

    private func applyCAN(to configuration: inout PackGuardConfiguration, base: PackGuardConfiguration,
                          source: String) throws(ScenarioError) {
        guard !can.isEmpty else { return }
        var settings = configuration.can
        for (key, override) in can.sorted(by: { $0.key < $1.key }) {
            switch (key, override) {
            case ("enabled", .flag(let on)): settings.rules.enabled = on
            case ("currentWhileOpen", .flag(let on)): settings.rules.currentWhileOpen = on
            case ("bmsDisagrees", .flag(let on)): settings.rules.bmsDisagrees = on
            case ("onStale", .word(let word)):
                guard let action = CANStaleAction(rawValue: word) else {
                    throw ScenarioError(source: source, line: nil, column: nil, message: "can.onStale must be ignore or openAll, got '\(word)'")
                }
                settings.rules.onStale = action
            case ("preset", .word(let word)):
                guard let preset = CANPreset(rawValue: word) else {
                    throw ScenarioError(source: source, line: nil, column: nil, message: "can.preset must be orionDefault or victron, got '\(word)'")
                }
                settings.table = preset == .victron ? .victron : .orionDefault
                settings.messages = preset.messages
            case ("staleMs", .number(let q)): settings.rules.staleMs = Int(try q.value(in: base, source: source).rounded())
            case ("openCurrentA", .number(let q)): settings.rules.openCurrentA = try q.value(in: base, source: source)
            case ("openCurrentMs", .number(let q)): settings.rules.openCurrentMs = Int(try q.value(in: base, source: source).rounded())
            case ("disagreeMs", .number(let q)): settings.rules.disagreeMs = Int(try q.value(in: base, source: source).rounded())
            default: throw ScenarioError(source: source, line: nil, column: nil, message: "cannot set can.\(key) to \(override)")
            }
        }
        configuration.can = settings
    }

    /// The line and ADS1115 input the bench wires for a precharge (hardware/precharge.md).
    public static let benchPrechargeRelayLine = "GPIO19"

    private func applyPrecharge(to configuration: inout PackGuardConfiguration, base: PackGuardConfiguration,
                                source: String) throws(ScenarioError) {
        guard !precharge.isEmpty else { return }
        var settings = configuration.precharge
        var sensed = true
        for (key, override) in precharge.sorted(by: { $0.key < $1.key }) {
            switch (key, override) {
            case ("enabled", .flag(let on)): settings.enabled = on
            case ("sensing", .word(let word)): sensed = word == "busVoltage"
            case ("targetPercent", .number(let q)): settings.targetPercent = try q.value(in: base, source: source)
            case ("packVoltageV", .number(let q)): settings.packVoltageV = try q.value(in: base, source: source)
            case (_, .number(let q)):
                let value = Int(try q.value(in: base, source: source).rounded())
                switch key {
                case "timeMs": settings.timeMs = value
                case "timeoutMs": settings.timeoutMs = value
                case "overlapMs": settings.overlapMs = value
                case "maxAttempts": settings.maxAttempts = value
                case "attemptWindowS": settings.attemptWindowS = value
                default: throw ScenarioError(source: source, line: q.line, column: nil, message: "unknown precharge key '\(key)'")
                }
            default: throw ScenarioError(source: source, line: nil, column: nil, message: "cannot set precharge.\(key) to \(override)")
            }
        }
        if settings.enabled {
            if configuration.outputs[.prechargeRelay] == nil {
                configuration.outputs[.prechargeRelay] = OutputLineConfiguration(locator: .name(Self.benchPrechargeRelayLine), activeLow: false)
            }
            if sensed {
                configuration.adc.enabled = true
                if configuration.adc.ads1115.channel(for: .busVoltage) == nil {
                    configuration.adc.ads1115.channels.removeAll { $0.channel == 3 }
                    configuration.adc.ads1115.channels.append(ADS1115Configuration.template(for: .busVoltage))
                }
                if settings.packVoltageV == nil { settings.packVoltageV = 51.2 }
            }
        }
        configuration.precharge = settings
    }
}
