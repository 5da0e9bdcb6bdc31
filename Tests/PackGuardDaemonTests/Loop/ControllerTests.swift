import Glibc
import Logging
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Synchronization
import Testing
@testable import PackGuardDaemon

/// Records sd_notify messages instead of sending them.
final class RecordingNotifier: ServiceNotifier {
    let messages = Mutex<[String]>([])
    let watchdogIntervalNanoseconds: UInt64?

    init(watchdogIntervalNanoseconds: UInt64? = 1_000_000_000) {
        self.watchdogIntervalNanoseconds = watchdogIntervalNanoseconds
    }

    func notify(_ fields: [String]) throws { messages.withLock { $0 += fields } }
    var all: [String] { messages.withLock { $0 } }
}

let quietLogger: Logger = {
    var logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
    logger.logLevel = .critical
    return logger
}()

struct Rig {
    let gpio: SimulatedGPIO
    let clock = VirtualClock(start: .milliseconds(10_000))
    let notifier = RecordingNotifier()
    let controller: Controller
    let configuration: PackGuardConfiguration

    /// `virtualEdgeTimes`: the chip stamps edges on the rig's virtual clock (as the kernel does on
    /// the daemon's), for tests that compare edge times with the controller's; else on the real one.
    init(configuration: PackGuardConfiguration = BuiltInConfiguration.load(), store: ForceOffStore? = nil,
         virtualEdgeTimes: Bool = false) throws {
        self.configuration = configuration
        let clock = self.clock
        gpio = virtualEdgeTimes ? SimulatedGPIO.raspberryPi(clock: { UInt64(max(0, clock.now().nanoseconds)) }) : SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: configuration, backend: gpio)
        controller = Controller(configuration: configuration, lines: lines, backendDescription: "simulated",
                                clock: clock, logger: quietLogger, notifier: notifier, forceOffStore: store)
    }

    @discardableResult
    func step() throws -> StepResult { try controller.step(now: clock.now()) }

    func run(ms: Int, tick: Int = 50) throws {
        var left = ms
        while left > 0 {
            clock.advance(.milliseconds(min(tick, left)))
            left -= tick
            try step()
        }
    }

    /// The BMS pulls an open-drain enable to ground (asserted) or lets it float (released).
    func bms(_ line: String, asserted: Bool) { gpio.drive(line, asserted ? .low : .floating) }

    /// Both enables asserted and both relays closed (start-up hold and qualification over), every
    /// step so far one that read every line.
    static func closed(configuration: PackGuardConfiguration = BuiltInConfiguration.load(),
                       virtualEdgeTimes: Bool = false) throws -> Rig {
        let rig = try Rig(configuration: configuration, virtualEdgeTimes: virtualEdgeTimes)
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.step()
        try rig.run(ms: 3500)
        try #require(rig.gpio.physicalLevel("GPIO20") && rig.gpio.physicalLevel("GPIO16"))
        return rig
    }
}

@Suite("Controller on the simulated chip")
struct ControllerTests {
    @Test func startsWithEveryOutputOffAndSaysReadyOnlyAfterEveryInputWasRead() throws {
        let rig = try Rig()
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        #expect(rig.notifier.all.isEmpty)
        try rig.step()
        for output in ["GPIO16", "GPIO20", "GPIO21", "GPIO26"] {
            #expect(rig.gpio.outputHistory(output).allSatisfy { !$0.high }, "\(output) never high during start-up")
        }
        #expect(rig.notifier.all.first == "READY=1")
        try rig.run(ms: 3450)
        #expect(!rig.gpio.physicalLevel("GPIO20"))
        try rig.run(ms: 50)
        #expect(rig.gpio.physicalLevel("GPIO20"), "discharge relay closes at startup hold + qualify")
        #expect(rig.gpio.physicalLevel("GPIO16"))
    }

    @Test func aReleasedEnableOpensItsRelayInTheNextStepWithTheReasonLogged() throws {
        let rig = try Rig()
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.step()
        try rig.run(ms: 3500)
        rig.bms("GPIO27", asserted: false)
        try rig.step()
        #expect(!rig.gpio.physicalLevel("GPIO20"))
        #expect(rig.gpio.physicalLevel("GPIO16"))
        #expect(rig.controller.events.last(10).contains { $0.reason == "discharge relay opened: Discharge Enable (BMS pin 3) released" })
    }

