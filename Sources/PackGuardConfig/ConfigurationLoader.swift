import PackGuardADC
import PackGuardCAN
import PackGuardCore
import Yams

/// Parses and strictly validates PackGuard's YAML configuration. Every problem is collected and
/// reported with its file, line and key; nothing is silently ignored or defaulted away.
public enum ConfigurationLoader {
    /// Parses `text` (read from `file`, used only in messages).
    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> PackGuardConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(issues: [yamlIssue(error, file: file)])
        } catch {
            throw ConfigurationError(issues: [ConfigurationIssue(
                file: file, line: nil, column: nil, keyPath: "", message: "cannot parse YAML: \(error)")])
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

    private static func yamlIssue(_ error: YamlError, file: String) -> ConfigurationIssue {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
            let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            return ConfigurationIssue(file: file, line: mark.line, column: mark.column, keyPath: "",
                                      message: "not valid YAML: \(what)")
        case .composer(let context, let problem, let mark, _):
            let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            return ConfigurationIssue(file: file, line: mark.line, column: mark.column, keyPath: "",
                                      message: "not valid YAML: \(what)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigurationIssue(file: file, line: context.mark.line, column: context.mark.column, keyPath: "",
                                      message: "key given more than once: \(duplicates.sorted().joined(separator: ", "))")
        default:
            return ConfigurationIssue(file: file, line: nil, column: nil, keyPath: "",
                                      message: "not valid YAML: \(error)")
        }
    }
}

/// Bounds that every timing must stay within: outside them a setting is more likely a typo
/// (seconds written as milliseconds, or the reverse) than an intention.
public enum TimingBounds {
    public static let startupHoldMs = 0...60_000
    public static let qualifyMs = 20...60_000
    public static let minOffMs = 0...600_000
    public static let chatterLimit = 1...100
    public static let chatterWindowS = 1...3600
    public static let switchDebounceMs = 5...5000
    public static let balanceMaxHours = 1...72
    public static let feedbackTimeoutMs = 20...10_000
    public static let inputStaleMs = 50...60_000
    public static let reconcileMs = 10...5000
    public static let loopDeadlineMs = 20...10_000
    public static let socStaleMs = 100...600_000
    public static let watchdogTimeoutS = 1...600
    public static let watchdogPetIntervalMs = 100...60_000
    public static let heartbeatMinToggleHz = 1...100
}

/// Bounds for the `precharge` section.
public enum PrechargeBounds {
    public static let targetPercent = 50.0...99.0
    public static let timeMs = 20...30_000
    public static let timeoutMs = 100...60_000
    public static let overlapMs = 0...5000
    public static let maxAttempts = 1...20
    public static let attemptWindowS = 10...3600
    public static let packVoltageV = 6.0...60.0
}

/// Bounds for the `adc` section: outside them a value is a typo or a wiring mistake, not a setting.
public enum ADCBounds {
    /// The ADS1115's supply range.
    public static let supplyVolts = 2.0...5.5
    public static let samplePeriodMs = 10...60_000
    public static let medianSamples = 1...ADS1115Configuration.largestMedianWindow
    public static let staleMs = 100...600_000
    /// Volts at the ADS1115 pin per volt at the BMS pin: R_bottom / (R_top + R_bottom).
    public static let dividerRatio = 0.01...1.0
    public static let calibrationOffsetVolts = -1.0...1.0
    public static let calibrationGain = 0.5...2.0
}

/// Walks the YAML tree, collecting issues instead of stopping at the first.
private struct Reader {
    let file: String
    var issues: [ConfigurationIssue] = []

    init(file: String) { self.file = file }

    mutating func fail(_ node: Node?, _ path: String, _ message: String) {
        issues.append(ConfigurationIssue(file: file, line: node?.mark?.line, column: node?.mark?.column,
                                         keyPath: path, message: message))
    }

