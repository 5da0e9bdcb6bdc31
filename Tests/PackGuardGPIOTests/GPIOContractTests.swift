import Glibc
import PackGuardConfig
import PackGuardCore
import Testing
@testable import PackGuardGPIO

@Suite("GPIO contract on the simulated chip")
struct SimulatedContractTests {
    @Test(arguments: GPIOContract(backend: SimulatedGPIO.raspberryPi(), world: SimulatedGPIO.raspberryPi(),
                                  lines: ["x", "x", "x", "x"]).checks.indices)
    func contractCheck(index: Int) throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let contract = GPIOContract(backend: gpio, world: gpio, lines: ["GPIO5", "GPIO6", "GPIO19", "GPIO26"])
        let check = contract.checks[index]
        do {
            try check.body()
        } catch {
            Issue.record("\(check.name): \(error)")
        }
    }

    @Test func theContractCatchesABackendThatIgnoresActiveLow() {
        // A world that lies about physical levels must make the contract fail: the suite can fail.
        struct InvertingWorld: GPIOTestWorld {
            let gpio: SimulatedGPIO
            func drive(_ lineName: String, _ drive: WorldDrive) { gpio.drive(lineName, drive) }
            func physicalLevel(_ lineName: String) -> Bool { !gpio.physicalLevel(lineName) }
        }
        let gpio = SimulatedGPIO.raspberryPi()
        let results = GPIOContract(backend: gpio, world: InvertingWorld(gpio: gpio), lines: ["GPIO5", "GPIO6", "GPIO19", "GPIO26"]).run()
        #expect(results.contains { $0.failure != nil })
    }
}

@Suite("Signal lines from a configuration")
struct SignalLinesTests {
    let config = BuiltInConfiguration.load()

