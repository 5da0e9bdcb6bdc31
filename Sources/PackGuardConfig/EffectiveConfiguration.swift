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
            "adc:",
            "  enabled: \(adc.enabled)",
            "  bus: \(adc.bus)",
            "  address: 0x\(String(adc.address, radix: 16))",
            "watchdog:",
            "  hardware:",
            "    enabled: \(hardwareWatchdog.enabled)",
            "    device: \(hardwareWatchdog.device)",
            "    timeoutS: \(hardwareWatchdog.timeoutS)",
            "paths:",
            "  controlSocket: \(paths.controlSocket)",
            "  stateDirectory: \(paths.stateDirectory)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    private func locatorLines(_ locator: LineLocator) -> [String] {
        switch locator {
        case .name(let name): ["    line: \(name)"]
        case .chipOffset(let chip, let offset): ["    chip: \(chip)", "    offset: \(offset)"]
        }
    }
}
