import PackGuardCAN
import PackGuardConfig
import PackGuardCore
import Yams

/// Reads scenario YAML strictly: every problem is reported with file, line and column.
public enum ScenarioParser {
    public static func parse(_ text: String, source: String) throws(ScenarioError) -> Scenario {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ScenarioError(source: source, line: nil, column: nil, message: "not valid YAML: \(error)")
        } catch {
            throw ScenarioError(source: source, line: nil, column: nil, message: "not valid YAML: \(error)")
        }
        guard let root else { throw ScenarioError(source: source, line: nil, column: nil, message: "the file is empty") }
        let reader = StepReader(source: source)
        return try reader.scenario(root)
    }
}

private struct StepReader {
    let source: String

    func fail(_ node: Node?, _ message: String) -> ScenarioError {
        ScenarioError(source: source, line: node?.mark?.line, column: node?.mark?.column, message: message)
    }

    func entries(_ node: Node, allowed: [String], what: String) throws(ScenarioError) -> [(String, Node, Node)] {
        guard case .mapping(let mapping) = node else { throw fail(node, "\(what) must be a mapping") }
        var result: [(String, Node, Node)] = []
        for (key, value) in mapping {
            guard let name = key.string, allowed.contains(name) else {
                let hint = key.string.flatMap { closestWord($0, allowed) }.map { " (did you mean '\($0)'?)" } ?? ""
                throw fail(key, "unknown key '\(key.string ?? "?")' in \(what)\(hint); allowed: \(allowed.joined(separator: ", "))")
            }
            result.append((name, key, value))
        }
        return result
    }

    func text(_ node: Node, _ what: String) throws(ScenarioError) -> String {
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else { throw fail(node, "\(what) must be text") }
        return scalar.string
    }

    func quantity(_ node: Node, _ what: String) throws(ScenarioError) -> Quantity {
        Quantity(text: try text(node, what), line: node.mark?.line ?? 0)
    }

    /// The names of the table's settings in `section` (and numeric timing only for `timing`).
    static func settingNames(_ section: String) -> [String] {
        Setting.all.filter { $0.section == section }.map(\.name)
    }

    /// A section's overrides, each checked against its setting in the table: numbers as quantities
    /// (which may name other settings), flags as true or false, words as one of the allowed ones.
    func settings(_ node: Node, section: String, extra: [String] = []) throws(ScenarioError) -> [String: SocOverride] {
        var result: [String: SocOverride] = [:]
        for (name, _, v) in try entries(node, allowed: Self.settingNames(section) + extra, what: "configuration.\(section)") {
            guard let setting = Setting.named("\(section).\(name)") else { continue }
            if setting.isNumeric {
                result[name] = .number(try quantity(v, "\(section).\(name)"))
            } else if setting.isFlag {
                result[name] = .flag(try flag(v, "\(section).\(name)"))
            } else {
                let word = try text(v, "\(section).\(name)")
                if let problem = setting.problem(word: word) { throw fail(v, problem) }
                result[name] = .word(word)
            }
        }
        return result
    }

    func scenario(_ root: Node) throws(ScenarioError) -> Scenario {
        var name: String?
        var description = ""
        var overrides = ConfigurationOverrides()
        var steps: [ScenarioStep] = []
        for (key, _, value) in try entries(root, allowed: ["name", "description", "configuration", "steps"], what: "a scenario") {
            switch key {
            case "name": name = try text(value, "name")
            case "description": description = try text(value, "description")
            case "configuration": overrides = try self.overrides(value)
            default:
                guard case .sequence(let sequence) = value else { throw fail(value, "steps must be a list") }
                for item in sequence { steps.append(try step(item)) }
            }
        }
        guard let name else { throw fail(root, "a scenario needs a name") }
        guard !steps.isEmpty else { throw fail(root, "a scenario needs steps") }
        return Scenario(name: name, description: description, source: source, overrides: overrides, steps: steps)
    }

