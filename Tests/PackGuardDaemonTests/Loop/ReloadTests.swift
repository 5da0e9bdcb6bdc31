import Glibc
import Logging
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Synchronization
import Testing
@testable import PackGuardDaemon

/// A watchdog device that records what it was asked to do.
final class RecordingWatchdog: WatchdogDevice {
    let calls = Mutex<[String]>([])
    var description: String { "recording watchdog" }
    func pet() throws { calls.withLock { $0.append("pet") } }
    func disarm() throws { calls.withLock { $0.append("disarm") } }
    var all: [String] { calls.withLock { $0 } }
}

/// A controller on the mocked chip with a configuration file to reload, a recording notifier and
/// watchdog, and a log that tests can read.
struct ReloadRig {
    let gpio = SimulatedGPIO.raspberryPi()
    let clock = VirtualClock(start: .milliseconds(10_000))
    let notifier = RecordingNotifier()
    let watchdog = RecordingWatchdog()
    let log = RecordedLog()
    let logger: Logger
    let controller: Controller
    let directory = temporaryDirectory()
    var path: String { directory + "/packguard.yaml" }

    init(yaml: String = BuiltInConfiguration.yaml) throws {
        logger = log.logger
        writeFile(directory + "/packguard.yaml", yaml)
        let configuration = try ConfigurationLoader.load(path: directory + "/packguard.yaml")
        controller = Controller(configuration: configuration, lines: try SignalLines(configuration: configuration, backend: gpio),
                                backendDescription: "simulated", clock: clock, logger: logger, notifier: notifier,
                                watchdog: watchdog, forceOffStore: ForceOffStore(directory: directory + "/state"))
    }

    func run(ms: Int, tick: Int = 50) throws {
        var left = ms
        while left > 0 {
            clock.advance(.milliseconds(min(tick, left)))
            left -= tick
            try controller.step(now: clock.now())
        }
    }

    func bms(_ line: String, asserted: Bool) { gpio.drive(line, asserted ? .low : .floating) }

    /// Both enables asserted and run until both contactor relays closed.
    func closeBoth() throws {
        bms("GPIO17", asserted: true)
        bms("GPIO27", asserted: true)
        try run(ms: 3600)
        #expect(gpio.physicalLevel("GPIO16") && gpio.physicalLevel("GPIO20"), "both contactor relays closed before the reload")
    }

    /// Writes the file and reloads it, as SIGHUP does, then steps once (the loop steps right after).
    func reload(_ yaml: String) throws {
        writeFile(path, yaml)
        try Daemon.reload(controller, from: path, backend: gpio, logger: logger)
        try controller.step(now: clock.now())
    }

    /// Whether an output line was ever driven low since `index` in its history.
    func wentLow(_ line: String, after index: Int) -> Bool {
        gpio.outputHistory(line).dropFirst(index).contains { !$0.high }
    }
}

@Suite("Reload keeps every safety promise", .serialized)
struct ReloadTests {
    let yaml = BuiltInConfiguration.yaml

    @Test func anUnchangedMappingKeepsClosedRelaysClosedAndAppliesNewTimingsToTheNextClosing() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        let marks = (rig.gpio.outputHistory("GPIO16").count, rig.gpio.outputHistory("GPIO20").count)
        try rig.reload(yaml.replacingOccurrences("qualifyMs: 500", with: "qualifyMs: 800"))
        try rig.run(ms: 5000)
        #expect(!rig.wentLow("GPIO16", after: marks.0), "the charge relay never opened")
        #expect(!rig.wentLow("GPIO20", after: marks.1), "the discharge relay never opened")
        #expect(rig.controller.configuration.timing.qualifyMs == 800)
        #expect(rig.controller.currentPolicy.state == .running, "the policy was not restarted")
        #expect(!rig.notifier.all.contains("STOPPING=1"), "a reload is not a stop")
        #expect(!rig.watchdog.all.contains("disarm"), "a reload never disarms the hardware watchdog")
        #expect(rig.log.all.map(\.1).contains("reload: timing.qualifyMs: 500 -> 800"), "\(rig.log.all.map(\.1))")