    @Test func aReleaseShorterThanOneStepStillOpensTheRelayThroughItsEdges() throws {
        let rig = try Rig()
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.step()
        try rig.run(ms: 3500)
        rig.bms("GPIO27", asserted: false)
        rig.bms("GPIO27", asserted: true)  // back before the controller looked at the level
        try rig.step()
        #expect(!rig.gpio.physicalLevel("GPIO20"), "the falling edge was seen even though the level is asserted again")
    }

    @Test func aLostEdgeIsRecoveredByReconciliation() throws {
        let rig = try Rig()
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.step()
        try rig.run(ms: 3500)
        rig.gpio.dropEvents(true)
        rig.bms("GPIO17", asserted: false)
        try rig.step()
        #expect(!rig.gpio.physicalLevel("GPIO16"))
    }

    @Test func anInjectedReadErrorOpensEveryRelayInOneStepAndWithholdsTheWatchdog() throws {
        let rig = try Rig()
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.step()
        try rig.run(ms: 3500, tick: 500)
        let before = rig.notifier.all.filter { $0 == "WATCHDOG=1" }.count
        rig.clock.advance(.seconds(1))
        rig.gpio.failNextRead()
        let result = try rig.step()
        #expect(!result.healthy)
        #expect(!rig.gpio.physicalLevel("GPIO16") && !rig.gpio.physicalLevel("GPIO20"))
        #expect(rig.notifier.all.filter { $0 == "WATCHDOG=1" }.count == before, "no WATCHDOG=1 after an unhealthy step")
        #expect(rig.controller.statusReport?.faults.contains { $0.code == "inputReadError:chargeEnable" } == true)
    }

    @Test func aFailedSetOpensEveryRelayAndAFailedForceOffIsFatal() throws {
        let rig = try Rig()
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.step()
        try rig.run(ms: 3450)
        rig.gpio.failNextSet()
        try rig.run(ms: 50)  // the closing set fails
        #expect(!rig.gpio.physicalLevel("GPIO16") && !rig.gpio.physicalLevel("GPIO20"))
        #expect(rig.controller.currentPolicy.faults.contains(.outputWriteError))

        // When the outputs cannot even be driven off, the controller gives up (exit non-zero).
        let doomed = try Rig()
        doomed.bms("GPIO17", asserted: true)
        doomed.bms("GPIO27", asserted: true)
        try doomed.step()
        try doomed.run(ms: 3500)
        #expect(doomed.gpio.physicalLevel("GPIO16"))
        doomed.gpio.vanish()
        doomed.clock.advance(.milliseconds(50))
        #expect(throws: ControllerFatalError.self) { try doomed.step() }
        #expect(doomed.controller.fatalFailure != nil, "remembered, so the loop exits even when a socket command ran the step")
    }

    @Test func failingEdgeReadsStopThePollingOfEventFdsUntilTheyReadAgain() throws {
        let rig = try Rig()
        try rig.step()
        #expect(!rig.controller.pollableEventDescriptors.isEmpty)
        rig.gpio.vanish()
        rig.clock.advance(.milliseconds(250))
        _ = try? rig.step()  // the outputs cannot be set either: fatal, which is not what this test is about
        #expect(rig.controller.pollableEventDescriptors.isEmpty, "a readable fd that cannot be read would spin the loop")
    }

    @Test func theInternalWatchdogForcesEveryRelayOffWhenAStepIsLate() throws {
        let rig = try Rig()
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.step()
        try rig.run(ms: 3500)
        #expect(rig.gpio.physicalLevel("GPIO16"))
        rig.controller.expectStep(by: rig.clock.now() + .milliseconds(250))
        #expect(!rig.controller.checkDeadline(now: rig.clock.now() + .milliseconds(449)), "not late yet")
        #expect(rig.controller.checkDeadline(now: rig.clock.now() + .milliseconds(451)))
        #expect(!rig.gpio.physicalLevel("GPIO16") && !rig.gpio.physicalLevel("GPIO20"), "forced off by the monitor")
        rig.clock.advance(.milliseconds(451))
        try rig.step()
        #expect(rig.controller.currentPolicy.faults.contains(.loopDeadlineMissed))
        #expect(!rig.gpio.physicalLevel("GPIO16"), "the policy agrees and holds the relays open")
        #expect(rig.controller.statusReport?.watchdogs.internalTrips == 1)
    }

