import PropertyBased
import Testing
@testable import PackGuardCore
import PackGuardWords

/// The minimal wiring plus the precharge relay, with short timings.
private func prechargeConfiguration(_ completion: PrechargeRules.Completion) -> PolicyConfiguration {
    var configuration = PolicyConfiguration.minimal
    configuration.outputs.insert(.prechargeRelay)
    configuration.timing.startupHoldMs = 0
    configuration.timing.qualifyMs = 100
    configuration.timing.minOffMs = 200
    configuration.precharge.enabled = true
    configuration.precharge.completion = completion
    configuration.precharge.timeoutMs = 1000
    configuration.precharge.overlapMs = 50
    configuration.precharge.maxAttempts = 3
    configuration.precharge.attemptWindowS = 60
    return configuration
}

private let sensed = PrechargeRules.Completion.busVoltage(targetPercent: 95, pack: .nominal(volts: 48))

/// A policy with a simulated inverter: the bus charges through the precharge resistor
/// (τ = `tauMs`), jumps to the pack when the discharge relay closes, and reads 0 V when shorted.
private struct PrechargeRig {
    var policy: SafetyPolicy
    var now = Instant.zero
    var levels: [InputSignal: Level] = [.chargeEnable: .active, .dischargeEnable: .active]
    var bus = 0.0
    var tauMs = 100.0
    var shorted = false
    var events: [PolicyEvent] = []

    init(_ configuration: PolicyConfiguration) { policy = SafetyPolicy(configuration: configuration) }

    func closed(_ signal: OutputSignal) -> Bool { policy.currentOutputs[signal].isActive }

    @discardableResult
    mutating func step(failing: InputSignal? = nil) -> StepResult {
        var input = StepInput.levels(levels)
        if let failing { input.readings[failing] = .failed("EIO") }
        input.busVoltage = .volts(bus)
        let result = policy.step(input, now: now)
        events += result.events
        return result
    }

    /// Runs in 10 ms steps, the bus following the relays.
    mutating func run(ms: Int) {
        for _ in 0..<(ms / 10) {
            now = now + .milliseconds(10)
            if shorted {
                bus = 0
            } else if closed(.dischargeRelay) {
                bus = 48
            } else if closed(.prechargeRelay) {
                bus += (48 - bus) * (1 - exp(-10 / tauMs))
            }
            step()
        }
    }

    func reasons(_ text: String) -> [String] { events.map(\.reason.words).filter { $0.contains(text) } }
}

private func exp(_ x: Double) -> Double {
    // e^x by its series: the core tests stay free of Foundation too.
    var term = 1.0, sum = 1.0
    for n in 1..<30 { term *= x / Double(n); sum += term }
    return sum
}

@Suite("Precharge of the discharge side")
struct PrechargeRuleTests {
    @Test func aSensedPrechargeClosesTheDischargeRelayOnlyAtTheTargetThenOpensThePrechargeRelay() {
        var rig = PrechargeRig(prechargeConfiguration(sensed))
        rig.step()
        rig.run(ms: 100)
        #expect(rig.closed(.chargeRelay), "the charge relay does not precharge")
        #expect(rig.closed(.prechargeRelay) && !rig.closed(.dischargeRelay), "qualified: precharging first")
        rig.run(ms: 200)  // τ = 100 ms: 95 % after 3τ = 300 ms
        #expect(!rig.closed(.dischargeRelay) && rig.bus < 48 * 0.95)
        rig.run(ms: 130)
        let (discharge, overlap) = (rig.closed(.dischargeRelay), rig.closed(.prechargeRelay))
        #expect(discharge, "bus \(rig.bus)")
        #expect(overlap, "the overlap")
        let closing = rig.reasons("discharge relay closed: bus at ")
        #expect(closing.count == 1)
        #expect(closing.first?.contains("of pack after") == true, "\(closing)")
        rig.run(ms: 60)
        #expect(!rig.closed(.prechargeRelay) && rig.closed(.dischargeRelay))
        #expect(rig.reasons("precharge relay opened: discharge relay closed 50 ms ago").count == 1)
    }