        // The longer qualification applies to the next closing.
        rig.bms("GPIO27", asserted: false)
        try rig.run(ms: 5000)
        rig.bms("GPIO27", asserted: true)
        try rig.run(ms: 750)
        #expect(!rig.gpio.physicalLevel("GPIO20"), "still qualifying at 750 ms of the new 800")
        try rig.run(ms: 100)
        #expect(rig.gpio.physicalLevel("GPIO20"))
    }

    /// Whoever steps next (the loop's timer, an edge), the step after a reload reads every line of
    /// the configuration now in force: its reconciling read is due at once.
    @Test func theStepAfterAReloadReadsEveryLineEvenOnATimerWake() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        rig.clock.advance(.milliseconds(45))
        try rig.controller.step(now: rig.clock.now(), readableEdges: [])  // a full read 45 ms ago: this one reads none
        writeFile(rig.path, yaml.replacingOccurrences("qualifyMs: 500", with: "qualifyMs: 800"))
        try Daemon.reload(rig.controller, from: rig.path, backend: rig.gpio, logger: rig.logger)
        rig.clock.advance(.milliseconds(10))
        rig.gpio.startTrace()
        try rig.controller.step(now: rig.clock.now(), readableEdges: [])
        let trace = rig.gpio.takeTrace()
        for line in ["GPIO17", "GPIO27", "GPIO22", "GPIO23"] {
            #expect(trace.contains("read \(line)") && trace.contains("edges \(line)"), "\(line): \(trace)")
        }
        #expect(rig.gpio.physicalLevel("GPIO16") && rig.gpio.physicalLevel("GPIO20"), "the relays stay closed")
    }

    @Test func forceOffSurvivesAReloadAndStaysPersisted() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        rig.controller.submit(.forceOff(true))
        try rig.run(ms: 50)
        #expect(!rig.gpio.physicalLevel("GPIO16") && !rig.gpio.physicalLevel("GPIO20"))
        try rig.reload(yaml.replacingOccurrences("qualifyMs: 500", with: "qualifyMs: 300"))
        try rig.run(ms: 10_000)
        #expect(!rig.gpio.physicalLevel("GPIO16") && !rig.gpio.physicalLevel("GPIO20"), "force-off holds through the reload")
        #expect(rig.controller.currentPolicy.state == .forcedOff)
        #expect(access(rig.directory + "/state/force-off", F_OK) == 0, "still persisted")
    }

    @Test func aChatterLatchSurvivesAReloadUntilReset() throws {
        let rig = try ReloadRig(yaml: BuiltInConfiguration.yaml
            .replacingOccurrences("chatterLimit: 5", with: "chatterLimit: 1")
            .replacingOccurrences("minOffMs: 5000", with: "minOffMs: 100"))
        try rig.closeBoth()
        for _ in 0..<2 {
            rig.bms("GPIO17", asserted: false)
            try rig.run(ms: 50)
            rig.bms("GPIO17", asserted: true)
            try rig.run(ms: 700)
        }
        #expect(rig.controller.currentPolicy.faults.contains(.chatter(.charge)))
        try rig.reload(try String(readingFile: rig.path).replacingOccurrences("qualifyMs: 500", with: "qualifyMs: 400"))
        try rig.run(ms: 10_000)
        #expect(rig.controller.currentPolicy.faults.contains(.chatter(.charge)), "a reload is not a reset")
        #expect(!rig.gpio.physicalLevel("GPIO16"))
        #expect(rig.gpio.physicalLevel("GPIO20"), "the discharge relay was not affected")
    }

    @Test func anInvalidFileKeepsTheRunningConfigurationAndTheRelays() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        writeFile(rig.path, "inputs: [this is not right\n")
        #expect(throws: ConfigurationError.self) {
            try Daemon.reload(rig.controller, from: rig.path, backend: rig.gpio, logger: rig.logger)
        }
        try rig.run(ms: 1000)
        #expect(rig.gpio.physicalLevel("GPIO16") && rig.gpio.physicalLevel("GPIO20"))
        #expect(rig.controller.configuration.timing.qualifyMs == 500)
    }

    @Test func aMovedRelayLineOpensOnlyThatRelayAndTheNewLineIsHeldBeforeTheOldIsReleased() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        let dischargeMark = rig.gpio.outputHistory("GPIO20").count
        try rig.reload(yaml.replacingOccurrences("line: GPIO16", with: "line: GPIO5"))
        #expect(rig.gpio.consumer(of: "GPIO16") == nil, "the old line is released")
        #expect(rig.gpio.outputHistory("GPIO16").last?.high == false, "and was driven off first")
        #expect(rig.gpio.consumer(of: "GPIO5") == "packguard")
        #expect(rig.gpio.outputHistory("GPIO5").first?.high == false, "requested off")
        #expect(!rig.gpio.physicalLevel("GPIO5"), "the moved relay re-qualifies")
        #expect(rig.controller.lines.resolved["chargeRelay"]?.name == "GPIO5")
        try rig.run(ms: 4900)
        #expect(!rig.gpio.physicalLevel("GPIO5"), "minimum off time")
        try rig.run(ms: 200)
        #expect(rig.gpio.physicalLevel("GPIO5"))
        #expect(!rig.wentLow("GPIO20", after: dischargeMark), "the discharge relay stayed closed throughout")
        #expect(rig.log.all.map(\.1).contains("reload: outputs.chargeRelay.line: GPIO16 -> GPIO5"), "\(rig.log.all.map(\.1))")
    }

    @Test func anOldLineThatCannotBeDrivenOffIsReleasedAnywayAndSaidLoudly() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        rig.gpio.failNextSet(lines: ["GPIO16": EIO])
        try rig.reload(yaml.replacingOccurrences("line: GPIO16", with: "line: GPIO5"))
        #expect(rig.gpio.consumer(of: "GPIO16") == nil, "released to the kernel and its pull-down")
        let critical = rig.log.all.filter { $0.0 == .critical }.map(\.1)
        #expect(critical.contains { $0.contains("could not be driven off") && $0.contains("GPIO16") }, "\(critical)")
    }

    @Test func aMovedLineThatCannotBeTakenKeepsTheOldConfigurationWhollyInForce() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        rig.gpio.holdLine("GPIO5", consumer: "gpioset")
        writeFile(rig.path, yaml.replacingOccurrences("line: GPIO16", with: "line: GPIO5")
            .replacingOccurrences("qualifyMs: 500", with: "qualifyMs: 800"))
        #expect(throws: ControllerReloadError.self) {
            try Daemon.reload(rig.controller, from: rig.path, backend: rig.gpio, logger: rig.logger)
        }
        try rig.run(ms: 1000)
        #expect(rig.gpio.consumer(of: "GPIO16") == "packguard", "nothing was released")
        #expect(rig.gpio.physicalLevel("GPIO16") && rig.gpio.physicalLevel("GPIO20"), "nothing was stopped")
        #expect(rig.controller.configuration.timing.qualifyMs == 500, "no part of the new file took effect")
    }

    @Test func aMovedEnableInputOpensOnlyTheRelayItGates() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        let chargeMark = rig.gpio.outputHistory("GPIO16").count
        try rig.reload(yaml.replacingOccurrences("line: GPIO27", with: "line: GPIO6"))
        #expect(!rig.gpio.physicalLevel("GPIO20"), "the discharge relay opens: its enable moved")
        #expect(rig.gpio.consumer(of: "GPIO27") == nil)
        rig.bms("GPIO6", asserted: true)
        try rig.run(ms: 5600)
        #expect(rig.gpio.physicalLevel("GPIO20"), "it re-qualified on the new line")
        #expect(!rig.wentLow("GPIO16", after: chargeMark), "the charge relay stayed closed")
    }

    @Test func theOffReflexWatchesAMovedEnableOnItsNewLineAndNotTheOld() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        let reflex = try OffReflex(lines: rig.controller.lines)
        #expect(reflex.arm())
        #expect(reflex.start())
        defer { reflex.stop() }
        rig.controller.reflex = reflex
        try rig.reload(yaml.replacingOccurrences("line: GPIO27", with: "line: GPIO6"))
        rig.bms("GPIO6", asserted: true)
        try rig.run(ms: 5600)
        try #require(rig.gpio.physicalLevel("GPIO20"), "closed again on the new line")
        let before = reflex.openings
        rig.bms("GPIO27", asserted: false)  // the old line: no longer anyone's
        sleepMilliseconds(100)
        #expect(reflex.openings == before)
        rig.bms("GPIO6", asserted: false)
        var opened = false
        for _ in 0..<400 where !opened {
            opened = !rig.gpio.physicalLevel("GPIO20")
            if !opened { sleepMilliseconds(5) }
        }
        #expect(opened, "the reflex opened the discharge relay on its new enable line, with no step")
        #expect(reflex.openings == before + 1)
    }

    @Test func restartOnlyKeysKeepTheirRunningValuesAndSaySo() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        try rig.reload(yaml.replacingOccurrences("controlSocket: /run/packguard/control.sock", with: "controlSocket: /run/elsewhere.sock"))
        #expect(rig.controller.configuration.paths.controlSocket == "/run/packguard/control.sock")
        #expect(rig.log.all.map(\.1).contains { $0.contains("paths.controlSocket") && $0.contains("takes effect at the next start") })
        #expect(rig.gpio.physicalLevel("GPIO16") && rig.gpio.physicalLevel("GPIO20"))
    }
}

