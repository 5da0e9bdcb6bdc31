import PackGuardADC
import PackGuardCore

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
        let t = timing
        lines += [
            "timing:",
            "  startupHoldMs: \(t.startupHoldMs)",
            "  qualifyMs: \(t.qualifyMs)",
            "  minOffMs: \(t.minOffMs)",
            "  chatterLimit: \(t.chatterLimit)",
            "  chatterWindowS: \(t.chatterWindowS)",
            "  switchDebounceMs: \(t.switchDebounceMs)",
            "  balanceMaxHours: \(t.balanceMaxHours)",
            "  feedbackTimeoutMs: \(t.feedbackTimeoutMs)",
            "  inputStaleMs: \(t.inputStaleMs)",
            "  reconcileMs: \(t.reconcileMs)",
            "  loopDeadlineMs: \(t.loopDeadlineMs)",
        ]
        let s = policy.soc
        lines += [
            "soc:",
            "  enabled: \(s.enabled)",
            "  dischargeCutoffSoc: \(s.dischargeCutoffSoc)",
            "  chargeStopSoc: \(s.chargeStopSoc)",
            "  socHysteresis: \(s.socHysteresis)",
            "  socStaleMs: \(s.socStaleMs)",
            "  onSocFault: \(s.onSocFault.rawValue)",
            "  source: \(s.source.rawValue)",
        ]
        lines += adcLines
        lines += [
            "heartbeat:",
            "  minToggleHz: \(heartbeat.minToggleHz)",
            "precharge:",
            "  enabled: \(precharge.enabled)",
            "  targetPercent: \(precharge.targetPercent)",
            "  timeMs: \(precharge.timeMs)",
            "  timeoutMs: \(precharge.timeoutMs)",
            "  overlapMs: \(precharge.overlapMs)",
            "  maxAttempts: \(precharge.maxAttempts)",
            "  attemptWindowS: \(precharge.attemptWindowS)",
        ] + (precharge.packVoltageV.map { ["  packVoltageV: \($0)"] } ?? [])
        lines += canLines
        lines += [
            "watchdog:",
            "  hardware:",
            "    enabled: \(hardwareWatchdog.enabled)",
            "    device: \(hardwareWatchdog.device)",
            "    timeoutS: \(hardwareWatchdog.timeoutS)",
            "    petIntervalMs: \(hardwareWatchdog.petIntervalMs)",
            "paths:",
            "  controlSocket: \(paths.controlSocket)",
            "  stateDirectory: \(paths.stateDirectory)",
            "control:",
            "  adminGroup: \(control.adminGroup)",
            "  maxClients: \(control.maxClients)",
            "realtime:",
            "  scheduling: \(realtime.scheduling.rawValue)",
            "  priority: \(realtime.priority)",
            "  lockMemory: \(realtime.lockMemory)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The whole `can` section; the decoding table only when it is the file's own.
    private var canLines: [String] {
        let rules = can.rules
        var lines = [
            "can:",
            "  enabled: \(rules.enabled)",
            "  interface: \(quoted(can.interface))",
            "  bitrate: \(can.bitrate)",
            "  preset: \(can.table.rawValue)",
            "  staleMs: \(rules.staleMs)",
            "  onStale: \(rules.onStale.rawValue)",
            "  currentWhileOpen: \(rules.currentWhileOpen)",
            "  openCurrentA: \(rules.openCurrentA)",
            "  openCurrentMs: \(rules.openCurrentMs)",
            "  bmsDisagrees: \(rules.bmsDisagrees)",
            "  disagreeMs: \(rules.disagreeMs)",
        ]
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

    /// The whole `adc` section, every input listed (unused ones as `signal: unused`).
    private var adcLines: [String] {
        let device = adc.ads1115
        var lines = [
            "adc:",
            "  enabled: \(adc.enabled)",
            "  bus: \(device.busPath)",
            "  address: 0x\(String(device.address, radix: 16))",
            "  pga: \(device.gain.fullScaleVolts)  # full-scale volts",
            "  dataRate: \(device.dataRate.samplesPerSecond)  # samples per second",
            "  supplyVolts: \(device.supplyVolts)",
            "  samplePeriodMs: \(device.samplePeriodMilliseconds)",
            "  medianSamples: \(device.medianWindow)",
            "  staleMs: \(device.staleTimeoutMilliseconds)",
            "  channels:",
        ]
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

    /// A YAML double-quoted scalar: `%` and friends cannot start a plain one.
    private func quoted(_ text: String) -> String {
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

    private func locatorLines(_ locator: LineLocator) -> [String] {
        switch locator {
        case .name(let name): ["    line: \(name)"]
        case .chipOffset(let chip, let offset): ["    chip: \(chip)", "    offset: \(offset)"]
        }
    }
}