    @Test func outputsAreRequestedOffAndNeverGlitchOn() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        for output in ["GPIO16", "GPIO20", "GPIO21", "GPIO26", "GPIO13", "GPIO12"] {
            #expect(gpio.outputHistory(output).map(\.high) == [false], "\(output) must start low and stay low")
            #expect(gpio.consumer(of: output) == "packguard")
        }
        lines.release()
        #expect(gpio.consumer(of: "GPIO16") == nil)
    }

    @Test func bmsOutputsReadAsLogicalLevels() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        #expect(lines.readInputs()[.dischargeEnable] == .level(.inactive), "open drain released, pulled up: inactive")
        gpio.drive("GPIO27", .low)  // the BMS pulls Discharge Enable to ground: asserted
        #expect(lines.readInputs()[.dischargeEnable] == .level(.active))
        let events = try lines.readEdgeEvents()
        #expect(events.map(\.signal) == [.dischargeEnable])
        #expect(events.first?.event.edge == .rising)
    }

    @Test func setOutputsDrivesThePhysicalLinesAndReadsBack() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        var levels = OutputLevels(repeating: .inactive)
        levels[.dischargeRelay] = .active
        try lines.setOutputs(levels)
        #expect(gpio.physicalLevel("GPIO20"))
        #expect(!gpio.physicalLevel("GPIO16"))
        #expect(lines.appliedOutputs[.dischargeRelay] == .active)
        #expect(lines.forceAllOff().isEmpty)
        #expect(!gpio.physicalLevel("GPIO20"))
    }

    @Test func aClosingRelayWriteIsTheLastIOAndItsReadBackComesWithTheNextCall() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        var levels = OutputLevels(repeating: .inactive)
        levels[.dischargeRelay] = .active
        levels[.statusLed] = .active
        gpio.startTrace()
        try lines.setOutputs(levels)
        let closing = gpio.takeTrace()
        #expect(closing == ["write GPIO13=active", "read GPIO13", "write GPIO20=active"], "\(closing)")
        #expect(gpio.physicalLevel("GPIO20"))
        // The next call reads it back; a failed read-back is an error naming the line.
        gpio.failNextRead(errno: EIO)
        #expect { try lines.setOutputs(levels) } throws: { error in
            "\(error)".contains("GPIO20") && "\(error)".contains("errno 5")
        }
        _ = gpio.takeTrace()
        // After a good read-back nothing more is read for it.
        try lines.setOutputs(levels)
        try lines.setOutputs(levels)
        #expect(gpio.takeTrace().filter { $0 == "read GPIO20" }.count == 1)
        // A relay closed and opened again before the next call is written off and read back as off.
        levels[.chargeRelay] = .active
        try lines.setOutputs(levels)
        levels[.chargeRelay] = .inactive
        _ = gpio.takeTrace()
        try lines.setOutputs(levels)
        #expect(gpio.takeTrace() == ["write GPIO16=inactive", "read GPIO16"])
    }

    @Test func aFailedReadIsReportedPerSignalWithErrno() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        gpio.failNextRead(errno: EIO)
        let readings = lines.readInputs()
        guard case .failed(let why) = readings[.chargeEnable] else {
            Issue.record("expected a failed read, got \(String(describing: readings[.chargeEnable]))")
            return
        }
        #expect(why.contains("read line values"))
        #expect(why.contains("Input/output error (errno 5)"))
        #expect(lines.readInputs()[.chargeEnable] == .level(.inactive), "the fault was one read")
    }

    @Test func aFailedSetThrowsNamingTheChip() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        gpio.failNextSet(errno: EIO)
        var levels = OutputLevels(repeating: .inactive)
        levels[.chargeRelay] = .active
        #expect(throws: GPIOError.self) { try lines.setOutputs(levels) }
        #expect(!gpio.physicalLevel("GPIO16"))
        #expect(lines.appliedOutputs[.chargeRelay] == .inactive, "a failed set is not recorded as applied")
    }

    @Test func aLineThatFailsToSetDoesNotStopTheOthersAndEveryFailedLineIsNamed() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        var closed = OutputLevels(repeating: .inactive)
        closed[.chargeRelay] = .active
        closed[.dischargeRelay] = .active
        closed[.balancePowerRelay] = .active
        try lines.setOutputs(closed)
        // Opening all three: the charge relay (GPIO16) and balance power relay (GPIO21) lines fail;
        // the discharge relay (GPIO20), between them, must still open.
        gpio.failNextSet(lines: ["GPIO16": EIO, "GPIO21": EPERM])
        do {
            try lines.setOutputs(OutputLevels(repeating: .inactive))
            Issue.record("expected the write to fail")
        } catch {
            #expect(error.failedLines == [GPIOError.LineFailure(offset: 16, line: "GPIO16", errno: EIO),
                                          GPIOError.LineFailure(offset: 21, line: "GPIO21", errno: EPERM)])
            #expect(error.errno == EIO, "errno is the first failed line's")
            #expect(error.description.contains("2 lines not set: GPIO16 offset 16 (Input/output error, errno 5), GPIO21 offset 21 (Operation not permitted, errno 1)"),
                    "\(error)")
        }
        #expect(!gpio.physicalLevel("GPIO20"), "the line after a failed one was still switched off")
        #expect(gpio.physicalLevel("GPIO16") && gpio.physicalLevel("GPIO21"), "the failed lines kept their level")
        #expect(lines.appliedOutputs[.dischargeRelay] == .inactive)
        #expect(lines.appliedOutputs[.chargeRelay] == .active, "a failed line is not recorded as changed")
    }

    @Test func afterAFailedLineNothingMoreIsSwitchedOn() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        gpio.failNextSet(lines: ["GPIO16": EIO])
        var levels = OutputLevels(repeating: .inactive)
        levels[.chargeRelay] = .active
        levels[.dischargeRelay] = .active
        #expect(throws: GPIOError.self) { try lines.setOutputs(levels) }
        #expect(!gpio.physicalLevel("GPIO20"), "a write that already failed closes nothing more")
    }

    @Test func forceAllOffStillOpensEveryOtherRelayWhenOneLineFails() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        var levels = OutputLevels(repeating: .inactive)
        levels[.chargeRelay] = .active
        levels[.dischargeRelay] = .active
        try lines.setOutputs(levels)
        gpio.failNextSet(lines: ["GPIO16": EIO])
        let failures = lines.forceAllOff()
        #expect(!gpio.physicalLevel("GPIO20"), "discharge relay opened although the charge relay's line failed")
        #expect(gpio.physicalLevel("GPIO16"), "the failed line is still closed, and reported")
        #expect(failures.count == 1)
        #expect(failures.first?.failedLines == [GPIOError.LineFailure(offset: 16, line: "GPIO16", errno: EIO)])
        #expect(failures.first?.line == "GPIO16", "one failed line of a group is the error's line")
        #expect(lines.forceAllOff().isEmpty, "the fault was one write")
        #expect(!gpio.physicalLevel("GPIO16"))
    }

    @Test func aWholeRequestFailureSetsNoLine() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        gpio.failNextSet(errno: ENODEV)
        #expect(!lines.forceAllOff().isEmpty)
        #expect(gpio.outputHistory("GPIO20").map(\.high) == [false], "nothing was driven")
    }

    @Test func aVanishedChipFailsEveryOperationWithENODEV() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        gpio.vanish()
        if case .failed(let why) = lines.readInputs()[.chargeEnable] {
            #expect(why.contains("missing"))
        } else {
            Issue.record("reads must fail once the chip is gone")
        }
        #expect(!lines.forceAllOff().isEmpty)
        #expect(throws: GPIOError.self) { _ = try SignalLines(configuration: config, backend: gpio) }
    }

    @Test func droppedEventsAreInvisibleButReadsStillSeeTheTruth() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        gpio.dropEvents(true)
        gpio.drive("GPIO17", .low)
        #expect(try lines.readEdgeEvents().isEmpty)
        #expect(lines.readInputs()[.chargeEnable] == .level(.active), "reconciliation reads recover a lost edge")
    }

    @Test func aBusyLineFailsTheRequestNamingLineAndConsumerAndReleasesTheRest() {
        let gpio = SimulatedGPIO.raspberryPi()
        gpio.holdLine("GPIO27", consumer: "gpioset")
        do {
            _ = try SignalLines(configuration: config, backend: gpio)
            Issue.record("expected busy")
        } catch {
            #expect(error.kind == .lineBusy(consumer: "gpioset"))
            #expect(error.description.contains("GPIO27"))
            #expect(error.description.contains("'gpioset'"))
        }
        #expect(gpio.consumer(of: "GPIO16") == nil, "outputs requested before the failure were released")
    }

    @Test func aMissingLineListsSimilarNames() throws {
        var broken = config
        broken.inputs[.chargeEnable]?.locator = .name("GPIO71")
        do {
            _ = try SignalLines(configuration: broken, backend: SimulatedGPIO.raspberryPi())
            Issue.record("expected not found")
        } catch {
            #expect(error.description.contains("no GPIO line named 'GPIO71'"))
            #expect(error.description.contains("GPIO7"))
            #expect(error.description.contains("GPIO17"))
        }
    }

    @Test func theLineListingShowsDirectionConsumerActiveLowAndBias() throws {
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: config, backend: gpio)
        defer { lines.release() }
        let text = try LineListing(configuration: config, backend: gpio).text
        let row = { (name: String) in text.split(separator: "\n").first { $0.contains(" \(name) ") }.map(String.init) ?? "" }
        #expect(text.hasPrefix("backend: simulated GPIO chip\n"))
        #expect(row("GPIO17").contains("input  used by packguard active-low pull-up  <- chargeEnable"), "\(row("GPIO17"))")
        #expect(row("GPIO16").contains("output used by packguard  <- chargeRelay"), "\(row("GPIO16"))")
        #expect(row("GPIO2").hasSuffix("GPIO2        -      free"), "\(row("GPIO2"))")
    }

    @Test func chipAndOffsetLocatorsWork() throws {
        var byOffset = config
        byOffset.outputs[.chargeRelay]?.locator = .chipOffset(chip: "gpiochip0", offset: 16)
        let gpio = SimulatedGPIO.raspberryPi()
        let lines = try SignalLines(configuration: byOffset, backend: gpio)
        #expect(lines.resolved["chargeRelay"]?.name == "GPIO16")
        byOffset.outputs[.chargeRelay]?.locator = .chipOffset(chip: "gpiochip9", offset: 16)
        lines.release()
        #expect(throws: GPIOError.self) { _ = try SignalLines(configuration: byOffset, backend: gpio) }
    }
}