@Suite("Reload on the running loop", .serialized)
struct RunningReloadTests {
    @Test func theFileIsReadOffTheControlThreadAndAppliedBeforeItsNextStep() throws {
        let directory = temporaryDirectory()
        let path = directory + "/packguard.yaml"
        let yaml = BuiltInConfiguration.yaml.replacingOccurrences("startupHoldMs: 3000", with: "startupHoldMs: 100")
        writeFile(path, yaml)
        let configuration = try ConfigurationLoader.load(path: path)
        let gpio = SimulatedGPIO.raspberryPi()
        gpio.drive("GPIO17", .low)
        gpio.drive("GPIO27", .low)
        let controller = Controller(configuration: configuration, lines: try SignalLines(configuration: configuration, backend: gpio),
                                    backendDescription: "simulated", clock: SystemClock(), logger: quietLogger)
        let loop = try ControlLoop(controller: controller, logger: quietLogger)
        let thread = startThread { _ = try? loop.run() }
        defer {
            loop.requestStop(reason: "test over")
            if let thread { pthread_join(thread, nil) }
        }
        for _ in 0..<300 where !(gpio.physicalLevel("GPIO16") && gpio.physicalLevel("GPIO20")) { sleepMilliseconds(10) }
        #expect(gpio.physicalLevel("GPIO16") && gpio.physicalLevel("GPIO20"))
        let marks = (gpio.outputHistory("GPIO16").count, gpio.outputHistory("GPIO20").count)

        let reloads = ReloadCoordinator(path: path, backend: gpio, logger: quietLogger, running: configuration)
        writeFile(path, yaml.replacingOccurrences("qualifyMs: 500", with: "qualifyMs: 800"))
        reloads.reload(on: loop)
        let applied = Mutex(0)
        for _ in 0..<300 {
            loop.perform { controller in applied.withLock { $0 = controller.configuration.timing.qualifyMs } }
            sleepMilliseconds(10)
            if applied.withLock({ $0 }) == 800 { break }
        }
        #expect(applied.withLock { $0 } == 800, "the new file took effect")
        // A broken file is refused off the control thread; nothing changes.
        writeFile(path, "inputs: [broken\n")
        reloads.reload(on: loop)
        sleepMilliseconds(300)
        #expect(gpio.outputHistory("GPIO16").count == marks.0 && gpio.outputHistory("GPIO20").count == marks.1,
                "both contactor relays stayed closed through both reloads")
        #expect(controller.health.withLock { $0.trips } == 0, "no reload made a step late")
    }
}