    @Test func systemdHearsReadyStatusWatchdogOnlyWhenHealthyAndStopping() throws {
        let rig = try Rig()
        try rig.step()
        try rig.run(ms: 1000, tick: 250)
        let messages = rig.notifier.all
        #expect(messages.first == "READY=1")
        #expect(messages.contains { $0.hasPrefix("STATUS=") && !$0.contains("\n") })
        #expect(messages.filter { $0 == "WATCHDOG=1" }.count >= 3)
        rig.controller.shutdown(reason: "SIGTERM")
        #expect(rig.notifier.all.suffix(2).first == "STOPPING=1")
        #expect(rig.gpio.consumer(of: "GPIO16") == nil, "lines released at shutdown")
    }

    @Test func forceOffIsPersistedAndSurvivesARestart() throws {
        let directory = "/tmp/packguard-test-state-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(directory + "/force-off"); rmdir(directory) }
        let store = ForceOffStore(directory: directory)
        let rig = try Rig(store: store)
        rig.bms("GPIO17", asserted: true)
        try rig.step()
        rig.controller.submit(.forceOff(true))
        try rig.step()
        #expect(try store.load())
        #expect(rig.controller.currentPolicy.isForcedOff)
        rig.controller.shutdown(reason: "reboot")

        let again = try Rig(store: store)
        again.bms("GPIO17", asserted: true)
        again.controller.restorePersistentState()
        try again.step()
        try again.run(ms: 5000)
        #expect(again.controller.currentPolicy.isForcedOff)
        #expect(!again.gpio.physicalLevel("GPIO16"))
        again.controller.submit(.forceOff(false))
        try again.step()
        #expect(try !store.load())
    }

    @Test func statusReportShowsLogicalAndRawLevelsOutputsAndEvents() throws {
        let rig = try Rig()
        rig.bms("GPIO27", asserted: true)
        try rig.step()
        try rig.run(ms: 3500)
        let report = try #require(rig.controller.statusReport)
        #expect(report.state == "running")
        #expect(report.inputs["dischargeEnable"] == .init(line: "GPIO27", logical: "active", raw: 0, error: nil))
        #expect(report.inputs["chargeEnable"] == .init(line: "GPIO17", logical: "inactive", raw: 1, error: nil))
        #expect(report.outputs["dischargeRelay"] == .init(line: "GPIO20", logical: "active", raw: 1))
        #expect(report.outputs["chargeRelay"]?.logical == "inactive")
        #expect(report.summary == "running: charge open, discharge closed")
        #expect(report.events.contains { $0.kind == "dischargeRelay.on" })
        #expect(report.uptimeS == 3)
    }
}

@Suite("Control loop threads")
struct ControlLoopTests {
    func fastConfiguration() -> PackGuardConfiguration {
        var configuration = BuiltInConfiguration.load()
        var timing = configuration.timing
        timing.startupHoldMs = 50
        timing.qualifyMs = 20
        configuration.policy.timing = timing
        return configuration
    }

    /// A simulated BMS with both enables asserted, and the real loop around it (not started).
    func runningParts() throws -> (SimulatedGPIO, Controller, ControlLoop) {
        let gpio = SimulatedGPIO.raspberryPi()
        gpio.drive("GPIO17", .low)
        gpio.drive("GPIO27", .low)
        let configuration = fastConfiguration()
        let lines = try SignalLines(configuration: configuration, backend: gpio)
        let controller = Controller(configuration: configuration, lines: lines, backendDescription: "simulated",
                                    clock: SystemClock(), logger: quietLogger)
        return (gpio, controller, try ControlLoop(controller: controller, logger: quietLogger))
    }

    @Test func stopRequestTurnsEverythingOffAndReleasesTheLines() throws {
        let (gpio, controller, loop) = try runningParts()
        let outcome = Mutex<String?>(nil)
        let thread = startThread {
            do {
                let reason = try loop.run()
                outcome.withLock { $0 = reason }
            } catch {
                outcome.withLock { $0 = "fatal: \(error)" }
            }
        }
        // Wait (bounded) until the relays have closed: the loop really runs on its own.
        for _ in 0..<200 where !gpio.physicalLevel("GPIO20") { sleepMilliseconds(10) }
        #expect(gpio.physicalLevel("GPIO20"))
        loop.requestStop(reason: "SIGTERM")
        if let thread { pthread_join(thread, nil) }
        #expect(outcome.withLock { $0 } == "SIGTERM")
        #expect(!gpio.physicalLevel("GPIO20") && !gpio.physicalLevel("GPIO16"))
        #expect(gpio.consumer(of: "GPIO20") == nil)
        #expect(controller.events.last(5).contains { $0.reason == "controller stopped: SIGTERM" })
    }

