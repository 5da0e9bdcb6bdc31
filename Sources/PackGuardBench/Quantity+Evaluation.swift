import PackGuardCAN
import PackGuardADC
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO

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
        Setting.quantityNames(in: configuration)
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
        for (key, quantity) in self.timing.sorted(by: { $0.key < $1.key }) {
            try Self.apply(.number(quantity), to: "timing.\(key)", in: &configuration, base: base, source: source)
        }
        for (key, override) in self.soc.sorted(by: { $0.key < $1.key }) {
            try Self.apply(override, to: "soc.\(key)", in: &configuration, base: base, source: source)
        }
        if configuration.policy.soc.enabled { configuration.adc.enabled = true }
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
        configuration.policy.inputs = InputSignals(configuration.inputs.keys)
        configuration.policy.outputs = OutputSignals(configuration.outputs.keys)
        // The policy's precharge rules follow the ADC wiring, which the changes above may have altered.
        configuration.policy.precharge = PackGuardConfiguration.rules(configuration.precharge, adc: configuration.adc)
    }

    private func applyCAN(to configuration: inout PackGuardConfiguration, base: PackGuardConfiguration,
                          source: String) throws(ScenarioError) {
        guard !can.isEmpty else { return }
        for (key, override) in can.sorted(by: { $0.key < $1.key }) {
            try Self.apply(override, to: "can.\(key)", in: &configuration, base: base, source: source)
        }
    }

    /// Sets one table setting from a scenario's value (a quantity is evaluated in `base`).
    static func apply(_ override: SocOverride, to key: String, in configuration: inout PackGuardConfiguration,
                      base: PackGuardConfiguration, source: String) throws(ScenarioError) {
        guard let setting = Setting.named(key) else {
            throw ScenarioError(source: source, line: nil, column: nil, message: "unknown setting '\(key)'")
        }
        let applied: Bool
        switch override {
        case .number(let quantity): applied = setting.set(number: try quantity.value(in: base, source: source), in: &configuration)
        case .flag(let on): applied = setting.set(flag: on, in: &configuration)
        case .action(let action): applied = setting.set(word: action.rawValue, in: &configuration) == nil
        case .word(let word):
            if let problem = setting.set(word: word, in: &configuration) {
                throw ScenarioError(source: source, line: nil, column: nil, message: problem)
            }
            applied = true
        }
        if !applied {
            throw ScenarioError(source: source, line: nil, column: nil, message: "cannot set \(key) to \(override)")
        }
    }

    /// The line and ADS1115 input the bench wires for a precharge (hardware/precharge.md).
    public static let benchPrechargeRelayLine = "GPIO19"

    private func applyPrecharge(to configuration: inout PackGuardConfiguration, base: PackGuardConfiguration,
                                source: String) throws(ScenarioError) {
        guard !precharge.isEmpty else { return }
        var sensed = true
        for (key, override) in precharge.sorted(by: { $0.key < $1.key }) {
            if key == "sensing", case .word(let word) = override {
                sensed = word == "busVoltage"
                continue
            }
            try Self.apply(override, to: "precharge.\(key)", in: &configuration, base: base, source: source)
        }
        var settings = configuration.precharge
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
