import PackGuardCAN
import Glibc
import PackGuardConfig
import PackGuardCore
import PackGuardDaemon

/// What one step did: passed or not, and what was measured.
public struct StepOutcome: Sendable, Equatable {
    public var line: Int
    public var description: String
    public var passed: Bool
    public var detail: String
}

public struct ScenarioOutcome: Sendable, Equatable {
    public var scenario: Scenario
    public var steps: [StepOutcome]
    /// Set when the scenario could not even be set up (e.g. its configuration changes do not apply).
    public var setupError: String?
    /// Controller time the scenario covered, and the wall-clock time it took.
    public var simulatedMs: Int64
    public var wallMs: Int64

    public var passed: Bool { setupError == nil && steps.allSatisfy(\.passed) }
}

/// Runs scenarios against the real controller on the mocked chip.
public struct ScenarioRunner {
    public let base: PackGuardConfiguration
    public let realtime: Bool

    public init(base: PackGuardConfiguration, realtime: Bool = false) {
        self.base = base
        self.realtime = realtime
    }

    public func run(_ scenario: Scenario) -> ScenarioOutcome {
        let wallStart = wallClockMs()
        var outcome = ScenarioOutcome(scenario: scenario, steps: [], setupError: nil, simulatedMs: 0, wallMs: 0)
        let rig: BenchRig
        do {
            rig = try BenchRig(configuration: base, overrides: scenario.overrides, realtime: realtime)
        } catch {
            outcome.setupError = "\(error)"
            return outcome
        }
        let start = rig.now
        var state = RunState(lastActionAt: rig.now)
        for step in scenario.steps {
            let result: StepOutcome
            do {
                result = try perform(step, rig: rig, state: &state)
            } catch {
                result = StepOutcome(line: step.line, description: describe(step.action), passed: false, detail: "\(error)")
            }
            outcome.steps.append(result)
        }
        rig.stop(reason: "bench scenario over")
        outcome.simulatedMs = (rig.now - start).milliseconds
        outcome.wallMs = wallClockMs() - wallStart
        return outcome
    }

    struct RunState {
        var lastActionAt: Instant
        var eventMark = 0
    }

    private func perform(_ step: ScenarioStep, rig: BenchRig, state: inout RunState) throws -> StepOutcome {
        let config = rig.configuration
        let source = step.line > 0 ? "line \(step.line)" : "step"
        var passed = true
        var detail = ""
        switch step.action {
        case .set(let levels):
            for (signal, level) in levels { try rig.set(signal, level) }
            state.lastActionAt = rig.now
            rig.settle()
        case .soc(let quantity):
            rig.setSoc(try quantity.value(in: config, source: source))
            state.lastActionAt = rig.now
        case .can(let change):
            rig.changeCAN(change)
            state.lastActionAt = rig.now
            rig.settle()
        case .wait(let quantity):
            rig.advance(milliseconds: try quantity.milliseconds(in: config, source: source))
        case .fault(let fault):
            rig.inject(fault)
            state.lastActionAt = rig.now
            if ![.adcNack, .adcIOError, .adcStuckBusy, .adcFrozen].contains(fault) { rig.settle() }
        case .clearFaults:
            rig.clearFaults()
            state.lastActionAt = rig.now
            rig.settle()
        case .command(let command):
            rig.command(command)
            state.lastActionAt = rig.now
        case .signal(let name):
            state.lastActionAt = rig.now
            rig.stop(reason: name)
        case .reload(let changes):
            try rig.reload(changes, source: source)
            state.lastActionAt = rig.now
        case .expectOutputs(let wanted, let within, let holdFor):
            func holds() -> Bool { wanted.allSatisfy { rig.level(of: $0.0) == $0.1 } }
            func actual() -> String {
                wanted.map { "\($0.0.rawValue) \(describe(rig.level(of: $0.0), output: true))" }.joined(separator: ", ")
            }
            if let within {
                let limit = Interval.milliseconds(Int(try within.milliseconds(in: config, source: source)))
                let deadline = state.lastActionAt + limit
                var metAt: Instant? = holds() ? rig.now : nil
                if metAt == nil && rig.now < deadline {
                    rig.advance(milliseconds: (deadline - rig.now).milliseconds) { now in
                        if metAt == nil && holds() { metAt = now }
                    }
                }
                if let metAt {
                    detail = "reacted in \(formatMs(metAt - state.lastActionAt))"
                } else {
                    passed = false
                    detail = "not within \(limit.milliseconds) ms: \(actual())"
                }
            } else if let holdFor {
                let duration = try holdFor.milliseconds(in: config, source: source)
                // The state that broke the stretch, and when: not the state at its end.
                var broken: (at: Instant, found: String)? = holds() ? nil : (rig.now, actual())
                let begin = rig.now
                rig.advance(milliseconds: duration) { now in
                    if broken == nil && !holds() { broken = (now, actual()) }
                }
                if let broken {
                    passed = false
                    detail = broken.at == begin
                        ? "did not hold at the start of the \(duration) ms: \(broken.found)"
                        : "broke after \(formatMs(broken.at - begin)) of \(duration) ms: \(broken.found)"
                } else {
                    detail = "held for \(duration) ms"
                }
            } else if !holds() {
                passed = false
                detail = "found \(actual())"
            }
        case .expectState(let wanted):
            let current = rig.controller.currentPolicy.state
            if current != wanted {
                passed = false
                detail = "state is \(current.rawValue)"
            }
        case .expectFault(let code, let present):
            let faults = rig.controller.currentPolicy.faults.map(\.code)
            let found = faults.contains { $0 == code || $0.hasPrefix(code + ":") }
            if found != present {
                passed = false
                detail = "faults: \(faults.isEmpty ? "none" : faults.joined(separator: ", "))"
            }
        case .expectHeartbeat(let atLeast, let over):
            let begin = rig.now
            rig.advance(milliseconds: try over.milliseconds(in: config, source: source))
            guard let seen = rig.heartbeat(from: begin, to: rig.now) else {
                passed = false
                detail = "the heartbeat output is not configured by line name"
                break
            }
            detail = seen.description
            if let atLeast {
                let rate = try atLeast.value(in: config, source: source)
                let longestAllowed = Int64(1e9 / rate)
                if seen.perSecond < rate || seen.longestGapNanoseconds > longestAllowed {
                    passed = false
                    detail += "; wanted at least \(rate)/s with no gap over \(longestAllowed / 1_000_000) ms"
                }
            } else if seen.toggles > 0 {
                passed = false
                detail += "; wanted none"
            }
        case .expectEvent(let text):
            let events = rig.controller.events.since(sequence: state.eventMark)
            if let match = events.first(where: { $0.reason.contains(text) }) {
                state.eventMark = match.sequence
                detail = "\"\(match.reason)\""
            } else {
                passed = false
                detail = "no such event; since the last match: " + (events.isEmpty ? "none" : events.map { "\"\($0.reason)\"" }.joined(separator: ", "))
            }
        }
        return StepOutcome(line: step.line, description: describe(step.action), passed: passed, detail: detail)
    }
}

