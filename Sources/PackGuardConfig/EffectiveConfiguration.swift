import PackGuardADC
import PackGuardCore
import PackGuardGPIO

extension PackGuardConfiguration {
    /// The configuration as the controller will use it, every default filled in, as YAML that
    /// `check-config` prints and that parses back to the same configuration.
    public var effectiveYAML: String {
        var lines = ["# effective configuration from \(source)", "configVersion: 1", "inputs:"]
        for signal in InputSignal.allCases {
            guard let line = inputs[signal] else { continue }
            lines.append("  \(signal.rawValue):  # \(signal)")
            lines += locatorLines(line.locator)
            lines.append("    activeLow: \(line.activeLow)")
            lines.append("    bias: \(line.bias.rawValue)")
        }
        lines.append("outputs:")
        for signal in OutputSignal.allCases {
            guard let line = outputs[signal] else { continue }
            lines.append("  \(signal.rawValue):  # \(signal)")
            lines += locatorLines(line.locator)
            lines.append("    activeLow: \(line.activeLow)")
        }
        // Every scalar from the settings table, in its order, with the structured parts at the end of
        // their section.
        var open: [String] = []
        for setting in Setting.all {
            let section = setting.section.split(separator: ".").map(String.init)
            let shared = zip(open, section).prefix { $0 == $1 }.count
            if shared < open.count { lines += structuredLines(closing: open.joined(separator: ".")) }
            for depth in shared..<section.count {
                lines.append(String(repeating: "  ", count: depth) + section[depth] + ":")
            }
            open = section
            guard let value = setting.text(in: self) else { continue }
            lines.append(String(repeating: "  ", count: section.count) + "\(setting.name): \(value)")
        }
        lines += structuredLines(closing: open.joined(separator: "."))
        return lines.joined(separator: "\n") + "\n"
    }

    /// What the loader reads itself, at the end of its section: `adc.channels`, `can.messages`.
    private func structuredLines(closing section: String) -> [String] {
        switch section {
        case "adc": adcChannelLines
        case "can": canMessageLines
        default: []
        }
    }

    /// The decoding table, only when it is the file's own.
    private var canMessageLines: [String] {
        var lines: [String] = []
        guard can.table == .custom else { return lines }
        lines.append("  messages:")
        for message in can.messages {
            lines += [
                "    - id: 0x\(String(message.id.value, radix: 16, uppercase: true))",
                "      extended: \(message.id.extended)",
                "      length: \(message.length)",
                "      checksum: \(message.checksum.rawValue)",
                "      periodMs: \(message.periodMs)",
                "      fields:",
            ]
            for field in message.fields {
                lines.append("        - { quantity: \(field.quantity.rawValue), start: \(field.start), length: \(field.length), "
                    + "byteOrder: \(field.byteOrder.rawValue), signed: \(field.signed), scale: \(field.scale), offset: \(field.offset)"
                    + (field.bit.map { ", bit: \($0)" } ?? "") + " }")
            }
        }
        return lines
    }

    /// `adc.channels`: every input listed (unused ones as `signal: unused`).
    private var adcChannelLines: [String] {
        let device = adc.ads1115
        var lines = ["  channels:"]
        for input in 0...3 {
            guard let channel = device.channels.first(where: { $0.channel == input }) else {
                lines += ["    AIN\(input):", "      signal: unused"]
                continue
            }
            let scale = channel.scale
            lines += [
                "    AIN\(input):  # \(channel.signal.displayName), \(channel.signal.source)",
                "      signal: \(channel.signal.rawValue)",
                "      dividerRatio: \(channel.dividerRatio)",
                "      calibrationOffsetVolts: \(channel.calibrationOffsetVolts)",
                "      calibrationGain: \(channel.calibrationGain)",
                "      scale: { volts: [\(scale.volts.lowerBound), \(scale.volts.upperBound)], "
                    + "units: [\(scale.units.lowerBound), \(scale.units.upperBound)] }",
                "      plausible: [\(channel.plausibleUnits.lowerBound), \(channel.plausibleUnits.upperBound)]",
                "      unit: \(quoted(channel.unit))",
            ]
        }
        return lines
    }

    private func quoted(_ text: String) -> String { yamlQuoted(text) }

    private func locatorLines(_ locator: LineLocator) -> [String] {
        switch locator {
        case .name(let name): ["    line: \(name)"]
        case .chipOffset(let chip, let offset): ["    chip: \(chip)", "    offset: \(offset)"]
        }
    }
}
