import PackGuardADC
import PackGuardCAN
import PackGuardCore
import PackGuardGPIO
import PackGuardYAML

/// Parses and strictly validates PackGuard's YAML configuration. Every problem is collected and
/// reported with its file, line and key; nothing is silently ignored or defaulted away.
public enum ConfigurationLoader {
    /// Parses `text` (read from `file`, used only in messages).
    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> PackGuardConfiguration {
        let root: YAMLNode?
        do {
            root = try YAMLDocument.compose(text)
        } catch {
            throw ConfigurationError(issues: [ConfigurationIssue(file: file, line: error.line, column: error.column, keyPath: "",
                                                                 message: "not valid YAML: \(error.message)")])
        }
        guard let root else {
            throw ConfigurationError(issues: [ConfigurationIssue(
                file: file, line: nil, column: nil, keyPath: "", message: "the file is empty")])
        }
        var reader = Reader(file: file)
        let configuration = reader.document(root)
        guard reader.issues.isEmpty, let configuration else {
            throw ConfigurationError(issues: reader.issues)
        }
        return configuration
    }
}

/// Bounds of the per-input `adc.channels` keys: outside them a value is a typo or a wiring mistake.
enum ADCChannelBounds {
    /// Volts at the ADS1115 pin per volt at the BMS pin: R_bottom / (R_top + R_bottom).
    static let dividerRatio = 0.01...1.0
    static let calibrationOffsetVolts = -1.0...1.0
    static let calibrationGain = 0.5...2.0
}

/// Bounds of the `can.messages` keys.
enum CANMessageBounds {
    static let periodMs = 1...60_000
    static let scale = -1_000_000.0...1_000_000.0
    static let offset = -1_000_000.0...1_000_000.0
}

/// Walks the YAML tree, collecting issues instead of stopping at the first.
private struct Reader {
    let file: String
    var issues: [ConfigurationIssue] = []

    init(file: String) { self.file = file }

    mutating func fail(_ node: YAMLNode?, _ path: String, _ message: String) {
        issues.append(ConfigurationIssue(file: file, line: node?.mark.line, column: node?.mark.column,
                                         keyPath: path, message: message))
    }

