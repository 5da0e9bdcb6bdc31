// Reaction latency through the real control loop: the mocked chip (SimulatedGPIO), SignalLines,
// Controller and ControlLoop on its own thread with the SystemClock, exactly as `packguard run
// --simulate` assembles them (less the control socket). Each iteration releases Discharge Enable
// (the BMS lets its open-drain output float: the pull-up reads inactive), which writes the edge
// to the request's event fd and wakes the loop out of poll(2); the latency is from just before
// that drive to the instant the loop set the discharge relay output low, both on CLOCK_MONOTONIC
// (the output's change is timestamped by the mocked chip inside setValues). Then Discharge Enable
// is asserted again and the relay re-closes (not measured): timings are shortened so that a
// cycle takes about a millisecond (qualifyMs 1, minOffMs 0, no start-up hold, no chatter latch).
//
//   cd Benchmarks && swift package benchmark --target Reaction
//
// The exact p50/p99/max in nanoseconds are also printed to standard error at the end.

import Benchmark
import Glibc
import Logging
import PackGuardConfig
import PackGuardCore
import PackGuardDaemon
import PackGuardGPIO

let reactionMetric = BenchmarkMetric.custom("edge -> relay off (ns)", polarity: .prefersSmaller, useScalingFactor: false)
let edges = 10_000

let benchmarks: @Sendable () -> Void = {
    let reaction = RigHolder { LoopRig(reconcileMs: 250) }
    Benchmark(
        "Discharge Enable released -> discharge relay off (real loop, poll wake-up, mocked chip)",
        configuration: .init(metrics: [reactionMetric, .mallocCountTotal], warmupIterations: 200,
                             scalingFactor: .one, maxDuration: .seconds(600), maxIterations: edges,
                             teardown: { reaction.finish(label: "edge -> relay off") })
    ) { benchmark in
        let rig = reaction.rig
        // Measured: from the edge to the relay output going low.
        let latency = rig.releaseAndTime()
        benchmark.measurement(reactionMetric, Int(latency))
        reaction.samples.append(latency)
        // Not measured: assert again and wait until the relay has re-closed.
        rig.assertAndWaitClosed()
    }

    // One iteration = one wake of the real loop with nothing changing: poll(2) times out, the
    // controller steps (edges, inputs, policy, outputs: the heartbeat toggles) and goes back to
    // poll. reconcileMs 5 instead of 250 only so that the benchmark does not take minutes.
    let idle = RigHolder { LoopRig(reconcileMs: 5) }
    Benchmark(
        "ControlLoop idle wake (poll timeout -> step -> poll; mocked chip)",
        configuration: .init(metrics: [.mallocCountTotal, .mallocBytesCount], warmupIterations: 20,
                             scalingFactor: .one, maxDuration: .seconds(30), maxIterations: 2_000,
                             teardown: { idle.finish(label: nil) })
    ) { benchmark in
        idle.rig.waitForHeartbeatToggle()
    }
}

/// Creates the rig on first use (inside the measured process, after the benchmark was selected)
/// and stops it at teardown.
final class RigHolder: @unchecked Sendable {
    // @unchecked: used from the benchmark runner's thread only.
    private let make: () -> LoopRig
    private var made: LoopRig?
    var samples: [Int64] = []

    init(_ make: @escaping () -> LoopRig) { self.make = make }

    var rig: LoopRig {
        if let made { return made }
        let rig = make()
        made = rig
        samples.reserveCapacity(edges + 1_000)
        return rig
    }

    func finish(label: String?) {
        made?.stop()
        made = nil
        guard let label, !samples.isEmpty else { return }
        // The warm-up iterations come first: keep the measured ones only.
        let measured = Array(samples.suffix(edges)).sorted()
        func percentile(_ p: Double) -> Int64 {
            measured[min(measured.count - 1, Int((p / 100 * Double(measured.count)).rounded(.up)) - 1)]
        }
        let line = "\(label): n=\(measured.count) p50=\(percentile(50)) ns p99=\(percentile(99)) ns "
            + "max=\(measured.last!) ns min=\(measured.first!) ns\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        samples.removeAll()
    }
}