func describe(_ level: Level?, output: Bool) -> String {
    guard let level else { return "unknown" }
    if output { return level.isActive ? "closed" : "open" }
    return level.isActive ? "active" : "inactive"
}

func describe(_ action: ScenarioStep.Action) -> String {
    switch action {
    case .set(let levels): "set " + levels.map { "\($0.0.rawValue) \(describe($0.1, output: false))" }.joined(separator: ", ")
    case .soc(let q): "SOC \(q) %"
    case .can(let change): "CAN: " + (change.values.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" } + (change.silent.map { ["silent \($0)"] } ?? [])).joined(separator: ", ")
    case .wait(let q): "wait \(q) ms"
    case .fault(let fault): "inject \(fault.rawValue)"
    case .clearFaults: "clear injected faults"
    case .command(let command):
        switch command {
        case .reset: "operator reset"
        case .forceOff(let on): "operator force-off \(on ? "on" : "off")"
        }
    case .signal(let name): "send \(name)"
    case .reload(let changes): "reload (SIGHUP) with " + (changes.isEmpty ? "no changes" : changes.summary)
    case .expectOutputs(let outputs, let within, let holdFor):
        "expect " + outputs.map { "\($0.0.rawValue) \(describe($0.1, output: true))" }.joined(separator: ", ")
            + (within.map { " within \($0) ms" } ?? "") + (holdFor.map { " for \($0) ms" } ?? "")
    case .expectState(let state): "expect state \(state.rawValue)"
    case .expectFault(let code, let present): present ? "expect fault \(code)" : "expect no fault \(code)"
    case .expectEvent(let text): "expect event \"\(text)\""
    case .expectHeartbeat(let atLeast, let over):
        atLeast.map { "expect the heartbeat at least \($0)/s for \(over) ms" } ?? "expect no heartbeat for \(over) ms"
    }
}

func formatMs(_ interval: Interval) -> String {
    let micros = interval.nanoseconds / 1000
    if micros < 10_000 { return "\(micros / 1000).\(String(format3(micros % 1000))) ms" }
    return "\(micros / 1000) ms"
}

private func format3(_ value: Int64) -> String {
    let text = String(value)
    return String(repeating: "0", count: max(0, 3 - text.count)) + text
}

func wallClockMs() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
}
