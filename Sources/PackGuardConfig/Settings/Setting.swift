/// One scalar setting of the configuration file, declared once: where it is in the file, what it
/// is measured in, where it lives in `PackGuardConfiguration`, what it may be, and what it means.
/// The loader, the effective-configuration printer, the bench's scenario quantities and the
/// reference tables of hardware/CONFIG.md all come from `Setting.all`; the default is whatever the
/// owning type starts with, read through the key path, so it is written only there.
public struct Setting {
    /// The key path in the file: `timing.qualifyMs`, `watchdog.hardware.timeoutS`.
    public let key: String
    public let unit: SettingUnit
    /// One line for the reference table.
    public let doc: String
    let value: Value

    enum Value {
        case integer(WritableKeyPath<PackGuardConfiguration, Int>, ClosedRange<Int>, shownAs: IntegerStyle)
        case number(WritableKeyPath<PackGuardConfiguration, Double>, ClosedRange<Double>)
        /// A number that may be absent (no default): printed only when given.
        case optionalNumber(WritableKeyPath<PackGuardConfiguration, Double?>, ClosedRange<Double>)
        case flag(WritableKeyPath<PackGuardConfiguration, Bool>)
        /// Text, with a check that returns the problem (nil when the text is acceptable).
        case text(WritableKeyPath<PackGuardConfiguration, String>, allowed: String, check: (String) -> String?)
        case choice(Choice)
    }

    enum IntegerStyle {
        case decimal
        case hexadecimal
    }

    /// One of a fixed list of words or numbers.
    struct Choice {
        /// Every accepted value, as written in the file.
        let names: [String]
        /// How the message describes what is expected, e.g. "one of 8, 16, ... (samples per second)".
        let expected: String
        let read: (PackGuardConfiguration) -> String
        /// Stores the value written as `text`; false when `text` is not one of `names`.
        let write: (inout PackGuardConfiguration, String) -> Bool
    }

    /// The section the key is in (`timing`, `watchdog.hardware`) and its own name.
    public var section: String { Self.section(of: key) }
    public var name: String { String(key.split(separator: ".").last ?? "") }

    /// `watchdog.hardware` for `watchdog.hardware.timeoutS`; "" for a top-level key.
    public static func section(of key: String) -> String {
        key.split(separator: ".").dropLast().joined(separator: ".")
    }

    /// The value in `configuration`, as the file writes it (nil for an absent optional number).
    public func text(in configuration: PackGuardConfiguration) -> String? {
        switch value {
        case .integer(let path, _, .decimal): String(configuration[keyPath: path])
        case .integer(let path, _, .hexadecimal): "0x" + String(configuration[keyPath: path], radix: 16, uppercase: true)
        case .number(let path, _): "\(configuration[keyPath: path])"
        case .optionalNumber(let path, _): configuration[keyPath: path].map { "\($0)" }
        case .flag(let path): "\(configuration[keyPath: path])"
        case .text(let path, _, _): Self.yamlScalar(configuration[keyPath: path])
        case .choice(let choice): choice.read(configuration)
        }
    }

    /// The value as a number, for scenario quantities; nil for flags, text and words.
    public func number(in configuration: PackGuardConfiguration) -> Double? {
        switch value {
        case .integer(let path, _, _): Double(configuration[keyPath: path])
        case .number(let path, _): configuration[keyPath: path]
        case .optionalNumber(let path, _): configuration[keyPath: path]
        case .flag, .text, .choice: nil
        }
    }

    /// Whether the value is a number (so a scenario may give it as a quantity).
    public var isNumeric: Bool {
        switch value {
        case .integer, .number, .optionalNumber: true
        case .flag, .text, .choice: false
        }
    }

    public var isFlag: Bool {
        if case .flag = value { true } else { false }
    }

    /// Why `word` cannot be this setting's value, or nil when it can (for words and text).
    public func problem(word: String) -> String? {
        switch value {
        case .choice(let choice): choice.names.contains(word) || {
                var probe = PackGuardConfiguration(source: "", inputs: [:], outputs: [:])
                return choice.write(&probe, word)
            }() ? nil : "\(key) must be \(choice.expected), got '\(word)'"
        case .text(_, _, let check): check(word).map { "\(key): \($0)" }
        case .integer, .number, .optionalNumber, .flag: "\(key) takes a number or a flag, not '\(word)'"
        }
    }

    /// What the value may be, for the reference table: `20–60000`, `true or false`, `one of ...`.
    public var allowed: String {
        switch value {
        case .integer(_, let range, .decimal): "\(range.lowerBound)–\(range.upperBound)"
        case .integer(_, let range, .hexadecimal):
            "0x\(String(range.lowerBound, radix: 16, uppercase: true))–0x\(String(range.upperBound, radix: 16, uppercase: true))"
        case .number(_, let range), .optionalNumber(_, let range): "\(Self.short(range.lowerBound))–\(Self.short(range.upperBound))"
        case .flag: "`true`, `false`"
        case .text(_, let allowed, _): allowed
        case .choice(let choice): choice.names.map { "`\($0)`" }.joined(separator: ", ")
        }
    }