@Suite("Edges the kernel reports twice")
struct RepeatedEdgeTests {
    @Test func twoRisingEdgesInARowCountAsAReleaseInBetween() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        _ = try rig.controller.step(now: rig.clock.now())  // drain the edges of the assertion
        // A release shorter than the kernel resolves: rising, rising, the line still asserted.
        rig.gpio.emitEdge("GPIO27", .rising)
        rig.gpio.emitEdge("GPIO27", .rising)
        try rig.controller.step(now: rig.clock.now())
        #expect(!rig.gpio.physicalLevel("GPIO20"), "the lost release opened the discharge relay")
        #expect(rig.gpio.physicalLevel("GPIO16"), "the charge relay is not affected")
    }

    @Test func oneRisingEdgeAfterAFallingOneIsNotARelease() throws {
        let rig = try ReloadRig()
        try rig.closeBoth()
        _ = try rig.controller.step(now: rig.clock.now())
        rig.gpio.emitEdge("GPIO27", .falling)
        rig.gpio.emitEdge("GPIO27", .rising)
        try rig.controller.step(now: rig.clock.now())
        #expect(!rig.gpio.physicalLevel("GPIO20"), "the falling edge itself opens the relay")
        rig.gpio.emitEdge("GPIO17", .falling)
        rig.gpio.emitEdge("GPIO17", .falling)
        try rig.controller.step(now: rig.clock.now())
        #expect(!rig.gpio.physicalLevel("GPIO16"))
    }
}

