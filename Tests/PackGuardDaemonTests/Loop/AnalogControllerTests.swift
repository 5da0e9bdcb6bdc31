import Glibc
import PackGuardADC
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Testing
@testable import PackGuardDaemon

/// `Rig` with the SOC rules on and a simulated ADS1115 behind the configured sampler. The controller
/// runs on a virtual clock; the driver's OS-bit waits run on their own manual clock.
struct AnalogRig {
    let gpio = SimulatedGPIO.raspberryPi()
    let clock = VirtualClock(start: .milliseconds(10_000))
    let adc: SimulatedADS1115
    let controller: Controller
    let configuration: PackGuardConfiguration

    init(onSocFault: SocFaultAction = .openAll, soc: Double = 80) throws {
        var configuration = BuiltInConfiguration.load()
        configuration.adc.enabled = true
        configuration.policy.soc.enabled = true
        configuration.policy.soc.onSocFault = onSocFault
        self.configuration = configuration
        adc = AnalogInputs.simulatedDevice(for: configuration.adc.ads1115)
        adc.setBusyReadsPerConversion(1)  // so that a conversion can be stuck busy
        let analog = try AnalogInputs.open(configuration.adc.ads1115, simulated: adc, clock: ManualADCClock())
        let lines = try SignalLines(configuration: configuration, backend: gpio)
        controller = Controller(configuration: configuration, lines: lines, backendDescription: "simulated",
                                clock: clock, logger: quietLogger, analog: analog)
        setSoc(soc)
    }

    /// The Orion drives `percent` on its SOC output (pin 11): the ADS1115 sees it through the divider.
    func setSoc(_ percent: Double) {
        guard let channel = configuration.adc.ads1115.channel(for: .soc) else { return }
        adc.setInputVolts(channel.adsPinVolts(forValue: percent), channel: channel.channel)
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

    /// Both BMS enables asserted, start-up hold and qualification over: both contactor relays closed.
    func started() throws -> Self {
        gpio.drive("GPIO17", .low)
        gpio.drive("GPIO27", .low)
        try step()
        try run(ms: 4000)
        return self
    }

    var chargeClosed: Bool { gpio.physicalLevel("GPIO16") }
    var dischargeClosed: Bool { gpio.physicalLevel("GPIO20") }
    var socInvalid: Bool { controller.currentPolicy.faults.contains(.socInvalid) }
}

/// What each injected fault says, in the SOC's invalid reason.
private func expectedReason(_ fault: SimulatedADS1115Fault) -> String {
    switch fault {
    case .noAcknowledge: "nothing answers at 0x48 on /dev/i2c-1"
    case .ioError: "input/output error, EIO"
    case .stuckBusy: "not finished after"
    case .frozen: "the device ignores writes"
    }
}

@Suite("Controller with the ADS1115: SOC rules and ADC faults")
struct AnalogControllerTests {
    @Test func theSamplerIsBuiltFromTheConfiguredADS1115() throws {
        let rig = try AnalogRig()
        #expect(rig.controller.analog?.sampler.configuration == rig.configuration.adc.ads1115)
    }

    @Test(arguments: SimulatedADS1115Fault.allCases)
    func anADCFaultWithOpenAllOpensBothRelaysUntilItClears(fault: SimulatedADS1115Fault) throws {
        let rig = try AnalogRig(onSocFault: .openAll).started()
        #expect(rig.chargeClosed && rig.dischargeClosed)
        #expect(!rig.socInvalid)

        rig.adc.inject(fault)
        try rig.run(ms: 1500)  // at least one sample with the fault
        #expect(!rig.chargeClosed && !rig.dischargeClosed, "openAll opens both relays")
        #expect(rig.socInvalid)
        let report = try #require(rig.controller.statusReport)
        #expect(report.soc?.valid == false)
        #expect(report.soc?.reason?.contains(expectedReason(fault)) == true, "\(report.soc?.reason ?? "no reason")")
        #expect(report.faults.contains { $0.code == "socInvalid" })
        #expect(rig.controller.events.last(20).contains { $0.reason.contains("SOC invalid") && $0.reason.contains("openAll") })
        let result = try rig.step()
        #expect(result.healthy, "an ADC fault is not a controller fault: the watchdogs are still petted")

        rig.adc.clear(fault)
        try rig.run(ms: 8000)  // a good sample, min-off time and qualification
        #expect(!rig.socInvalid)
        #expect(rig.chargeClosed && rig.dischargeClosed, "both relays re-qualified")
        #expect(rig.controller.statusReport?.soc?.valid == true)
    }

    @Test(arguments: SimulatedADS1115Fault.allCases)
    func anADCFaultWithIgnoreKeepsTheRelaysClosed(fault: SimulatedADS1115Fault) throws {
        let rig = try AnalogRig(onSocFault: .ignore).started()
        #expect(rig.chargeClosed && rig.dischargeClosed)

        rig.adc.inject(fault)
        try rig.run(ms: 1500)
        #expect(rig.socInvalid, "the fault is still reported")
        #expect(rig.chargeClosed && rig.dischargeClosed, "ignore: the BMS stays the authority")
        #expect(rig.controller.statusReport?.soc?.reason?.contains(expectedReason(fault)) == true)

        rig.adc.clear(fault)
        try rig.run(ms: 1500)
        #expect(!rig.socInvalid)
        #expect(rig.chargeClosed && rig.dischargeClosed)
    }