    /// Sets a numeric setting (scenario overrides); false when the setting is not numeric.
    public func set(number: Double, in configuration: inout PackGuardConfiguration) -> Bool {
        switch value {
        case .integer(let path, _, _): configuration[keyPath: path] = Int(number.rounded())
        case .number(let path, _): configuration[keyPath: path] = number
        case .optionalNumber(let path, _): configuration[keyPath: path] = number
        case .flag, .text, .choice: return false
        }
        return true
    }

    /// Sets a flag (scenario overrides); false when the setting is not a flag.
    public func set(flag: Bool, in configuration: inout PackGuardConfiguration) -> Bool {
        guard case .flag(let path) = value else { return false }
        configuration[keyPath: path] = flag
        return true
    }

    /// Sets a choice or text from its word (scenario overrides): the problem, or nil once set.
    public func set(word: String, in configuration: inout PackGuardConfiguration) -> String? {
        switch value {
        case .choice(let choice):
            return choice.write(&configuration, word) ? nil : "\(key) must be \(choice.expected), got '\(word)'"
        case .text(let path, _, let check):
            if let problem = check(word) { return "\(key): \(problem)" }
            configuration[keyPath: path] = word
            return nil
        case .integer, .number, .optionalNumber, .flag:
            return "\(key) is not a word setting"
        }
    }

    private static func short(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
    }

    /// Text as a YAML scalar: plain when it cannot be misread, double-quoted otherwise.
    static func yamlScalar(_ text: String) -> String {
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.-")
        if !text.isEmpty, text.allSatisfy(plain.contains), !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(text.lowercased()),
           Double(text) == nil, !text.hasPrefix("-") {
            return text
        }
        return yamlQuoted(text)
    }
}

/// What a setting is measured in. Durations carry their unit in the key's suffix (`Ms`, `S`,
/// `Hours`), and the table checks that the two agree.
public enum SettingUnit: String, CaseIterable, Sendable {
    case milliseconds = "ms"
    case seconds = "s"
    case hours = "h"
    case percent = "%"
    case volts = "V"
    case amperes = "A"
    case togglesPerSecond = "toggles/s"
    case openings
    case sequences
    case samples
    case connections
    case bitsPerSecond = "bit/s"
    case schedulingPriority = "SCHED_FIFO"
    /// A flag, a path, a name or a word.
    case none = ""

    /// As a message says it: "a whole number of milliseconds".
    public var words: String {
        switch self {
        case .milliseconds: "milliseconds"
        case .seconds: "seconds"
        case .hours: "hours"
        case .percent: "percent"
        case .volts: "volts"
        case .amperes: "amperes"
        case .togglesPerSecond: "toggles per second"
        case .openings: "openings"
        case .sequences: "sequences"
        case .samples: "samples"
        case .connections: "connections"
        case .bitsPerSecond: "bits per second"
        case .schedulingPriority: "SCHED_FIFO priority"
        case .none: ""
        }
    }

    /// Milliseconds per unit, for durations: scenarios wait in milliseconds.
    public var milliseconds: Int? {
        switch self {
        case .milliseconds: 1
        case .seconds: 1000
        case .hours: 3_600_000
        default: nil
        }
    }

    /// The suffix a key in this unit ends with, for durations.
    public var keySuffix: String? {
        switch self {
        case .milliseconds: "Ms"
        case .seconds: "S"
        case .hours: "Hours"
        default: nil
        }
    }
}

extension Setting {
    /// The names a scenario quantity may use for the numeric settings, with their values in
    /// `configuration`. Each setting is known by its section and name (`prechargeTimeMs`,
    /// `hardwareTimeoutS`), and by its bare name where that is unique (`qualifyMs`); a duration in
    /// seconds or hours is also known in milliseconds (`chatterWindowMs`, `balanceMaxMs`), since
    /// scenarios wait in milliseconds.
    public static func quantityNames(in configuration: PackGuardConfiguration) -> [String: Double] {
        let numeric = all.filter(\.isNumeric)
        let uses = Dictionary(grouping: numeric, by: \.name).mapValues(\.count)
        var names: [String: Double] = [:]
        for setting in numeric {
            guard let value = setting.number(in: configuration) else { continue }
            let section = String(setting.section.split(separator: ".").last ?? "")
            var known = [section + setting.name.prefix(1).uppercased() + setting.name.dropFirst()]
            if uses[setting.name] == 1 { known.append(setting.name) }
            for name in known {
                names[name] = value
                if let factor = setting.unit.milliseconds, factor != 1, let suffix = setting.unit.keySuffix, name.hasSuffix(suffix) {
                    names[name.dropLast(suffix.count) + "Ms"] = value * Double(factor)
                }
            }
        }
        return names
    }
}

/// A YAML double-quoted scalar: `%` and friends cannot start a plain one.
func yamlQuoted(_ text: String) -> String {
    var result = "\""
    for character in text.unicodeScalars {
        switch character {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        default: result.unicodeScalars.append(character)
        }
    }
    return result + "\""
}