    /// The entries of a mapping, with unknown keys reported (and a suggestion where one is close).
    mutating func mapping(_ node: YAMLNode, _ path: String, allowed: [String]) -> [String: (key: YAMLNode, value: YAMLNode)]? {
        guard case .mapping(let mapping, _) = node else {
            fail(node, path, "expected a mapping of keys to values")
            return nil
        }
        var entries: [String: (key: YAMLNode, value: YAMLNode)] = [:]
        for pair in mapping {
            let (key, value) = (pair.key, pair.value)
            guard let name = key.string else {
                fail(key, path, "keys must be plain words")
                continue
            }
            let keyPath = path.isEmpty ? name : "\(path).\(name)"
            guard allowed.contains(name) else {
                let hint = closest(to: name, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
                fail(key, keyPath, "unknown key\(hint); allowed here: \(allowed.joined(separator: ", "))")
                continue
            }
            entries[name] = (key, value)
        }
        return entries
    }

    mutating func int(_ entries: [String: (key: YAMLNode, value: YAMLNode)], _ key: String, _ path: String,
                      default fallback: Int, in range: ClosedRange<Int>, unit: String = "") -> Int {
        guard let (_, node) = entries[key] else { return fallback }
        let keyPath = "\(path).\(key)"
        guard case .scalar = node, let value = node.int else {
            fail(node, keyPath, "expected a whole number\(unit.isEmpty ? "" : " of \(unit)"), \(got(node, node.numberAdvice))")
            return fallback
        }
        guard range.contains(value) else {
            fail(node, keyPath, "\(value) is outside the sane range \(range.lowerBound)...\(range.upperBound)\(unit.isEmpty ? "" : " \(unit)")")
            return fallback
        }
        return value
    }

    mutating func double(_ entries: [String: (key: YAMLNode, value: YAMLNode)], _ key: String, _ path: String,
                         default fallback: Double, in range: ClosedRange<Double>) -> Double {
        guard let (_, node) = entries[key] else { return fallback }
        let keyPath = "\(path).\(key)"
        guard case .scalar = node, let value = node.double ?? node.int.map(Double.init), value.isFinite else {
            fail(node, keyPath, "expected a number, \(got(node, node.numberAdvice))")
            return fallback
        }
        guard range.contains(value) else {
            fail(node, keyPath, "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
            return fallback
        }
        return value
    }

    mutating func bool(_ entries: [String: (key: YAMLNode, value: YAMLNode)], _ key: String, _ path: String,
                       default fallback: Bool?) -> Bool? {
        guard let (keyNode, node) = entries[key] else {
            if fallback == nil { fail(nil, "\(path).\(key)", "required (true or false)") }
            return fallback
        }
        _ = keyNode
        guard case .scalar(let scalar) = node, ["true", "false"].contains(scalar.text) else {
            fail(node, "\(path).\(key)", "expected true or false, \(got(node, node.booleanAdvice))")
            return fallback
        }
        return scalar.text == "true"
    }

    mutating func string(_ entries: [String: (key: YAMLNode, value: YAMLNode)], _ key: String, _ path: String,
                         default fallback: String?) -> String? {
        guard let (_, node) = entries[key] else { return fallback }
        guard case .scalar(let scalar) = node, !scalar.text.isEmpty else {
            fail(node, "\(path).\(key)", "expected text")
            return fallback
        }
        if isNull(scalar) {
            fail(node, "\(path).\(key)", nullMessage(scalar))
            return fallback
        }
        return scalar.text
    }

    mutating func absolutePath(_ entries: [String: (key: YAMLNode, value: YAMLNode)], _ key: String, _ path: String,
                               default fallback: String) -> String {
        let value = string(entries, key, path, default: fallback) ?? fallback
        if !value.hasPrefix("/") {
            fail(entries[key]?.value, "\(path).\(key)", "expected an absolute path, got '\(value)'")
        }
        return value
    }

    // MARK: The document

    /// The keys the file gives, key path → value node (sections included), for locating problems
    /// that span several keys.
    var given: [String: YAMLNode] = [:]

    /// Keys the loader reads itself, beside the scalar settings of `Setting.all`.
    static let structured = ["configVersion", "inputs", "outputs", "adc.channels", "can.messages"]

    /// The keys allowed directly under `path`, in table order: settings, sections and structured parts.
    static func children(of path: String, in table: [Setting]) -> [String] {
        let prefix = path.isEmpty ? "" : path + "."
        var names: [String] = []
        for key in (path.isEmpty ? structured : []) + table.map(\.key) + structured
        where key.hasPrefix(prefix) {
            let name = String(key.dropFirst(prefix.count).prefix { $0 != "." })
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    mutating func document(_ root: YAMLNode) -> PackGuardConfiguration? {
        let table = Setting.all
        guard let entries = mapping(root, "", allowed: Self.children(of: "", in: table)) else { return nil }
        given[""] = root
        if let (_, node) = entries["configVersion"], node.int != 1 {
            fail(node, "configVersion", "this PackGuard reads configVersion 1, got '\(node.string ?? "?")'\(node.numberAdvice.map { "; \($0)" } ?? "")")
        }
        let inputs = signals(entries["inputs"], "inputs", InputSignal.self, isRequired: \.isRequired) { reader, node, path in
            reader.inputLine(node, path)
        }
        let outputs = signals(entries["outputs"], "outputs", OutputSignal.self, isRequired: \.isRequired) { reader, node, path in
            reader.outputLine(node, path)
        }
        checkLinesAreDistinct(inputs: inputs, outputs: outputs)
        var configuration = PackGuardConfiguration(source: file, inputs: inputs, outputs: outputs)
        settings(entries, under: "", table: table, into: &configuration)
        structuredParts(into: &configuration)
        // The policy's rules follow the whole file (the precharge completes by sensing only with the ADC).
        configuration.policy.precharge = PackGuardConfiguration.rules(configuration.precharge, adc: configuration.adc)
        configuration.policy.can = configuration.can.rules
        for rule in CrossFieldRule.all {
            guard let message = rule.problem(in: configuration) else { continue }
            let located = given
            let node = rule.at.lazy.compactMap { located[$0] }.first ?? located[Setting.section(of: rule.key)]
            fail(node, rule.key, message)
        }
        return configuration
    }

    /// Reads every scalar setting of the mapping at `path`, and walks into its sections.
    mutating func settings(_ entries: [String: (key: YAMLNode, value: YAMLNode)], under path: String, table: [Setting],
                           into configuration: inout PackGuardConfiguration) {
        for name in Self.children(of: path, in: table) {
            guard let (_, node) = entries[name] else { continue }
            let key = path.isEmpty ? name : "\(path).\(name)"
            given[key] = node
            if Self.structured.contains(key) { continue }
            if let setting = table.first(where: { $0.key == key }) {
                read(setting, node, into: &configuration)
            } else if let section = mapping(node, key, allowed: Self.children(of: key, in: table)) {
                settings(section, under: key, table: table, into: &configuration)
            }
        }
    }

    /// One scalar setting; a wrong value is reported and the default kept.
    mutating func read(_ setting: Setting, _ node: YAMLNode, into configuration: inout PackGuardConfiguration) {
        let key = setting.key
        let unit = setting.unit.words
        switch setting.value {
        case .integer(let path, let range, _):
            guard case .scalar = node, let value = node.int else {
                fail(node, key, "expected a whole number\(unit.isEmpty ? "" : " of \(unit)"), \(got(node, node.numberAdvice))")
                return
            }
            guard range.contains(value) else {
                fail(node, key, "\(value) is outside the sane range \(range.lowerBound)...\(range.upperBound)\(unit.isEmpty ? "" : " \(unit)")")
                return
            }
            configuration[keyPath: path] = value
        case .number(let path, let range):
            if let value = number(node, key, in: range) { configuration[keyPath: path] = value }
        case .optionalNumber(let path, let range):
            if let value = number(node, key, in: range) { configuration[keyPath: path] = value }
        case .flag(let path):
            guard case .scalar(let scalar) = node, ["true", "false"].contains(scalar.text) else {
                fail(node, key, "expected true or false, \(got(node, node.booleanAdvice))")
                return
            }
            configuration[keyPath: path] = scalar.text == "true"
        case .text(let path, _, let check):
            guard case .scalar(let scalar) = node, !scalar.text.isEmpty else {
                fail(node, key, "expected text")
                return
            }
            if isNull(scalar) {
                fail(node, key, nullMessage(scalar))
                return
            }
            if let problem = check(scalar.text) {
                fail(node, key, problem)
            } else {
                configuration[keyPath: path] = scalar.text
            }
        case .choice(let choice):
            guard case .scalar(let scalar) = node, choice.write(&configuration, scalar.text) else {
                let hint = node.string.flatMap { closest(to: $0, in: choice.names) }.map { " (did you mean '\($0)'?)" } ?? ""
                // "one of a, b, got 'c'"; a phrase with its own list reads better as "...; got 'c'".
                let separator = choice.expected.hasPrefix("one of") ? "," : ";"
                fail(node, key, "expected \(choice.expected)\(separator) got '\(node.string ?? "a collection")'\(hint)")
                return
            }
        }
    }

    mutating func number(_ node: YAMLNode, _ key: String, in range: ClosedRange<Double>) -> Double? {
        guard case .scalar = node, let value = node.double ?? node.int.map(Double.init), value.isFinite else {
            fail(node, key, "expected a number, \(got(node, node.numberAdvice))")
            return nil
        }
        guard range.contains(value) else {
            fail(node, key, "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return value
    }

    /// `adc.channels` and `can.messages`, once the scalars they depend on are read.
    mutating func structuredParts(into configuration: inout PackGuardConfiguration) {
        if let channels = given["adc.channels"] {
            configuration.adc.ads1115.channels = adcChannels(channels)
        }
        // What only the whole device can tell: pin voltages against VDD and the PGA, timing. Checked once
        // every adc key is right, so that a value replaced by its default is not judged in combinations.
        if let adc = given["adc"], !issues.contains(where: { $0.keyPath == "adc" || $0.keyPath.hasPrefix("adc.") }) {
            for problem in configuration.adc.ads1115.validate() { fail(adc, "adc", problem) }
        }
        if let messages = given["can.messages"] {
            if configuration.can.table == .custom {
                configuration.can.messages = canMessages(messages)
            } else {
                fail(messages, "can.messages", "messages replace the built-in table: set can.preset: custom to use them")
            }
        } else if configuration.can.table == .custom {
            fail(given["can.preset"], "can.messages", "can.preset: custom needs can.messages (the decoding table)")
        }
    }

    mutating func signals<Signal: RawRepresentable & CaseIterable & Hashable, Line>(
        _ entry: (key: YAMLNode, value: YAMLNode)?, _ path: String, _: Signal.Type, isRequired: (Signal) -> Bool,
        line: (inout Reader, YAMLNode, String) -> Line?
    ) -> [Signal: Line] where Signal.RawValue == String {
        let names = Signal.allCases.map(\.rawValue)
        guard let entry else {
            fail(nil, path, "required: the section that maps signals to GPIO lines is missing")
            return [:]
        }
        guard let entries = mapping(entry.value, path, allowed: names) else { return [:] }
        var result: [Signal: Line] = [:]
        for signal in Signal.allCases {
            guard let (_, node) = entries[signal.rawValue] else {
                if isRequired(signal) { fail(entry.value, "\(path).\(signal.rawValue)", "required: \(signal) must be wired to a GPIO line") }
                continue
            }
            if let value = line(&self, node, "\(path).\(signal.rawValue)") { result[signal] = value }
        }
        return result
    }

    mutating func locator(_ node: YAMLNode, _ path: String, _ entries: [String: (key: YAMLNode, value: YAMLNode)]) -> LineLocator? {
        let name = string(entries, "line", path, default: nil)
        let chip = string(entries, "chip", path, default: nil)
        let hasOffset = entries["offset"] != nil
        switch (name, chip, hasOffset) {
        case (let name?, nil, false):
            return .name(name)
        case (nil, let chip?, true):
            let offset = int(entries, "offset", path, default: -1, in: 0...1023)
            return offset < 0 ? nil : .chipOffset(chip: chip, offset: offset)
        case (.some, _, _):
            fail(node, path, "give either 'line' (a line name such as GPIO17) or 'chip' and 'offset', not both")
        default:
            fail(node, path, "missing 'line' (a line name such as GPIO17), or 'chip' and 'offset'")
        }
        return nil
    }

    mutating func inputLine(_ node: YAMLNode, _ path: String) -> InputLineConfiguration? {
        guard let entries = mapping(node, path, allowed: ["line", "chip", "offset", "activeLow", "bias"]) else { return nil }
        let locator = locator(node, path, entries)
        let activeLow = bool(entries, "activeLow", path, default: nil)
        var bias: LineBias?
        if let (_, biasNode) = entries["bias"] {
            bias = biasNode.string.flatMap(LineBias.init(rawValue:))
            if bias == nil {
                fail(biasNode, "\(path).bias", "expected one of \(LineBias.allCases.map(\.rawValue).joined(separator: ", ")), got '\(biasNode.string ?? "?")'")
            }
        } else {
            fail(node, "\(path).bias", "required for inputs: pullUp for the BMS's open-drain outputs and switches to ground")
        }
        guard let locator, let activeLow, let bias else { return nil }
        return InputLineConfiguration(locator: locator, activeLow: activeLow, bias: bias, sourceLine: node.mark.line)
    }

    mutating func outputLine(_ node: YAMLNode, _ path: String) -> OutputLineConfiguration? {
        guard let entries = mapping(node, path, allowed: ["line", "chip", "offset", "activeLow"]) else { return nil }
        let locator = locator(node, path, entries)
        let activeLow = bool(entries, "activeLow", path, default: nil)
        guard let locator, let activeLow else { return nil }
        return OutputLineConfiguration(locator: locator, activeLow: activeLow, sourceLine: node.mark.line)
    }

    mutating func checkLinesAreDistinct(inputs: [InputSignal: InputLineConfiguration],
                                        outputs: [OutputSignal: OutputLineConfiguration]) {
        var seen: [LineLocator: (path: String, isOutput: Bool)] = [:]
        let all: [(path: String, locator: LineLocator, line: Int, isOutput: Bool)] =
            InputSignal.allCases.compactMap { s in inputs[s].map { ("inputs.\(s.rawValue)", $0.locator, $0.sourceLine, false) } }
            + OutputSignal.allCases.compactMap { s in outputs[s].map { ("outputs.\(s.rawValue)", $0.locator, $0.sourceLine, true) } }
        for entry in all {
            if let first = seen[entry.locator] {
                let what = first.isOutput == entry.isOutput
                    ? "two signals on one line"
                    : "an output on an input's line"
                issues.append(ConfigurationIssue(file: file, line: entry.line, column: nil, keyPath: entry.path,
                                                 message: "\(what): \(entry.locator) is already used by \(first.path)"))
            } else {
                seen[entry.locator] = (entry.path, entry.isOutput)
            }
        }
    }

    /// `adc.channels`: AIN0...AIN3, each carrying one signal (or unused). Inputs not listed are unused.
    mutating func adcChannels(_ node: YAMLNode) -> [ADCChannelConfiguration] {
        let names = (0...3).map { "AIN\($0)" }
        let keys = ["signal", "dividerRatio", "calibrationOffsetVolts", "calibrationGain", "scale", "plausible", "unit"]
        let signalChoices = AnalogSignal.allCases.map(\.rawValue) + ["unused"]
        guard let entries = mapping(node, "adc.channels", allowed: names) else { return ADS1115Configuration().channels }
        var channels: [ADCChannelConfiguration] = []
        var firstUse: [AnalogSignal: String] = [:]
        for (index, name) in names.enumerated() {
            guard let (_, channelNode) = entries[name] else { continue }
            let path = "adc.channels.\(name)"
            guard let c = mapping(channelNode, path, allowed: keys) else { continue }
            var signal: AnalogSignal?
            var isUsable = true
            if let (_, signalNode) = c["signal"] {
                if case .scalar = signalNode, signalNode.string == "unused" {
                    for key in keys where key != "signal" {
                        if let (keyNode, _) = c[key] {
                            fail(keyNode, "\(path).\(key)", "an unused input has only 'signal: unused': remove this key or give the input a signal")
                        }
                    }
                    continue
                }
                if case .scalar = signalNode, let known = signalNode.string.flatMap(AnalogSignal.init(rawValue:)) {
                    signal = known
                    if let first = firstUse[known] {
                        fail(signalNode, "\(path).signal", "\(known.rawValue) is already read from \(first): each signal comes from one input")
                        isUsable = false
                    } else {
                        firstUse[known] = name
                    }
                } else {
                    let hint = signalNode.string.flatMap { closest(to: $0, in: signalChoices) }.map { " (did you mean '\($0)'?)" } ?? ""
                    fail(signalNode, "\(path).signal", "expected one of \(signalChoices.joined(separator: ", ")), got '\(signalNode.string ?? "a collection")'\(hint)")
                    isUsable = false
                }
            } else {
                fail(channelNode, "\(path).signal", "required: \(signalChoices.joined(separator: ", "))")
                isUsable = false
            }
            // The rest is read even when the signal is wrong, so that every error is reported at once.
            var channel = ADS1115Configuration.template(for: signal ?? .soc)
            channel.channel = index
            channel.dividerRatio = double(c, "dividerRatio", path, default: channel.dividerRatio, in: ADCChannelBounds.dividerRatio)
            channel.calibrationOffsetVolts = double(c, "calibrationOffsetVolts", path, default: channel.calibrationOffsetVolts,
                                                    in: ADCChannelBounds.calibrationOffsetVolts)
            channel.calibrationGain = double(c, "calibrationGain", path, default: channel.calibrationGain,
                                             in: ADCChannelBounds.calibrationGain)
            if let (_, scaleNode) = c["scale"], let s = mapping(scaleNode, "\(path).scale", allowed: ["volts", "units"]) {
                if let (_, voltsNode) = s["volts"], let volts = range(voltsNode, "\(path).scale.volts", what: "volts at the BMS pin") {
                    channel.scale.volts = volts
                }
                if let (_, unitsNode) = s["units"], let units = range(unitsNode, "\(path).scale.units", what: "units") {
                    channel.scale.units = units
                }
            }
            if let (_, plausibleNode) = c["plausible"],
               let plausible = range(plausibleNode, "\(path).plausible", what: "the lowest and highest plausible value") {
                channel.plausibleUnits = plausible
            }
            channel.unit = string(c, "unit", path, default: channel.unit) ?? channel.unit
            if isUsable { channels.append(channel) }
        }
        return channels
    }

    /// A `[low, high]` pair of finite numbers with low < high.
    mutating func range(_ node: YAMLNode, _ path: String, what: String) -> ClosedRange<Double>? {
        let numbers: [Double]? = node.sequence.flatMap { items in
            let values = items.compactMap { item -> Double? in
                guard case .scalar = item, let value = item.double ?? item.int.map(Double.init), value.isFinite else { return nil }
                return value
            }
            return values.count == items.count ? values : nil
        }
        guard let numbers, numbers.count == 2 else {
            let advice = node.sequence?.lazy.compactMap { item in item.numberAdvice.map { "; '\(item.string ?? "")': \($0)" } }.first
            fail(node, path, "expected [low, high]: two numbers, \(what)\(advice ?? "")")
            return nil
        }
        guard numbers[0] < numbers[1] else {
            fail(node, path, "[\(numbers[0]), \(numbers[1])] is empty or reversed: the first number must be below the second")
            return nil
        }
        return numbers[0]...numbers[1]
    }

}

extension Reader {

    mutating func canMessages(_ node: YAMLNode) -> [CANMessageLayout] {
        guard case .sequence(let sequence, _) = node, !sequence.isEmpty else {
            fail(node, "can.messages", "expected a list of messages (id, length, checksum, periodMs, fields)")
            return []
        }
        var messages: [CANMessageLayout] = []
        var seen: Set<CANIdentifier> = []
        for (index, item) in Array(sequence).enumerated() {
            let path = "can.messages[\(index)]"
            guard let e = mapping(item, path, allowed: ["id", "extended", "length", "checksum", "periodMs", "fields"]) else { continue }
            let extended = bool(e, "extended", path, default: false) ?? false
            guard let (_, idNode) = e["id"] else {
                fail(item, "\(path).id", "required: the CAN identifier, e.g. 0x6B0")
                continue
            }
            guard let idValue = canNumber(idNode) else {
                fail(idNode, "\(path).id", "expected a CAN identifier such as 0x6B0, \(got(idNode, idNode.numberAdvice))")
                continue
            }
            let id = CANIdentifier(idValue, extended: extended)
            if !seen.insert(id).inserted { fail(idNode, "\(path).id", "\(id) appears more than once") }
            var layout = CANMessageLayout(id: id, fields: [])
            layout.length = int(e, "length", path, default: 8, in: 1...8, unit: "bytes")
            if let (_, checksumNode) = e["checksum"] {
                if let checksum = checksumNode.string.flatMap(CANChecksum.init(rawValue:)) {
                    layout.checksum = checksum
                } else {
                    fail(checksumNode, "\(path).checksum", "expected one of \(CANChecksum.allCases.map(\.rawValue).joined(separator: ", ")), got '\(checksumNode.string ?? "?")'")
                }
            }
            layout.periodMs = int(e, "periodMs", path, default: layout.periodMs, in: CANMessageBounds.periodMs, unit: "milliseconds")
            if let (_, fieldsNode) = e["fields"], case .sequence(let fields, _) = fieldsNode, !fields.isEmpty {
                for (fieldIndex, fieldNode) in Array(fields).enumerated() {
                    if let field = canField(fieldNode, "\(path).fields[\(fieldIndex)]") { layout.fields.append(field) }
                }
            } else {
                fail(e["fields"]?.value ?? item, "\(path).fields", "expected a list of fields (quantity, start, length, ...)")
            }
            for problem in layout.problems() { fail(item, path, problem) }
            messages.append(layout)
        }
        return messages
    }

    mutating func canField(_ node: YAMLNode, _ path: String) -> CANField? {
        let keys = ["quantity", "start", "length", "byteOrder", "signed", "scale", "offset", "bit", "unit"]
        guard let e = mapping(node, path, allowed: keys) else { return nil }
        guard let (_, quantityNode) = e["quantity"], let quantity = quantityNode.string.flatMap(CANQuantity.init(rawValue:)) else {
            fail(e["quantity"]?.value ?? node, "\(path).quantity", "expected one of \(CANQuantity.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        var field = CANField(quantity, start: 0, length: 1)
        field.start = int(e, "start", path, default: 0, in: 0...7, unit: "bytes")
        field.length = int(e, "length", path, default: 1, in: 1...4, unit: "bytes")
        if let (_, orderNode) = e["byteOrder"] {
            if let order = orderNode.string.flatMap(CANByteOrder.init(rawValue:)) {
                field.byteOrder = order
            } else {
                fail(orderNode, "\(path).byteOrder", "expected bigEndian or littleEndian, got '\(orderNode.string ?? "?")'")
            }
        }
        field.signed = bool(e, "signed", path, default: false) ?? false
        field.scale = double(e, "scale", path, default: 1, in: CANMessageBounds.scale)
        field.offset = double(e, "offset", path, default: 0, in: CANMessageBounds.offset)
        if e["bit"] != nil { field.bit = int(e, "bit", path, default: 0, in: 0...31) }
        // The unit is the quantity's; a unit in the file is a check that the author means the same.
        if let unit = string(e, "unit", path, default: nil), unit != quantity.unit {
            fail(e["unit"]?.value, "\(path).unit", "\(quantity.rawValue) is in '\(quantity.unit)', not '\(unit)': scale the raw value to \(quantity.unit)")
        }
        return field
    }

    /// 0x6B0, 1712 or "0x6B0"; not 01712, which YAML 1.1 reads as octal.
    func canNumber(_ node: YAMLNode) -> UInt32? {
        guard case .scalar(let scalar) = node else { return nil }
        let text = scalar.text
        if scalar.style == .plain, node.numberAdvice != nil, !text.hasPrefix("0X") { return nil }
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt32(text.dropFirst(2), radix: 16) }
        return UInt32(text)
    }
}

/// "got 'x'", and what to write instead when YAML versions read `x` differently.
func got(_ node: YAMLNode, _ advice: String?) -> String {
    "got '\(node.string ?? "a collection")'" + (advice.map { "; \($0)" } ?? "")
}

/// `~` and `null` are no value at all to YAML (and to any other tool reading the file), not the text.
func isNull(_ scalar: YAMLScalar) -> Bool {
    scalar.style == .plain && ["~", "null", "Null", "NULL"].contains(scalar.text)
}

func nullMessage(_ scalar: YAMLScalar) -> String {
    "expected text, got '\(scalar.text)', which YAML reads as no value: quote it if it is the text"
}

/// The allowed word nearest to a misspelt key, if it is close enough to be a likely typo.
func closest(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
    return best.0
}