    /// With the off reflex running, the loop does not poll the enables: it must still step on
    /// each of their edges as soon as the reflex hands it on, long before its own timer.
    @Test func theLoopStepsOnEdgesTheReflexHandsOnWithoutItsTimer() throws {
        var configuration = fastConfiguration()
        configuration.outputs[.heartbeat] = nil
        configuration.policy.outputs.remove(.heartbeat)
        configuration.loop.reconcileMs = 2000  // the timer alone would step once in 2 s
        configuration.policy.timing.inputStaleMs = 5000
        let gpio = SimulatedGPIO.raspberryPi()
        gpio.drive("GPIO17", .low)
        gpio.drive("GPIO27", .low)
        let lines = try SignalLines(configuration: configuration, backend: gpio)
        let controller = Controller(configuration: configuration, lines: lines, backendDescription: "simulated",
                                    clock: SystemClock(), logger: quietLogger)
        let loop = try ControlLoop(controller: controller, logger: quietLogger)
        let thread = startThread { _ = try? loop.run() }
        defer {
            loop.requestStop(reason: "test over")
            if let thread { pthread_join(thread, nil) }
        }
        for _ in 0..<300 where !(gpio.physicalLevel("GPIO20") && gpio.physicalLevel("GPIO16")) { sleepMilliseconds(10) }
        #expect(gpio.physicalLevel("GPIO20") && gpio.physicalLevel("GPIO16"))
        // Every step (and nothing else) moves the monitor's deadline; it is read under its lock,
        // from this thread, while the loop runs.
        func lastStep() -> Instant? { controller.health.withLock { $0.deadline } }
        // Until the policy's own deadlines are over: then only the 2 s timer would step.
        var quiet = lastStep()
        for _ in 0..<10 {
            sleepMilliseconds(300)
            if lastStep() == quiet { break }
            quiet = lastStep()
        }
        sleepMilliseconds(300)
        #expect(lastStep() == quiet, "no timer step in 300 ms: a step below is the edge's")

        gpio.drive("GPIO27", .floating)  // Discharge Enable released
        for _ in 0..<100 where lastStep() == quiet || gpio.physicalLevel("GPIO20") { sleepMilliseconds(5) }
        #expect(lastStep() != quiet, "the loop stepped on the handed-on release")
        #expect(!gpio.physicalLevel("GPIO20"))
        #expect(controller.lines.reflexOpenings == 1, "the reflex opened it, before the loop")
        #expect(controller.events.last(10).contains { $0.reason == "discharge relay opened: Discharge Enable (BMS pin 3) released" })

        sleepMilliseconds(100)
        let settled = lastStep()
        gpio.drive("GPIO27", .low)  // asserted again: the reflex opens nothing, and hands it on all the same
        for _ in 0..<100 where lastStep() == settled { sleepMilliseconds(5) }
        #expect(lastStep() != settled, "the loop stepped on the handed-on assert")
    }

    @Test func aStalledStepIsCaughtByTheMonitorWhileItIsStalled() throws {
        let (gpio, controller, loop) = try runningParts()
        let thread = startThread { _ = try? loop.run() }
        for _ in 0..<200 where !gpio.physicalLevel("GPIO20") { sleepMilliseconds(10) }
        #expect(gpio.physicalLevel("GPIO20"))
        // The control thread stalls (three times the 200 ms deadline) in work it does before a step.
        loop.perform { _ in sleepMilliseconds(600) }
        for _ in 0..<100 where gpio.physicalLevel("GPIO20") { sleepMilliseconds(10) }
        #expect(!gpio.physicalLevel("GPIO20"), "forced off during the stall, not after it")
        #expect(controller.health.withLock { $0.trips } == 1)
        loop.requestStop(reason: "test over")
        if let thread { pthread_join(thread, nil) }
    }
}