    func overrides(_ node: Node, reload: Bool = false) throws(ScenarioError) -> ConfigurationOverrides {
        var overrides = ConfigurationOverrides()
        let sections = reload ? ["timing", "soc", "lines", "precharge"] : ["timing", "soc", "simulatedContactors", "precharge", "inverter", "can"]
        for (key, _, value) in try entries(node, allowed: sections, what: reload ? "reload" : "configuration") {
            switch key {
            case "lines":
                let signals = InputSignal.allCases.map(\.rawValue) + OutputSignal.allCases.map(\.rawValue)
                for (name, _, v) in try entries(value, allowed: signals, what: "reload.lines") {
                    overrides.lines[name] = try text(v, "reload.lines.\(name)")
                }
            case "timing":
                for (name, _, v) in try entries(value, allowed: Self.settingNames("timing"), what: "configuration.timing") {
                    overrides.timing[name] = try quantity(v, "timing.\(name)")
                }
            case "soc":
                overrides.soc = try settings(value, section: "soc")
            case "precharge":
                // `sensing` is the bench's: whether it wires a bus-voltage input for the precharge to sense.
                var bench: [String: SocOverride] = [:]
                if case .mapping(let mapping) = value, let (_, sensing) = mapping.first(where: { $0.key.string == "sensing" }) {
                    let word = try text(sensing, "precharge.sensing")
                    guard ["busVoltage", "timer"].contains(word) else { throw fail(sensing, "precharge.sensing must be busVoltage or timer") }
                    bench["sensing"] = .word(word)
                }
                overrides.precharge = try settings(value, section: "precharge", extra: ["sensing"]).merging(bench) { $1 }
            case "can":
                overrides.can = try settings(value, section: "can")
            case "inverter":
                var model = InverterModel()
                for (name, _, v) in try entries(value, allowed: ["capacitanceMf", "resistorOhms", "bleedTauS"], what: "configuration.inverter") {
                    guard let number = Double(try text(v, "inverter.\(name)")), number > 0 else {
                        throw fail(v, "inverter.\(name) must be a positive number")
                    }
                    switch name {
                    case "capacitanceMf": model.capacitanceMf = number
                    case "resistorOhms": model.resistorOhms = number
                    default: model.bleedTauS = number
                    }
                }
                overrides.inverter = model
            default:
                overrides.simulatedContactors = try flag(value, "simulatedContactors")
            }
        }
        return overrides
    }

    func flag(_ node: Node, _ what: String) throws(ScenarioError) -> Bool {
        switch try text(node, what) {
        case "true": return true
        case "false": return false
        default: throw fail(node, "\(what) must be true or false")
        }
    }

    static let stepKinds = ["set", "soc", "can", "wait", "fault", "clearFaults", "command", "signal", "reload",
                            "expect", "expectState", "expectFault", "expectNoFault", "expectEvent", "expectHeartbeat"]