    @Test func aTimerPrechargeWaitsTimeMs() {
        var rig = PrechargeRig(prechargeConfiguration(.timer(milliseconds: 300)))
        rig.step()
        rig.run(ms: 100)
        #expect(rig.closed(.prechargeRelay) && !rig.closed(.dischargeRelay))
        rig.run(ms: 290)
        #expect(!rig.closed(.dischargeRelay))
        rig.run(ms: 10)
        #expect(rig.closed(.dischargeRelay))
        #expect(rig.reasons("discharge relay closed: precharged for 300 ms (timer, no bus voltage sensing)").count == 1)
    }

    @Test func aShortedBusTimesOutLatchesPrechargeFailedAndNeedsAReset() {
        var rig = PrechargeRig(prechargeConfiguration(sensed))
        rig.shorted = true
        rig.step()
        rig.run(ms: 100 + 990)
        #expect(rig.closed(.prechargeRelay))
        rig.run(ms: 10)
        #expect(!rig.closed(.prechargeRelay), "never held past timeoutMs")
        #expect(!rig.closed(.dischargeRelay))
        #expect(rig.policy.faults.contains(.prechargeFailed))
        #expect(rig.reasons("precharge failed: not complete after 1 s: bus at 0.0 V = 0 % of pack 48.0 V").count == 1, "\(rig.events.map(\.reason))")
        rig.shorted = false
        rig.run(ms: 5000)
        #expect(!rig.closed(.dischargeRelay) && !rig.closed(.prechargeRelay), "latched: no new attempt")
        #expect(rig.closed(.chargeRelay), "charging is not affected")
        _ = rig.policy.step(StepInput(commands: [.reset]), now: rig.now)
        rig.run(ms: 100)
        #expect(rig.closed(.prechargeRelay), "after reset a new sequence starts")
    }

    @Test func aReleaseMidSequenceOpensThePrechargeRelayInTheSameStep() {
        var rig = PrechargeRig(prechargeConfiguration(sensed))
        rig.step()
        rig.run(ms: 150)
        #expect(rig.closed(.prechargeRelay))
        rig.levels[.dischargeEnable] = .inactive
        rig.now = rig.now + .milliseconds(1)
        rig.step()
        #expect(!rig.closed(.prechargeRelay) && !rig.closed(.dischargeRelay))
        #expect(rig.reasons("precharge relay opened: Discharge Enable (BMS pin 3) released").count == 1)
        #expect(!rig.policy.faults.contains(.prechargeFailed), "an interrupted precharge is not a failure")
    }

    @Test func anyFaultDuringTheOverlapOpensBoth() {
        var rig = PrechargeRig(prechargeConfiguration(.timer(milliseconds: 100)))
        rig.step()
        rig.run(ms: 200)
        #expect(rig.closed(.dischargeRelay) && rig.closed(.prechargeRelay), "in the overlap")
        rig.now = rig.now + .milliseconds(1)
        rig.step(failing: .chargeEnable)
        #expect(!rig.closed(.dischargeRelay) && !rig.closed(.prechargeRelay))
    }

    @Test func moreThanMaxAttemptsWithinTheWindowLatch() {
        var rig = PrechargeRig(prechargeConfiguration(sensed))
        rig.step()
        for attempt in 1...3 {
            rig.run(ms: 120)
            let running = rig.closed(.prechargeRelay)
            #expect(running, "attempt \(attempt) runs")
            rig.levels[.dischargeEnable] = .inactive
            rig.run(ms: 300)
            rig.levels[.dischargeEnable] = .active
            rig.bus = 0
        }
        rig.run(ms: 300)
        let refused = !rig.closed(.prechargeRelay)
        #expect(refused, "the fourth is refused")
        #expect(rig.policy.faults.contains(.prechargeFailed))
        #expect(rig.reasons("3 precharges within 60 s (maxAttempts 3)").count == 1, "\(rig.events.map(\.reason))")
    }

    @Test func withPrechargeDisabledThePrechargeRelayNeverCloses() {
        var configuration = prechargeConfiguration(sensed)
        configuration.precharge.enabled = false
        var rig = PrechargeRig(configuration)
        rig.step()
        rig.run(ms: 200)
        #expect(rig.closed(.dischargeRelay) && !rig.closed(.prechargeRelay))
    }
}

