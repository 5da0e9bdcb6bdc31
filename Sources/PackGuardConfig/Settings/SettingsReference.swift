import PackGuardCore

/// The reference tables of hardware/CONFIG.md, generated from `Setting.all` and
/// `CrossFieldRule.all`. Each table sits between `<!-- settings: SECTION -->` and
/// `<!-- /settings -->` (the rules between `<!-- rules -->` and `<!-- /rules -->`); the text around
/// them is written by hand. `packguard check-config --update-reference FILE` rewrites the blocks,
/// and a test fails when the file and the table disagree.
public enum SettingsReference {
    /// The Markdown table of one section's settings.
    public static func table(section: String) -> String {
        let defaults = PackGuardConfiguration(source: "<defaults>", inputs: [:], outputs: [:])
        var lines = ["| Key | Default | Allowed | Unit | Meaning |", "|-----|---------|---------|------|---------|"]
        for setting in Setting.all where setting.section == section {
            let value = setting.text(in: defaults).map { "`\($0)`" } ?? "none"
            // A bar inside a cell would end it.
            let cells = [value, setting.allowed, setting.unit.rawValue, setting.doc].map { $0.replacing("|", with: "\\|") }
            lines.append("| `\(setting.name)` | " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    /// Every rule between settings, as a list.
    public static var rules: String {
        CrossFieldRule.all.map { "- \($0.doc) (reported at `\($0.key)`)" }.joined(separator: "\n")
    }

    /// `text` with every marked block replaced by what the table generates now.
    public static func updating(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var result: [String] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            result.append(line)
            index += 1
            let generated: String?
            let end: String
            if line.hasPrefix("<!-- settings: "), line.hasSuffix(" -->") {
                generated = table(section: String(line.dropFirst("<!-- settings: ".count).dropLast(" -->".count)))
                end = "<!-- /settings -->"
            } else if line == "<!-- rules -->" {
                generated = rules
                end = "<!-- /rules -->"
            } else {
                continue
            }
            guard let generated, let close = lines[index...].firstIndex(of: end) else { continue }
            result.append(generated)
            index = close
        }
        lines = result
        return lines.joined(separator: "\n")
    }

    /// Every section of the table, in its order.
    public static var sections: [String] {
        var names: [String] = []
        for setting in Setting.all where !names.contains(setting.section) { names.append(setting.section) }
        return names
    }
}