/// The real loop on its thread over the mocked Raspberry Pi chip, with the shipped configuration's
/// lines and polarities and short timings.
final class LoopRig: @unchecked Sendable {
    // @unchecked: the loop runs on its own thread and is only told to stop from here; the mocked
    // chip is thread-safe.
    let gpio = SimulatedGPIO.raspberryPi()  // CLOCK_MONOTONIC, like SystemClock
    let loop: ControlLoop
    private var thread: pthread_t?
    let enableLine: String   // Discharge Enable (GPIO27, active-low, pull-up)
    let relayLine: String    // discharge relay (GPIO20, active-high)
    let heartbeatLine: String

    init(reconcileMs: Int) {
        var configuration = BuiltInConfiguration.load()
        configuration.policy.timing.startupHoldMs = 0
        configuration.policy.timing.qualifyMs = 1
        configuration.policy.timing.minOffMs = 0
        configuration.policy.timing.chatterLimit = 1_000_000
        configuration.policy.timing.reconcileMs = reconcileMs
        guard case .name(let enable)? = configuration.inputs[.dischargeEnable]?.locator,
              case .name(let charge)? = configuration.inputs[.chargeEnable]?.locator,
              case .name(let relay)? = configuration.outputs[.dischargeRelay]?.locator,
              case .name(let heartbeat)? = configuration.outputs[.heartbeat]?.locator else {
            preconditionFailure("the shipped configuration names its lines")
        }
        enableLine = enable
        relayLine = relay
        heartbeatLine = heartbeat
        gpio.drive(charge, .low)
        gpio.drive(enable, .low)
        let lines: SignalLines
        do { lines = try SignalLines(configuration: configuration, backend: gpio) } catch {
            preconditionFailure("mocked chip: \(error)")
        }
        var logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        let controller = Controller(configuration: configuration, lines: lines, backendDescription: "mocked chip",
                                    clock: SystemClock(), logger: logger)
        do { loop = try ControlLoop(controller: controller, logger: logger) } catch {
            preconditionFailure("\(error)")
        }
        let loop = self.loop
        thread = startThread { _ = try? loop.run() }
        precondition(thread != nil, "cannot start the control thread")
        waitUntil { self.gpio.physicalLevel(relay) }
    }

    func stop() {
        loop.requestStop(reason: "benchmark done")
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    /// Releases Discharge Enable; returns nanoseconds from just before the drive to the relay output's change.
    func releaseAndTime() -> Int64 {
        let start = monotonicNanoseconds()
        gpio.drive(enableLine, .floating)
        waitUntil { !self.gpio.physicalLevel(self.relayLine) }
        guard let off = gpio.outputHistory(relayLine).last(where: { !$0.high }), off.nanoseconds >= start else {
            preconditionFailure("the relay went low without a recorded change")
        }
        return Int64(off.nanoseconds - start)
    }

    func assertAndWaitClosed() {
        gpio.drive(enableLine, .low)
        waitUntil { self.gpio.physicalLevel(self.relayLine) }
    }

    /// Waits for the next heartbeat change: one healthy step of the loop.
    func waitForHeartbeatToggle() {
        let before = gpio.physicalLevel(heartbeatLine)
        waitUntil { self.gpio.physicalLevel(self.heartbeatLine) != before }
    }

    /// Polls every ~20 µs (nanosleep), so that the waiting thread does not compete with the
    /// control thread for a core; the latency itself comes from the chip's timestamps.
    private func waitUntil(timeoutMs: Int = 5_000, _ condition: () -> Bool) {
        let deadline = monotonicNanoseconds() + UInt64(timeoutMs) * 1_000_000
        var pause = timespec(tv_sec: 0, tv_nsec: 20_000)
        while !condition() {
            precondition(monotonicNanoseconds() < deadline, "the control loop did not react within \(timeoutMs) ms")
            nanosleep(&pause, nil)
        }
    }
}