    func step(_ node: Node) throws(ScenarioError) -> ScenarioStep {
        let line = node.mark?.line ?? 0
        let items = try entries(node, allowed: Self.stepKinds, what: "a step")
        guard items.count == 1, let (kind, _, value) = items.first else {
            throw fail(node, "a step has exactly one of: \(Self.stepKinds.joined(separator: ", "))")
        }
        let action: ScenarioStep.Action
        switch kind {
        case "set":
            let signals = InputSignal.allCases.map(\.rawValue)
            action = .set(try entries(value, allowed: signals, what: "set").map { name, _, v throws(ScenarioError) in
                (InputSignal(rawValue: name)!, try level(v, outputs: false))
            })
        case "soc": action = .soc(try quantity(value, "soc"))
        case "can":
            var change = CANBusChange()
            let names = CANQuantity.allCases.map(\.rawValue) + ["silent"]
            for (name, _, v) in try entries(value, allowed: names, what: "can") {
                let word = try text(v, "can.\(name)")
                if name == "silent" {
                    change.silent = try flag(v, "can.silent")
                } else if word == "true" || word == "false" {
                    change.values[name] = word == "true" ? 1 : 0
                } else if let number = Double(word), number.isFinite {
                    change.values[name] = number
                } else {
                    throw fail(v, "can.\(name) must be a number (or true/false for a flag), got '\(word)'")
                }
            }
            action = .can(change)
        case "reload": action = .reload(try overrides(value, reload: true))
        case "wait": action = .wait(try quantity(value, "wait"))
        case "fault":
            let name = try text(value, "fault")
            guard let fault = BenchFault(rawValue: name) else {
                throw fail(value, "unknown fault '\(name)'; faults: \(BenchFault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            action = .fault(fault)
        case "clearFaults": action = .clearFaults
        case "command":
            switch try text(value, "command") {
            case "reset": action = .command(.reset)
            case "forceOff on": action = .command(.forceOff(true))
            case "forceOff off": action = .command(.forceOff(false))
            default: throw fail(value, "command must be 'reset', 'forceOff on' or 'forceOff off'")
            }
        case "signal":
            let name = try text(value, "signal")
            guard ["SIGTERM", "SIGINT"].contains(name) else { throw fail(value, "signal must be SIGTERM or SIGINT") }
            action = .signal(name)
        case "expect":
            var outputs: [(OutputSignal, Level)] = []
            var within: Quantity?
            var holdFor: Quantity?
            let keys = OutputSignal.allCases.map(\.rawValue) + ["within", "for"]
            for (name, _, v) in try entries(value, allowed: keys, what: "expect") {
                switch name {
                case "within": within = try quantity(v, "within")
                case "for": holdFor = try quantity(v, "for")
                default: outputs.append((OutputSignal(rawValue: name)!, try level(v, outputs: true)))
                }
            }
            guard !outputs.isEmpty else { throw fail(value, "expect names at least one output") }
            guard within == nil || holdFor == nil else { throw fail(value, "expect takes 'within' or 'for', not both") }
            action = .expectOutputs(outputs, within: within, holdFor: holdFor)
        case "expectState":
            let name = try text(value, "expectState")
            guard let state = ControllerState(rawValue: name) else {
                throw fail(value, "expectState must be one of starting, running, faulted, forcedOff, stopped")
            }
            action = .expectState(state)
        case "expectHeartbeat":
            var atLeast: Quantity?
            var stopped = false
            var over: Quantity?
            for (name, _, v) in try entries(value, allowed: ["atLeastHz", "stopped", "for"], what: "expectHeartbeat") {
                switch name {
                case "atLeastHz": atLeast = try quantity(v, "atLeastHz")
                case "stopped": stopped = try flag(v, "stopped")
                default: over = try quantity(v, "for")
                }
            }
            guard let over else { throw fail(value, "expectHeartbeat needs 'for': how long to watch, in ms") }
            guard (atLeast != nil) != stopped else { throw fail(value, "expectHeartbeat takes 'atLeastHz' or 'stopped: true'") }
            action = .expectHeartbeat(atLeastHz: atLeast, over: over)
        case "expectFault": action = .expectFault(try text(value, "expectFault"), present: true)
        case "expectNoFault": action = .expectFault(try text(value, "expectNoFault"), present: false)
        default: action = .expectEvent(try text(value, "expectEvent"))
        }
        return ScenarioStep(action: action, line: line)
    }

    func level(_ node: Node, outputs: Bool) throws(ScenarioError) -> Level {
        let word = try text(node, "a level")
        switch word {
        case "active", "asserted", "on", "closed": return .active
        case "inactive", "released", "off", "open": return .inactive
        default:
            throw fail(node, outputs ? "an output is closed/on or open/off, not '\(word)'"
                                     : "an input is active/asserted/on/closed or inactive/released/off/open, not '\(word)'")
        }
    }
}

private func closestWord(_ word: String, _ candidates: [String]) -> String? {
    let best = candidates.map { ($0, editDistance($0.lowercased(), word.lowercased())) }.min { $0.1 < $1.1 }
    return best.flatMap { $0.1 <= 3 ? $0.0 : nil }
}