/// Random enables, faults, commands and bus voltages against the precharge invariants.
private func checkPrechargeInvariants(_ steps: [RandomStep], completion: PrechargeRules.Completion) {
    let configuration = prechargeConfiguration(completion)
    var policy = SafetyPolicy(configuration: configuration)
    var levels = PerInput(repeating: Level.inactive)
    var now = Instant.zero
    var prechargeClosedSince: Instant?
    var previous = OutputLevels(repeating: .inactive)
    for (index, step) in steps.enumerated() {
        now = now + .milliseconds(step.advanceMs)
        for signal in step.flips where configuration.inputs.contains(signal) {
            levels[signal] = levels[signal].isActive ? .inactive : .active
        }
        var input = StepInput()
        for signal in configuration.inputs { input.readings[signal] = .level(levels[signal]) }
        if let failed = step.readFailure, configuration.inputs.contains(failed) { input.readings[failed] = .failed("EIO") }
        input.outputFailure = step.outputFailure ? "EIO" : nil
        input.loopDeadlineMissed = step.loopDeadlineMissed
        input.commands = step.command.map { [$0] } ?? []
        // The bus: anywhere from 0 to 50 V, from the step's own randomness.
        let bus = Double(abs(step.advanceMs * 7 + step.flips.count * 13 + index * 3) % 51)
        input.busVoltage = index % 9 == 0 ? .invalid("ADC transfer failed") : .volts(bus)
        let out = policy.step(input, now: now).outputs
        func fail(_ message: String) { Issue.record("step \(index + 1) at \(now): \(message)") }

        let prechargeWasClosedFor = prechargeClosedSince.map { now - $0 }
        if out[.dischargeRelay].isActive && !previous[.dischargeRelay].isActive {
            switch completion {
            case .busVoltage(let target, .nominal(let pack)):
                if case .volts(let v)? = input.busVoltage, v >= pack * target / 100 {} else {
                    return fail("discharge relay closed with the bus at \(String(describing: input.busVoltage))")
                }
                if prechargeWasClosedFor == nil { return fail("discharge relay closed without a precharge") }
            case .timer(let ms):
                guard let closedFor = prechargeWasClosedFor, closedFor >= .milliseconds(ms) else {
                    return fail("discharge relay closed after \(String(describing: prechargeWasClosedFor)) of precharge")
                }
            default: break
            }
        }
        if out[.prechargeRelay].isActive {
            let since = prechargeClosedSince ?? now
            prechargeClosedSince = since
            if now - since > .milliseconds(configuration.precharge.timeoutMs) {
                return fail("precharge relay closed for \(now - since)")
            }
        } else {
            prechargeClosedSince = nil
        }
        // Every opening condition opens both in the same step.
        let opens = !levels[.dischargeEnable].isActive || step.readFailure.map { configuration.inputs.contains($0) } == true
            || step.outputFailure || step.loopDeadlineMissed || policy.isForcedOff
        if opens && (out[.dischargeRelay].isActive || out[.prechargeRelay].isActive) {
            return fail("an opening condition left discharge \(out[.dischargeRelay]) / precharge \(out[.prechargeRelay])")
        }
        if previous[.dischargeRelay].isActive && !out[.dischargeRelay].isActive && out[.prechargeRelay].isActive {
            return fail("the discharge relay opened but the precharge relay stayed closed")
        }
        previous = out
    }
}

private let prechargeSteps = Gen.int(in: 0...Int.max).map { RandomStep($0) }.array(of: 20...300)

@Suite("Precharge invariants over random sequences", .shrinking(false))
struct PrechargePropertyTests {
    @Test func sensedPrechargeInvariants() async {
        await propertyCheck(count: 150, input: prechargeSteps) { steps in checkPrechargeInvariants(steps, completion: sensed) }
    }

    @Test func timerPrechargeInvariants() async {
        await propertyCheck(count: 150, input: prechargeSteps) { steps in
            checkPrechargeInvariants(steps, completion: .timer(milliseconds: 150))
        }
    }
}