@Suite("Start-up and the watchdogs")
struct StartupWatchdogTests {
    @Test func aStartUpThatFailsAfterOpeningTheWatchdogDisarmsIt() throws {
        let directory = temporaryDirectory()
        writeFile(directory + "/not-a-directory", "")
        var configuration = BuiltInConfiguration.load()
        configuration.hardwareWatchdog.enabled = true
        configuration.paths.controlSocket = directory + "/not-a-directory/control.sock"
        configuration.paths.stateDirectory = directory + "/state"
        let watchdog = RecordingWatchdog()
        #expect(throws: (any Error).self) {
            _ = try Daemon(configuration: configuration, simulate: true, configPath: nil, logger: quietLogger,
                           environment: [:], openWatchdog: { _ in watchdog })
        }
        #expect(watchdog.all == ["disarm"], "magic close: a failed start is an orderly exit")
    }

    @Test func aFailedStartWhoseOutputsCannotBeDrivenOffLeavesTheWatchdogArmed() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: BuiltInConfiguration.load(), backend: gpio)
        let watchdog = RecordingWatchdog()
        gpio.vanish()
        Daemon.abandonStart(lines: lines, watchdog: watchdog, logger: quietLogger)
        #expect(watchdog.all.isEmpty, "the board reset is the answer when outputs are not known to be off")
    }

    @Test func theLoopWakesForEveryWatchdogPetHoweverLongReconcileIs() throws {
        var configuration = BuiltInConfiguration.load()
        configuration.loop.reconcileMs = 5000
        configuration.policy.timing.inputStaleMs = 10_000
        configuration.hardwareWatchdog.petIntervalMs = 700
        let gpio = SimulatedGPIO.raspberryPi()
        let clock = VirtualClock(start: .milliseconds(10_000))
        let watchdog = RecordingWatchdog()
        let notifier = RecordingNotifier(watchdogIntervalNanoseconds: 2_000_000_000)
        let controller = Controller(configuration: configuration, lines: try SignalLines(configuration: configuration, backend: gpio),
                                    backendDescription: "simulated", clock: clock, logger: quietLogger,
                                    notifier: notifier, watchdog: watchdog)
        var pets: [Instant] = []
        var systemdPets: [Instant] = []
        let end = clock.now() + .seconds(30)
        while clock.now() < end {
            let before = (watchdog.all.count, notifier.all.filter { $0 == "WATCHDOG=1" }.count)
            let now = clock.now()
            try controller.step(now: now)
            if watchdog.all.count > before.0 { pets.append(now) }
            if notifier.all.filter({ $0 == "WATCHDOG=1" }).count > before.1 { systemdPets.append(now) }
            clock.set(controller.nextWake(after: now))
        }
        let gaps = zip(pets.dropFirst(), pets).map { ($0 - $1).milliseconds }
        #expect(!gaps.isEmpty && gaps.allSatisfy { $0 <= 700 }, "hardware pets every 700 ms: \(gaps)")
        let systemdGaps = zip(systemdPets.dropFirst(), systemdPets).map { ($0 - $1).milliseconds }
        #expect(!systemdGaps.isEmpty && systemdGaps.allSatisfy { $0 <= 1000 }, "WATCHDOG=1 at half of WATCHDOG_USEC at the latest: \(systemdGaps)")
    }
}

extension String {
    init(readingFile path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileError(description: "cannot open \(path)") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