@Suite("Error messages")
struct GPIOErrorTests {
    @Test func permissionErrorsSayWhichGroupToJoin() {
        let error = GPIOError(.permissionDenied(group: "gpio"), operation: "open GPIO chip", chip: "/dev/gpiochip0", errno: EACCES)
        #expect(error.description == "open GPIO chip (/dev/gpiochip0): Permission denied (errno 13); join the 'gpio' group (sudo usermod -aG gpio $USER) or run as the packguard service")
    }

    @Test func aPartlyFailedWriteNamesEachLineWithItsErrno() {
        let error = GPIOError(.systemError, operation: "set line values", chip: "gpiochip0", errno: EIO,
                              failedLines: [.init(offset: 16, line: "GPIO16", errno: EIO), .init(offset: 20, errno: EBUSY)])
        #expect(error.description == "set line values (gpiochip0): Input/output error (errno 5); 2 lines not set: GPIO16 offset 16 (Input/output error, errno 5), offset 20 (Device or resource busy, errno 16)")
    }

    @Test func noChipsSaysSoPlainly() throws {
        let dir = "/tmp/packguard-empty-dev-\(getpid())"
        mkdir(dir, 0o700)
        defer { rmdir(dir) }
        #expect(throws: GPIOError(.noGPIOChips, operation: "find GPIO chips")) {
            _ = try LibgpiodBackend(deviceDirectory: dir).chipPaths()
        }
    }

    @Test func theRealBackendReportsAMissingChip() {
        #expect(throws: GPIOError.self) { _ = try LibgpiodBackend().openChip("/dev/gpiochip-nonexistent") }
        do {
            _ = try LibgpiodBackend().openChip("/dev/gpiochip-nonexistent")
        } catch {
            #expect(error.kind == .chipMissing)
            #expect(error.errno == ENOENT)
        }
    }

    @Test func theRealBackendDescribesItsLibgpiodVersion() {
        #expect(LibgpiodBackend().description.hasPrefix("libgpiod v"))
    }

    /// scripts/test.sh runs the tests once per libgpiod build and names the library each must have
    /// linked ("libgpiod v1 1.6.3", "libgpiod v2 2.3"): a v2 run that silently built v1 fails here.
    @Test func theRealBackendIsTheLibgpiodTheBuildWasMadeFor() throws {
        guard let expected = getenv("PACKGUARD_EXPECT_LIBGPIOD").map({ String(cString: $0) }) else {
            let description = LibgpiodBackend().description
            #expect(description.hasPrefix("libgpiod v1 ") || description.hasPrefix("libgpiod v2 "), "\(description)")
            return
        }
        #expect(LibgpiodBackend().description == expected)
    }
}