    /// The entries of a mapping, with unknown keys reported (and a suggestion where one is close).
    mutating func mapping(_ node: Node, _ path: String, allowed: [String]) -> [String: (key: Node, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            fail(node, path, "expected a mapping of keys to values")
            return nil
        }
        var entries: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
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

    mutating func int(_ entries: [String: (key: Node, value: Node)], _ key: String, _ path: String,
                      default fallback: Int, in range: ClosedRange<Int>, unit: String = "") -> Int {
        guard let (_, node) = entries[key] else { return fallback }
        let keyPath = "\(path).\(key)"
        guard case .scalar = node, let value = node.int else {
            fail(node, keyPath, "expected a whole number\(unit.isEmpty ? "" : " of \(unit)"), got '\(node.string ?? "a collection")'")
            return fallback
        }
        guard range.contains(value) else {
            fail(node, keyPath, "\(value) is outside the sane range \(range.lowerBound)...\(range.upperBound)\(unit.isEmpty ? "" : " \(unit)")")
            return fallback
        }
        return value
    }

    mutating func double(_ entries: [String: (key: Node, value: Node)], _ key: String, _ path: String,
                         default fallback: Double, in range: ClosedRange<Double>) -> Double {
        guard let (_, node) = entries[key] else { return fallback }
        let keyPath = "\(path).\(key)"
        guard case .scalar = node, let value = node.float ?? node.int.map(Double.init), value.isFinite else {
            fail(node, keyPath, "expected a number, got '\(node.string ?? "a collection")'")
            return fallback
        }
        guard range.contains(value) else {
            fail(node, keyPath, "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
            return fallback
        }
        return value
    }

    mutating func bool(_ entries: [String: (key: Node, value: Node)], _ key: String, _ path: String,
                       default fallback: Bool?) -> Bool? {
        guard let (keyNode, node) = entries[key] else {
            if fallback == nil { fail(nil, "\(path).\(key)", "required (true or false)") }
            return fallback
        }
        _ = keyNode
        guard case .scalar(let scalar) = node, ["true", "false"].contains(scalar.string) else {
            fail(node, "\(path).\(key)", "expected true or false, got '\(node.string ?? "a collection")'")
            return fallback
        }
        return scalar.string == "true"
    }

    mutating func string(_ entries: [String: (key: Node, value: Node)], _ key: String, _ path: String,
                         default fallback: String?) -> String? {
        guard let (_, node) = entries[key] else { return fallback }
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
            fail(node, "\(path).\(key)", "expected text")
            return fallback
        }
        return scalar.string
    }

    mutating func absolutePath(_ entries: [String: (key: Node, value: Node)], _ key: String, _ path: String,
                               default fallback: String) -> String {
        let value = string(entries, key, path, default: fallback) ?? fallback
        if !value.hasPrefix("/") {
            fail(entries[key]?.value, "\(path).\(key)", "expected an absolute path, got '\(value)'")
        }
        return value
    }

    // MARK: The document

    mutating func document(_ root: Node) -> PackGuardConfiguration? {
        let top = ["configVersion", "inputs", "outputs", "timing", "soc", "adc", "watchdog", "paths", "heartbeat", "precharge", "control", "can", "realtime"]
        guard let entries = mapping(root, "", allowed: top) else { return nil }
        if let (_, node) = entries["configVersion"], node.int != 1 {
            fail(node, "configVersion", "this PackGuard reads configVersion 1, got '\(node.string ?? "?")'")
        }
        let inputs = signals(entries["inputs"], "inputs", InputSignal.self, isRequired: \.isRequired) { reader, node, path in
            reader.inputLine(node, path)
        }
        let outputs = signals(entries["outputs"], "outputs", OutputSignal.self, isRequired: \.isRequired) { reader, node, path in
            reader.outputLine(node, path)
        }
        checkLinesAreDistinct(inputs: inputs, outputs: outputs)
        let timing = timing(entries["timing"]?.value)
        let adc = adc(entries["adc"]?.value)
        let soc = soc(entries["soc"]?.value)
        let can = can(entries["can"]?.value)
        if soc.enabled && soc.source == .can {
            if !can.rules.enabled {
                fail(entries["soc"]?.value, "soc.source", "the SOC comes from CAN but can.enabled is false: set can.enabled: true, or soc.source: adc")
            } else if !can.messages.contains(where: { $0.fields.contains { $0.quantity == .soc } }) {
                fail(entries["can"]?.value, "soc.source", "the SOC comes from CAN but no message in the can table carries a field with quantity: soc")
            }
        } else if soc.enabled && !adc.enabled {
            fail(entries["soc"]?.value, "soc.enabled", "the SOC rules need the ADC: set adc.enabled: true (the SOC comes from BMS pin 11 through the ADS1115)")
        } else if soc.enabled && adc.ads1115.channel(for: .soc) == nil {
            fail(entries["soc"]?.value, "soc.enabled", "the SOC rules need an ADS1115 input carrying the SOC: give one of adc.channels signal: soc (BMS pin 11, AIN0 by default)")
        }
        let watchdog = watchdog(entries["watchdog"]?.value)
        let paths = paths(entries["paths"]?.value)
        checkSamplingFitsTheDeadline(adc: adc, timing: timing, adcNode: entries["adc"]?.value)
        let precharge = precharge(entries["precharge"]?.value, outputs: outputs, adc: adc)
        let heartbeat = heartbeat(entries["heartbeat"]?.value, adc: adc, adcNode: entries["adc"]?.value)
        var configuration = PackGuardConfiguration(source: file, inputs: inputs, outputs: outputs, timing: timing, soc: soc,
                                                   adc: adc, hardwareWatchdog: watchdog, paths: paths, heartbeat: heartbeat,
                                                   precharge: precharge)
        configuration.control = control(entries["control"]?.value)
        configuration.can = can
        configuration.realtime = realtime(entries["realtime"]?.value)
        return configuration
    }

    /// A sample converts every used ADS1115 input inside one control step: at its worst it must
    /// leave half of the loop's deadline for everything else, or sampling alone trips the
    /// internal watchdog.
    mutating func checkSamplingFitsTheDeadline(adc: ADCSettings, timing: PolicyTiming, adcNode: Node?) {
        guard adc.enabled else { return }
        let device = adc.ads1115
        let worstNanoseconds = UInt64(device.channels.count) * device.dataRate.conversionTimeoutNanoseconds
        let halfDeadlineNanoseconds = UInt64(timing.loopDeadlineMs) * 500_000
        guard worstNanoseconds >= halfDeadlineNanoseconds else { return }
        let worstMs = (worstNanoseconds + 999_999) / 1_000_000
        let node = adcNode.flatMap { node -> Node? in
            guard case .mapping(let mapping) = node else { return nil }
            return mapping.first { $0.key.string == "dataRate" }?.value
        } ?? adcNode
        fail(node, "adc.dataRate",
             "\(device.channels.count) conversions at \(device.dataRate.samplesPerSecond) SPS may take \(worstMs) ms, not under half of timing.loopDeadlineMs (\(timing.loopDeadlineMs) ms): choose a faster adc.dataRate or a longer timing.loopDeadlineMs")
    }

    mutating func signals<Signal: RawRepresentable & CaseIterable & Hashable, Line>(
        _ entry: (key: Node, value: Node)?, _ path: String, _: Signal.Type, isRequired: (Signal) -> Bool,
        line: (inout Reader, Node, String) -> Line?
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

    mutating func locator(_ node: Node, _ path: String, _ entries: [String: (key: Node, value: Node)]) -> LineLocator? {
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

    mutating func inputLine(_ node: Node, _ path: String) -> InputLineConfiguration? {
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
        return InputLineConfiguration(locator: locator, activeLow: activeLow, bias: bias, sourceLine: node.mark?.line ?? 0)
    }

    mutating func outputLine(_ node: Node, _ path: String) -> OutputLineConfiguration? {
        guard let entries = mapping(node, path, allowed: ["line", "chip", "offset", "activeLow"]) else { return nil }
        let locator = locator(node, path, entries)
        let activeLow = bool(entries, "activeLow", path, default: nil)
        guard let locator, let activeLow else { return nil }
        return OutputLineConfiguration(locator: locator, activeLow: activeLow, sourceLine: node.mark?.line ?? 0)
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

    mutating func timing(_ node: Node?) -> PolicyTiming {
        var timing = PolicyTiming()
        guard let node else { return timing }
        let keys = ["startupHoldMs", "qualifyMs", "minOffMs", "chatterLimit", "chatterWindowS", "switchDebounceMs",
                    "balanceMaxHours", "feedbackTimeoutMs", "inputStaleMs", "reconcileMs", "loopDeadlineMs"]
        guard let e = mapping(node, "timing", allowed: keys) else { return timing }
        timing.startupHoldMs = int(e, "startupHoldMs", "timing", default: timing.startupHoldMs, in: TimingBounds.startupHoldMs, unit: "milliseconds")
        timing.qualifyMs = int(e, "qualifyMs", "timing", default: timing.qualifyMs, in: TimingBounds.qualifyMs, unit: "milliseconds")
        timing.minOffMs = int(e, "minOffMs", "timing", default: timing.minOffMs, in: TimingBounds.minOffMs, unit: "milliseconds")
        timing.chatterLimit = int(e, "chatterLimit", "timing", default: timing.chatterLimit, in: TimingBounds.chatterLimit, unit: "openings")
        timing.chatterWindowS = int(e, "chatterWindowS", "timing", default: timing.chatterWindowS, in: TimingBounds.chatterWindowS, unit: "seconds")
        timing.switchDebounceMs = int(e, "switchDebounceMs", "timing", default: timing.switchDebounceMs, in: TimingBounds.switchDebounceMs, unit: "milliseconds")
        timing.balanceMaxHours = int(e, "balanceMaxHours", "timing", default: timing.balanceMaxHours, in: TimingBounds.balanceMaxHours, unit: "hours")
        timing.feedbackTimeoutMs = int(e, "feedbackTimeoutMs", "timing", default: timing.feedbackTimeoutMs, in: TimingBounds.feedbackTimeoutMs, unit: "milliseconds")
        timing.inputStaleMs = int(e, "inputStaleMs", "timing", default: timing.inputStaleMs, in: TimingBounds.inputStaleMs, unit: "milliseconds")
        timing.reconcileMs = int(e, "reconcileMs", "timing", default: timing.reconcileMs, in: TimingBounds.reconcileMs, unit: "milliseconds")
        timing.loopDeadlineMs = int(e, "loopDeadlineMs", "timing", default: timing.loopDeadlineMs, in: TimingBounds.loopDeadlineMs, unit: "milliseconds")
        if timing.inputStaleMs < 2 * timing.reconcileMs {
            fail(e["inputStaleMs"]?.value ?? node, "timing.inputStaleMs",
                 "\(timing.inputStaleMs) ms must be at least twice reconcileMs (\(timing.reconcileMs) ms), or every input would go stale between re-reads")
        }
        return timing
    }

    mutating func soc(_ node: Node?) -> SocRules {
        var soc = SocRules()
        guard let node else { return soc }
        let keys = ["enabled", "dischargeCutoffSoc", "chargeStopSoc", "socHysteresis", "socStaleMs", "onSocFault", "source"]
        guard let e = mapping(node, "soc", allowed: keys) else { return soc }
        if let (_, sourceNode) = e["source"] {
            if let source = sourceNode.string.flatMap(SocSource.init(rawValue:)) {
                soc.source = source
            } else {
                fail(sourceNode, "soc.source", "expected one of \(SocSource.allCases.map(\.rawValue).joined(separator: ", ")), got '\(sourceNode.string ?? "?")'")
            }
        }
        soc.enabled = bool(e, "enabled", "soc", default: false) ?? false
        soc.dischargeCutoffSoc = double(e, "dischargeCutoffSoc", "soc", default: soc.dischargeCutoffSoc, in: 0...100)
        soc.chargeStopSoc = double(e, "chargeStopSoc", "soc", default: soc.chargeStopSoc, in: 0...100)
        soc.socHysteresis = double(e, "socHysteresis", "soc", default: soc.socHysteresis, in: 0.5...50)
        soc.socStaleMs = int(e, "socStaleMs", "soc", default: soc.socStaleMs, in: TimingBounds.socStaleMs, unit: "milliseconds")
        if let (_, actionNode) = e["onSocFault"] {
            if let action = actionNode.string.flatMap(SocFaultAction.init(rawValue:)) {
                soc.onSocFault = action
            } else {
                fail(actionNode, "soc.onSocFault", "expected one of \(SocFaultAction.allCases.map(\.rawValue).joined(separator: ", ")), got '\(actionNode.string ?? "?")'")
            }
        }
        let resumeDischarge = soc.dischargeCutoffSoc + soc.socHysteresis
        let resumeCharge = soc.chargeStopSoc - soc.socHysteresis
        if resumeDischarge >= resumeCharge {
            fail(e["chargeStopSoc"]?.value ?? node, "soc",
                 "thresholds overlap: discharge resumes at \(resumeDischarge) % (cut-off + hysteresis) but charging resumes at \(resumeCharge) % (stop - hysteresis); the first must be below the second")
        }
        return soc
    }

    mutating func adc(_ node: Node?) -> ADCSettings {
        var adc = ADCSettings()
        let keys = ["enabled", "bus", "address", "pga", "dataRate", "supplyVolts", "samplePeriodMs", "medianSamples",
                    "staleMs", "channels"]
        guard let node, let e = mapping(node, "adc", allowed: keys) else { return adc }
        var device = adc.ads1115
        let issuesBefore = issues.count
        adc.enabled = bool(e, "enabled", "adc", default: false) ?? false
        device.busPath = absolutePath(e, "bus", "adc", default: device.busPath)
        device.address = UInt8(int(e, "address", "adc", default: Int(device.address), in: 0x48...0x4B,
                                   unit: "(ADS1115: 0x48 to 0x4B)"))
        if let (_, pgaNode) = e["pga"] {
            let choices = ADS1115Gain.allCases.map { "\($0.fullScaleVolts)" }.joined(separator: ", ")
            if case .scalar = pgaNode, let volts = pgaNode.float ?? pgaNode.int.map(Double.init),
               let gain = ADS1115Gain(fullScaleVolts: volts) {
                device.gain = gain
            } else {
                fail(pgaNode, "adc.pga", "expected the PGA full-scale range in volts, one of \(choices); got '\(pgaNode.string ?? "a collection")'")
            }
        }
        if let (_, rateNode) = e["dataRate"] {
            let choices = ADS1115DataRate.allCases.map { "\($0.samplesPerSecond)" }.joined(separator: ", ")
            if case .scalar = rateNode, let rate = rateNode.int.flatMap(ADS1115DataRate.init(rawValue:)) {
                device.dataRate = rate
            } else {
                fail(rateNode, "adc.dataRate", "expected samples per second, one of \(choices); got '\(rateNode.string ?? "a collection")'")
            }
        }
        device.supplyVolts = double(e, "supplyVolts", "adc", default: device.supplyVolts, in: ADCBounds.supplyVolts)
        device.samplePeriodMilliseconds = int(e, "samplePeriodMs", "adc", default: device.samplePeriodMilliseconds,
                                              in: ADCBounds.samplePeriodMs, unit: "milliseconds")
        device.medianWindow = int(e, "medianSamples", "adc", default: device.medianWindow,
                                  in: ADCBounds.medianSamples, unit: "samples")
        device.staleTimeoutMilliseconds = int(e, "staleMs", "adc", default: device.staleTimeoutMilliseconds,
                                              in: ADCBounds.staleMs, unit: "milliseconds")
        if let (_, channelsNode) = e["channels"] { device.channels = adcChannels(channelsNode) }
        // What only the whole device can tell: pin voltages against VDD and the PGA, timing. Checked once
        // every key is right, so that a value replaced by its default is not judged in combinations.
        if issues.count == issuesBefore {
            for problem in device.validate() { fail(node, "adc", problem) }
        }
        adc.ads1115 = device
        return adc
    }

    /// `adc.channels`: AIN0...AIN3, each carrying one signal (or unused). Inputs not listed are unused.
    mutating func adcChannels(_ node: Node) -> [ADCChannelConfiguration] {
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
            channel.dividerRatio = double(c, "dividerRatio", path, default: channel.dividerRatio, in: ADCBounds.dividerRatio)
            channel.calibrationOffsetVolts = double(c, "calibrationOffsetVolts", path, default: channel.calibrationOffsetVolts,
                                                    in: ADCBounds.calibrationOffsetVolts)
            channel.calibrationGain = double(c, "calibrationGain", path, default: channel.calibrationGain,
                                             in: ADCBounds.calibrationGain)
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
    mutating func range(_ node: Node, _ path: String, what: String) -> ClosedRange<Double>? {
        let numbers: [Double]? = node.sequence.flatMap { items in
            let values = items.compactMap { item -> Double? in
                guard case .scalar = item, let value = item.float ?? item.int.map(Double.init), value.isFinite else { return nil }
                return value
            }
            return values.count == items.count ? values : nil
        }
        guard let numbers, numbers.count == 2 else {
            fail(node, path, "expected [low, high]: two numbers, \(what)")
            return nil
        }
        guard numbers[0] < numbers[1] else {
            fail(node, path, "[\(numbers[0]), \(numbers[1])] is empty or reversed: the first number must be below the second")
            return nil
        }
        return numbers[0]...numbers[1]
    }

    mutating func watchdog(_ node: Node?) -> HardwareWatchdogSettings {
        var watchdog = HardwareWatchdogSettings()
        guard let node, let e = mapping(node, "watchdog", allowed: ["hardware"]) else { return watchdog }
        guard let (_, hw) = e["hardware"],
              let h = mapping(hw, "watchdog.hardware", allowed: ["enabled", "device", "timeoutS", "petIntervalMs"]) else { return watchdog }
        watchdog.enabled = bool(h, "enabled", "watchdog.hardware", default: false) ?? false
        watchdog.device = absolutePath(h, "device", "watchdog.hardware", default: watchdog.device)
        watchdog.timeoutS = int(h, "timeoutS", "watchdog.hardware", default: watchdog.timeoutS, in: TimingBounds.watchdogTimeoutS, unit: "seconds")
        watchdog.petIntervalMs = int(h, "petIntervalMs", "watchdog.hardware", default: watchdog.petIntervalMs,
                                     in: TimingBounds.watchdogPetIntervalMs, unit: "milliseconds")
        // One late pet must not reset the board: the device's timeout covers two intervals.
        if watchdog.timeoutS * 1000 < 2 * watchdog.petIntervalMs {
            fail(h["timeoutS"]?.value ?? hw, "watchdog.hardware.timeoutS",
                 "\(watchdog.timeoutS) s must be at least twice watchdog.hardware.petIntervalMs (\(watchdog.petIntervalMs) ms), or one late pet resets the board")
        }
        return watchdog
    }

    /// The heartbeat's minimum rate, and what could keep the loop from it: an ADS1115 sample blocks
    /// the control thread for up to its worst-case conversion time.
    mutating func heartbeat(_ node: Node?, adc: ADCSettings, adcNode: Node?) -> HeartbeatSettings {
        var settings = HeartbeatSettings()
        if let node, let e = mapping(node, "heartbeat", allowed: ["minToggleHz"]) {
            settings.minToggleHz = int(e, "minToggleHz", "heartbeat", default: settings.minToggleHz,
                                       in: TimingBounds.heartbeatMinToggleHz, unit: "toggles per second")
        }
        guard adc.enabled else { return settings }
        let device = adc.ads1115
        let worstMs = (UInt64(device.channels.count) * device.dataRate.conversionTimeoutNanoseconds + 999_999) / 1_000_000
        if worstMs >= UInt64(settings.toggleIntervalMs) {
            fail(node ?? adcNode, "heartbeat.minToggleHz",
                 "\(settings.minToggleHz) toggles per second leave \(settings.toggleIntervalMs) ms between toggles, but a sample of \(device.channels.count) inputs at adc.dataRate \(device.dataRate.samplesPerSecond) SPS may block the loop for \(worstMs) ms: choose a faster adc.dataRate or a lower heartbeat.minToggleHz")
        }
        return settings
    }

    mutating func precharge(_ node: Node?, outputs: [OutputSignal: OutputLineConfiguration], adc: ADCSettings) -> PrechargeSettings {
        var settings = PrechargeSettings()
        let keys = ["enabled", "targetPercent", "timeMs", "timeoutMs", "overlapMs", "maxAttempts", "attemptWindowS", "packVoltageV"]
        guard let node, let e = mapping(node, "precharge", allowed: keys) else { return settings }
        let p = "precharge"
        settings.enabled = bool(e, "enabled", p, default: false) ?? false
        settings.targetPercent = double(e, "targetPercent", p, default: settings.targetPercent, in: PrechargeBounds.targetPercent)
        settings.timeMs = int(e, "timeMs", p, default: settings.timeMs, in: PrechargeBounds.timeMs, unit: "milliseconds")
        settings.timeoutMs = int(e, "timeoutMs", p, default: settings.timeoutMs, in: PrechargeBounds.timeoutMs, unit: "milliseconds")
        settings.overlapMs = int(e, "overlapMs", p, default: settings.overlapMs, in: PrechargeBounds.overlapMs, unit: "milliseconds")
        settings.maxAttempts = int(e, "maxAttempts", p, default: settings.maxAttempts, in: PrechargeBounds.maxAttempts, unit: "sequences")
        settings.attemptWindowS = int(e, "attemptWindowS", p, default: settings.attemptWindowS, in: PrechargeBounds.attemptWindowS, unit: "seconds")
        if e["packVoltageV"] != nil {
            settings.packVoltageV = double(e, "packVoltageV", p, default: 0, in: PrechargeBounds.packVoltageV)
        }
        guard settings.enabled else { return settings }
        if outputs[.prechargeRelay] == nil {
            fail(e["enabled"]?.value ?? node, "precharge.enabled", "the precharge needs its relay: wire outputs.prechargeRelay (the relay that switches the precharge resistor)")
        }
        let sensed = adc.enabled && adc.ads1115.channel(for: .busVoltage) != nil
        if !adc.enabled && adc.ads1115.channel(for: .busVoltage) != nil {
            fail(e["enabled"]?.value ?? node, "precharge.enabled", "an ADS1115 input carries busVoltage but adc.enabled is false: set adc.enabled: true to sense the precharge, or remove the input to precharge on timeMs")
        }
        if sensed && adc.ads1115.channel(for: .packVoltage) == nil && settings.packVoltageV == nil {
            fail(e["enabled"]?.value ?? node, "precharge.packVoltageV", "a sensed precharge compares the bus with the pack: give precharge.packVoltageV (the pack's nominal volts) or an ADS1115 input with signal: packVoltage")
        }
        if !sensed && settings.timeoutMs < settings.timeMs + settings.overlapMs {
            fail(e["timeoutMs"]?.value ?? node, "precharge.timeoutMs",
                 "\(settings.timeoutMs) ms must be at least precharge.timeMs + precharge.overlapMs (\(settings.timeMs) + \(settings.overlapMs) ms), or every timed precharge fails")
        }
        return settings
    }

    mutating func paths(_ node: Node?) -> PathSettings {
        var paths = PathSettings()
        guard let node, let e = mapping(node, "paths", allowed: ["controlSocket", "stateDirectory"]) else { return paths }
        paths.controlSocket = absolutePath(e, "controlSocket", "paths", default: paths.controlSocket)
        paths.stateDirectory = absolutePath(e, "stateDirectory", "paths", default: paths.stateDirectory)
        return paths
    }
}

extension Reader {
    mutating func control(_ node: Node?) -> ControlSettings {
        var control = ControlSettings()
        guard let node, let e = mapping(node, "control", allowed: ["adminGroup", "maxClients"]) else { return control }
        let group = string(e, "adminGroup", "control", default: control.adminGroup) ?? control.adminGroup
        // A group name as groupadd accepts it; a typo here would silently lock every admin out.
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
        if group.count > 32 || group.hasPrefix("-") || !group.allSatisfy(allowed.contains) {
            fail(e["adminGroup"]?.value, "control.adminGroup", "'\(group)' is not a group name (letters, digits, _ - ., at most 32)")
        } else {
            control.adminGroup = group
        }
        control.maxClients = int(e, "maxClients", "control", default: control.maxClients, in: 1...1024, unit: "connections")
        return control
    }

    /// `realtime:` (RealtimeSettings.swift).
    mutating func realtime(_ node: Node?) -> RealtimeSettings {
        var settings = RealtimeSettings()
        guard let node, let e = mapping(node, "realtime", allowed: ["scheduling", "priority", "lockMemory"]) else { return settings }
        if let (_, schedulingNode) = e["scheduling"] {
            if let scheduling = schedulingNode.string.flatMap(RealtimeSettings.Scheduling.init(rawValue:)) {
                settings.scheduling = scheduling
            } else {
                fail(schedulingNode, "realtime.scheduling",
                     "expected one of \(RealtimeSettings.Scheduling.allCases.map(\.rawValue).joined(separator: ", ")), got '\(schedulingNode.string ?? "?")'")
            }
        }
        settings.priority = int(e, "priority", "realtime", default: settings.priority, in: RealtimeSettings.priorities, unit: "SCHED_FIFO priority")
        settings.lockMemory = bool(e, "lockMemory", "realtime", default: settings.lockMemory) ?? settings.lockMemory
        return settings
    }
}

/// Bounds for the `can` section.
public enum CANBounds {
    public static let staleMs = 50...600_000
    public static let openCurrentA = 0.5...1000.0
    public static let openCurrentMs = 0...60_000
    public static let disagreeMs = 50...60_000
    public static let periodMs = 1...60_000
    public static let scale = -1_000_000.0...1_000_000.0
    public static let offset = -1_000_000.0...1_000_000.0
}

extension Reader {
    /// The `can` section: interface, table (preset or messages) and the opt-in safety uses.
    mutating func can(_ node: Node?) -> CANSettings {
        var settings = CANSettings()
        let keys = ["enabled", "interface", "bitrate", "preset", "messages", "staleMs", "onStale",
                    "currentWhileOpen", "openCurrentA", "openCurrentMs", "bmsDisagrees", "disagreeMs"]
        guard let node, let e = mapping(node, "can", allowed: keys) else { return settings }
        let p = "can"
        var rules = CANRules()
        rules.enabled = bool(e, "enabled", p, default: false) ?? false
        let interface = string(e, "interface", p, default: settings.interface) ?? settings.interface
        // A Linux interface name: at most 15 bytes, no slash or white space.
        if interface.utf8.count > 15 || interface.contains("/") || interface.contains(where: \.isWhitespace) {
            fail(e["interface"]?.value, "can.interface", "'\(interface)' is not a network interface name (at most 15 characters, no '/' or spaces)")
        } else {
            settings.interface = interface
        }
        if let (_, rateNode) = e["bitrate"] {
            if let rate = rateNode.int, CANSettings.bitrates.contains(rate) {
                settings.bitrate = rate
            } else {
                fail(rateNode, "can.bitrate", "expected one of \(CANSettings.bitrates.map(String.init).joined(separator: ", ")) (bit/s, as set in the Orion utility), got '\(rateNode.string ?? "?")'")
            }
        }
        if let (_, presetNode) = e["preset"] {
            if let table = presetNode.string.flatMap(CANSettings.Table.init(rawValue:)) {
                settings.table = table
            } else {
                fail(presetNode, "can.preset", "expected one of \(CANSettings.Table.allCases.map(\.rawValue).joined(separator: ", ")), got '\(presetNode.string ?? "?")'")
            }
        }
        switch settings.table {
        case .orionDefault: settings.messages = CANPreset.orionDefault.messages
        case .victron: settings.messages = CANPreset.victron.messages
        case .custom: settings.messages = []
        }
        if let (_, messagesNode) = e["messages"] {
            if settings.table == .custom {
                settings.messages = canMessages(messagesNode)
            } else {
                fail(messagesNode, "can.messages", "messages replace the built-in table: set can.preset: custom to use them")
            }
        } else if settings.table == .custom {
            fail(e["preset"]?.value, "can.messages", "can.preset: custom needs can.messages (the decoding table)")
        }
        rules.staleMs = int(e, "staleMs", p, default: rules.staleMs, in: CANBounds.staleMs, unit: "milliseconds")
        if let (_, actionNode) = e["onStale"] {
            if let action = actionNode.string.flatMap(CANStaleAction.init(rawValue:)) {
                rules.onStale = action
            } else {
                fail(actionNode, "can.onStale", "expected one of \(CANStaleAction.allCases.map(\.rawValue).joined(separator: ", ")), got '\(actionNode.string ?? "?")'")
            }
        }
        rules.currentWhileOpen = bool(e, "currentWhileOpen", p, default: false) ?? false
        rules.openCurrentA = double(e, "openCurrentA", p, default: rules.openCurrentA, in: CANBounds.openCurrentA)
        rules.openCurrentMs = int(e, "openCurrentMs", p, default: rules.openCurrentMs, in: CANBounds.openCurrentMs, unit: "milliseconds")
        rules.bmsDisagrees = bool(e, "bmsDisagrees", p, default: false) ?? false
        rules.disagreeMs = int(e, "disagreeMs", p, default: rules.disagreeMs, in: CANBounds.disagreeMs, unit: "milliseconds")
        let quantities = Set(settings.messages.flatMap { $0.fields.map(\.quantity) })
        if rules.currentWhileOpen && !quantities.contains(.packCurrentA) {
            fail(e["currentWhileOpen"]?.value, "can.currentWhileOpen", "needs the pack current: no message in the table has a field with quantity: packCurrentA")
        }
        if rules.bmsDisagrees && !(quantities.contains(.chargeRelay) && quantities.contains(.dischargeRelay)) {
            fail(e["bmsDisagrees"]?.value, "can.bmsDisagrees", "needs the BMS's relay bits: the table has no chargeRelay and dischargeRelay fields (the Victron profile carries none; use preset orionDefault or custom messages)")
        }
        let maxPeriod = settings.messages.map(\.periodMs).max() ?? 0
        if rules.staleMs < maxPeriod * 2 {
            fail(e["staleMs"]?.value ?? node, "can.staleMs", "\(rules.staleMs) ms is less than two periods of the slowest message (\(maxPeriod) ms): every gap would be a stale fault")
        }
        settings.rules = rules
        return settings
    }

    mutating func canMessages(_ node: Node) -> [CANMessageLayout] {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
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
                fail(idNode, "\(path).id", "expected a CAN identifier such as 0x6B0, got '\(idNode.string ?? "a collection")'")
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
            layout.periodMs = int(e, "periodMs", path, default: layout.periodMs, in: CANBounds.periodMs, unit: "milliseconds")
            if let (_, fieldsNode) = e["fields"], case .sequence(let fields) = fieldsNode, !fields.isEmpty {
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

    mutating func canField(_ node: Node, _ path: String) -> CANField? {
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
        field.scale = double(e, "scale", path, default: 1, in: CANBounds.scale)
        field.offset = double(e, "offset", path, default: 0, in: CANBounds.offset)
        if e["bit"] != nil { field.bit = int(e, "bit", path, default: 0, in: 0...31) }
        // The unit is the quantity's; a unit in the file is a check that the author means the same.
        if let unit = string(e, "unit", path, default: nil), unit != quantity.unit {
            fail(e["unit"]?.value, "\(path).unit", "\(quantity.rawValue) is in '\(quantity.unit)', not '\(unit)': scale the raw value to \(quantity.unit)")
        }
        return field
    }

    /// 0x6B0, 1712 or "0x6B0".
    func canNumber(_ node: Node) -> UInt32? {
        guard case .scalar(let scalar) = node else { return nil }
        let text = scalar.string
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt32(text.dropFirst(2), radix: 16) }
        return UInt32(text)
    }
}

/// The allowed word nearest to a misspelt key, if it is close enough to be a likely typo.
func closest(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
    return best.0
}

/// Levenshtein distance, for "did you mean" hints.
public func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