    @Test func openDischargeOpensOnlyTheDischargeRelay() throws {
        let rig = try AnalogRig(onSocFault: .openDischarge).started()
        rig.adc.inject(.noAcknowledge)
        try rig.run(ms: 1500)
        #expect(rig.chargeClosed && !rig.dischargeClosed)
    }

    @Test func theSimulatedSocVoltageDrivesTheCutOffAndTheChargeStop() throws {
        let rig = try AnalogRig(soc: 50).started()
        #expect(rig.chargeClosed && rig.dischargeClosed)

        rig.setSoc(8)  // below the 10 % cut-off, once the median has moved
        try rig.run(ms: 4000)
        #expect(!rig.dischargeClosed && rig.chargeClosed)
        #expect(rig.controller.events.last(20).contains { $0.reason.hasPrefix("discharge cut-off: SOC 8") })

        rig.setSoc(12)  // above the cut-off but below cut-off + hysteresis (15 %)
        try rig.run(ms: 8000)
        #expect(!rig.dischargeClosed, "hysteresis: still cut off")

        rig.setSoc(20)
        try rig.run(ms: 8000)
        #expect(rig.dischargeClosed, "discharge allowed again")

        rig.setSoc(99)  // at or above the 98 % charge stop
        try rig.run(ms: 4000)
        #expect(!rig.chargeClosed && rig.dischargeClosed)
        #expect(rig.controller.events.last(20).contains { $0.reason.hasPrefix("charge stop: SOC 99") })
    }

    @Test func theStatusReportShowsSocAndCurrentLimits() throws {
        let rig = try AnalogRig().started()
        let report = try #require(rig.controller.statusReport)
        let soc = try #require(report.soc)
        #expect(soc.valid && soc.unit == "%" && abs((soc.value ?? 0) - 80) < 0.1)
        for limit in [report.chargeCurrentLimit, report.dischargeCurrentLimit] {
            let limit = try #require(limit)
            #expect(limit.valid && limit.unit == "A" && abs((limit.value ?? 0) - 50) < 0.1)
        }
        #expect(report.summary.hasSuffix("; SOC 80 %"))

        rig.adc.inject(.ioError)
        try rig.run(ms: 1500)
        let faulted = try #require(rig.controller.statusReport)
        for analog in [faulted.soc, faulted.chargeCurrentLimit, faulted.dischargeCurrentLimit] {
            #expect(analog?.valid == false && analog?.value == nil, "never an old value shown as current")
        }
    }
}

@Suite("Daemon: the ADS1115 from the configuration", .serialized)
struct DaemonADCTests {
    @Test func simulateBuildsTheSamplerFromTheConfiguredChannels() throws {
        let directory = temporaryDirectory()
        var configuration = BuiltInConfiguration.load()
        var device = configuration.adc.ads1115
        device.channels = [ADS1115Configuration.orionJr2Channels[0]]
        device.channels[0].channel = 3  // SOC on AIN3
        device.dataRate = .sps250
        configuration.adc.ads1115 = device
        configuration.paths.controlSocket = directory + "/control.sock"
        configuration.paths.stateDirectory = directory + "/state"
        let daemon = try Daemon(configuration: configuration, simulate: true, configPath: nil, logger: quietLogger,
                                environment: [:])
        defer { daemon.loop.controller.shutdown(reason: "test over") }
        #expect(daemon.loop.controller.analog?.sampler.configuration == device)
        let simulated = try #require(daemon.simulatedADC)
        let soc = device.channels[0]
        #expect(abs(simulated.inputVolts(channel: 3) - soc.adsPinVolts(forValue: 80)) < 1e-9, "SOC ≈ 80 % on AIN3")
        #expect(simulated.inputVolts(channel: 0) == 0)
        try daemon.loop.controller.step(now: Instant(nanoseconds: 1_000_000_000))
        #expect(abs((daemon.loop.controller.statusReport?.soc?.value ?? 0) - 80) < 0.1, "\(String(describing: daemon.loop.controller.statusReport?.soc))")
        #expect(daemon.loop.controller.statusReport?.chargeCurrentLimit == nil, "not configured")
    }

    @Test func aReloadWhoseADCBusWillNotOpenKeepsTheRunningConfiguration() throws {
        let directory = temporaryDirectory()
        let path = directory + "/packguard.yaml"
        let rig = try Rig()
        try rig.step()
        writeFile(path, BuiltInConfiguration.yaml
            .replacingOccurrences("enabled: false           # ADS1115", with: "enabled: true            # ADS1115")
            .replacingOccurrences("bus: /dev/i2c-1", with: "bus: /dev/packguard-test-no-such-i2c"))
        let error = #expect(throws: (any Error).self) {
            try Daemon.reload(rig.controller, from: path, backend: rig.gpio, logger: quietLogger)
        }
        #expect(error.map { "\($0)" }?.contains("cannot open /dev/packguard-test-no-such-i2c") == true)
        #expect(rig.gpio.consumer(of: "GPIO16") == "packguard", "lines kept")
    }
}
