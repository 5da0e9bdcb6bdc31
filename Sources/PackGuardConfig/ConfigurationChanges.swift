/// What a configuration reload changes, key by key, for the log.
public struct ConfigurationChange: Sendable, Equatable, CustomStringConvertible {
    /// The key path, as in the file: `timing.qualifyMs`, `outputs.chargeRelay.line`.
    public var key: String
    /// nil when the key is new (a signal wired by the new file) or gone.
    public var old: String?
    public var new: String?

    public var description: String { "\(key): \(old ?? "(none)") -> \(new ?? "(none)")" }

    /// Keys that take effect only at the next start: the control socket is bound, the hardware
    /// watchdog is open with its timeout set, and the threads' scheduling and memory lock are set.
    public var needsRestart: Bool { key.hasPrefix("paths.") || key.hasPrefix("watchdog.") || key.hasPrefix("realtime.") }
}

extension PackGuardConfiguration {
    /// Every key whose effective value differs between `self` and `other`, in file order. Derived
    /// from the effective configuration, so a new setting is covered without being listed here.
    public func changes(to other: PackGuardConfiguration) -> [ConfigurationChange] {
        let before = Self.keyedValues(effectiveYAML)
        let after = Self.keyedValues(other.effectiveYAML)
        let oldValues = Dictionary(before, uniquingKeysWith: { first, _ in first })
        let newValues = Dictionary(after, uniquingKeysWith: { first, _ in first })
        var changes: [ConfigurationChange] = []
        var seen = Set<String>()
        for (key, _) in after + before where seen.insert(key).inserted {
            if oldValues[key] != newValues[key] {
                changes.append(ConfigurationChange(key: key, old: oldValues[key], new: newValues[key]))
            }
        }
        return changes
    }

    /// `key.path: value` for every scalar of the effective YAML (two-space indents, no lists).
    private static func keyedValues(_ yaml: String) -> [(String, String)] {
        var path: [String] = []
        var result: [(String, String)] = []
        for raw in yaml.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = Substring(raw)
            if let comment = line.firstRange(of: "  # ") { line = line[..<comment.lowerBound] }
            let indent = line.prefix { $0 == " " }.count / 2
            let text = line.drop { $0 == " " }
            guard !text.hasPrefix("#"), let colon = text.firstIndex(of: ":") else { continue }
            let key = String(text[..<colon])
            let value = text[text.index(after: colon)...].trimmingPrefix(" ")
            path = Array(path.prefix(indent)) + [key]
            if !value.isEmpty { result.append((path.joined(separator: "."), String(value))) }
        }
        return result
    }
}
