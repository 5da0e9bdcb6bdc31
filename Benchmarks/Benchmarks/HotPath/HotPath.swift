// The control path's cost: one SafetyPolicy.step and one whole Controller.step (edges, inputs,
// policy, outputs with read-back) on the steady path, in time and in heap allocations. The
// steady path is what runs four times a second for the life of the controller: both BMS enables
// asserted, both contactor relays closed, nothing changing. Target: zero allocations.
//
//   cd Benchmarks && swift package benchmark --target HotPath
//
// Time is virtual here (the policy never reads a clock; the controller gets a VirtualClock), so
// the numbers are the cost of the code, not of waiting.

import Benchmark
import Logging
import PackGuardConfig
import PackGuardCore
import PackGuardDaemon
import PackGuardGPIO

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .mallocCountTotal, .mallocBytesCount]

    // MARK: SafetyPolicy.step, steady healthy input

    Benchmark(
        "SafetyPolicy.step steady (enables asserted, relays closed)",
        configuration: .init(metrics: metrics, timeUnits: .nanoseconds, warmupIterations: 10,
                             scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 1_000)
    ) { benchmark in
        var steady = SteadyPolicy()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(steady.step())
        }
        benchmark.stopMeasurement()
        precondition(steady.relaysClosed, "the steady path must keep both relays closed")
    }

    // MARK: SafetyPolicy.step, Discharge Enable released (the event path)

    // Each iteration re-closes the relay outside the measurement, then measures the one step in
    // which the release opens it: that step builds the event's reason text, so it allocates.
    var cycle = SteadyPolicy()
    Benchmark(
        "SafetyPolicy.step Discharge Enable released (relay opens, event with reason)",
        configuration: .init(metrics: metrics, timeUnits: .nanoseconds, warmupIterations: 10,
                             scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 20_000)
    ) { benchmark in
        cycle.recloseDischarge()
        benchmark.startMeasurement()
        let result = cycle.releaseDischarge()
        benchmark.stopMeasurement()
        precondition(result.outputs[.dischargeRelay] == .inactive && !result.events.isEmpty)
        blackHole(result)
    }

    // MARK: Controller.step, steady (the whole iteration on the mocked chip)

    Benchmark(
        "Controller.step steady (edges, inputs, policy, outputs with read-back; mocked chip)",
        configuration: .init(metrics: metrics, timeUnits: .nanoseconds, warmupIterations: 10,
                             scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 1_000)
    ) { benchmark in
        let rig = SteadyController()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(rig.step())
        }
        benchmark.stopMeasurement()
        precondition(rig.relaysClosed, "the steady path must keep both relays closed")
    }
}

/// The shipped configuration's policy (four inputs, six outputs), settled into the steady state.
struct SteadyPolicy {
    var policy: SafetyPolicy
    var now = Instant.milliseconds(1_000)
    let asserted: StepInput
    let released: StepInput
    let period = Interval.milliseconds(250)  // reconcileMs: how often an idle controller steps

    init() {
        var configuration = BuiltInConfiguration.load().policy
        // The release benchmark opens the relay every iteration: keep it from latching "chatter".
        configuration.timing.chatterLimit = 1_000_000
        policy = SafetyPolicy(configuration: configuration)
        asserted = .levels([.chargeEnable: .active, .dischargeEnable: .active,
                            .chargerSafety: .inactive, .balanceSwitch: .inactive])
        released = .levels([.chargeEnable: .active, .dischargeEnable: .inactive,
                            .chargerSafety: .inactive, .balanceSwitch: .inactive])
        // Start-up hold and qualification, on virtual time.
        for _ in 0..<40 { _ = step() }
        precondition(relaysClosed, "both relays close after the start-up hold and qualification")
    }

    var relaysClosed: Bool {
        policy.currentOutputs[.chargeRelay] == .active && policy.currentOutputs[.dischargeRelay] == .active
    }

    @inline(__always)
    mutating func step() -> StepResult {
        now = now + period
        return policy.step(asserted, now: now)
    }

    mutating func releaseDischarge() -> StepResult {
        now = now + period
        return policy.step(released, now: now)
    }

    /// Asserted again, then past minOffMs and qualifyMs: closed.
    mutating func recloseDischarge() {
        while policy.currentOutputs[.dischargeRelay] != .active {
            now = now + .milliseconds(policy.configuration.timing.minOffMs / 4 + 1)
            _ = policy.step(asserted, now: now)
        }
    }
}

/// The real Controller on the mocked Raspberry Pi chip with the shipped configuration, a silent
/// logger and a virtual clock, settled with both relays closed.
final class SteadyController {
    let clock = VirtualClock(start: .milliseconds(1_000))
    let gpio: SimulatedGPIO
    let controller: Controller

    init() {
        let configuration = BuiltInConfiguration.load()
        let clock = self.clock
        gpio = SimulatedGPIO.raspberryPi(clock: { UInt64(max(0, clock.now().nanoseconds)) })
        for signal in [InputSignal.chargeEnable, .dischargeEnable] {
            guard case .name(let name)? = configuration.inputs[signal]?.locator else { preconditionFailure() }
            gpio.drive(name, .low)  // the BMS pulls its open-drain enable to ground: asserted
        }
        let lines: SignalLines
        do { lines = try SignalLines(configuration: configuration, backend: gpio) } catch {
            preconditionFailure("mocked chip: \(error)")
        }
        var logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        controller = Controller(configuration: configuration, lines: lines, backendDescription: "mocked chip",
                                clock: clock, logger: logger)
        for _ in 0..<40 { step() }
        precondition(relaysClosed, "both relays close after the start-up hold and qualification")
    }

    var relaysClosed: Bool { gpio.physicalLevel("GPIO16") && gpio.physicalLevel("GPIO20") }

    @discardableResult
    @inline(__always)
    func step() -> Bool {
        clock.advance(.milliseconds(250))
        do {
            return try controller.step(now: clock.now()).healthy
        } catch {
            preconditionFailure("\(error)")
        }
    }
}
