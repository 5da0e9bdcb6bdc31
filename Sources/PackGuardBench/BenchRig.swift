import PackGuardCAN
import Glibc
import Logging
import PackGuardADC
import PackGuardConfig
import PackGuardCore
import PackGuardDaemon
import PackGuardGPIO

/// The real controller on the mocked chip and mocked ADS1115, with a simulated BMS, switch and
/// contactors around it. Time is virtual (a 12-hour expiry runs in well under a second) or real.
public final class BenchRig {
    /// The configuration in force (a `reload` replaces it).
    public private(set) var configuration: PackGuardConfiguration
    public let gpio: SimulatedGPIO
    public let adc: SimulatedADS1115
    public let controller: Controller
    public let realtime: Bool
    private let virtualClock: VirtualClock?
    private let clock: any DaemonClock
    public private(set) var stopped = false

    /// Simulated contactors: each follows its relay unless welded (stuck closed) or failed (stuck open).
    public private(set) var simulatedContactors: Bool
    public var weldedContactors: Set<Contactor> = []
    public var failedContactors: Set<Contactor> = []
    private var readErrorsUntilCleared = false
    /// The simulated BMS on the CAN bus, while `can.enabled`: what it sends at every step.
    public private(set) var canBMS = SimulatedCANBMS()
    /// The enables as the scenario last set them: the simulated BMS's relay bits follow them.
    private var enableLevels: [InputSignal: Level] = [:]

    /// The inverter behind the discharge contactor, charged through the precharge resistor.
    public let inverter: InverterSimulation

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(configuration base: PackGuardConfiguration, overrides: ConfigurationOverrides = .init(),
                realtime: Bool = false, logger: Logger = BenchRig.silentLogger) throws {
        var configuration = base
        try overrides.apply(to: &configuration)
        simulatedContactors = overrides.simulatedContactors
        inverter = InverterSimulation(model: overrides.inverter ?? InverterModel())
        if overrides.simulatedContactors {
            for (contactor, line) in [(Contactor.charge, "GPIO24"), (.discharge, "GPIO25")]
            where configuration.inputs[contactor.feedback] == nil {
                configuration.inputs[contactor.feedback] = InputLineConfiguration(locator: .name(line), activeLow: true, bias: .pullUp)
            }
            configuration.policy.inputs = InputSignals(configuration.inputs.keys)
        }
        self.configuration = configuration
        self.realtime = realtime
        if realtime {
            virtualClock = nil
            clock = SystemClock()
        } else {
            let virtual = VirtualClock(start: .milliseconds(1_000))
            virtualClock = virtual
            clock = virtual
        }
        let clock = self.clock
        gpio = SimulatedGPIO.raspberryPi(clock: { UInt64(max(0, clock.now().nanoseconds)) })
        let adcConfiguration = configuration.adc.ads1115
        adc = SimulatedADS1115(address: adcConfiguration.address)
        let bus = SimulatedI2CBus(path: adcConfiguration.busPath, address: adcConfiguration.address, devices: [adc])
        let sampler: AnalogSampler
        do {
            sampler = try AnalogSampler(configuration: adcConfiguration, bus: bus,
                                        clock: realtime ? SystemADCClock() as any ADCClock : ManualADCClock())
        } catch {
            throw SetupError(description: "\(error)")
        }
        let lines: SignalLines
        do {
            lines = try SignalLines(configuration: configuration, backend: gpio)
        } catch {
            throw SetupError(description: "\(error)")
        }
        controller = Controller(configuration: configuration, lines: lines, backendDescription: "bench: simulated chip",
                                clock: clock, logger: logger, analog: AnalogInputs(sampler: sampler))
        setSoc(80)
        settle()
    }

    public static let silentLogger: Logger = {
        var logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        return logger
    }()

    public var now: Instant { clock.now() }

    // MARK: - The world

    /// Drives an input to a logical level the way the real world would: the BMS pulls an
    /// open-drain output to ground when asserting and lets it float (pulled up) when releasing.
    public func set(_ signal: InputSignal, _ level: Level) throws {
        guard let line = configuration.inputs[signal], case .name(let name) = line.locator else {
            throw SetupError(description: "\(signal.rawValue) is not configured by line name, so the bench cannot drive it")
        }
        enableLevels[signal] = level
        let physicalHigh = level.isActive != line.activeLow
        let pullsTo = line.bias == .pullUp ? true : line.bias == .pullDown ? false : nil
        gpio.drive(name, pullsTo == physicalHigh ? .floating : (physicalHigh ? .high : .low))
    }

    /// What the simulated BMS sends from now on.
    public func changeCAN(_ change: CANBusChange) {
        for (name, value) in change.values {
            if let quantity = CANQuantity(rawValue: name) { canBMS.values[quantity] = value }
        }
        if let silent = change.silent { canBMS.silent = silent }
    }

    /// The simulated BMS's frames, through the same seam as the SocketCAN reader.
    private func sendCAN() {
        guard configuration.can.rules.enabled, !canBMS.silent else { return }
        var values = canBMS.values
        for (quantity, enable) in [(CANQuantity.chargeRelay, InputSignal.chargeEnable), (.dischargeRelay, .dischargeEnable)]
        where values[quantity] == nil {
            values[quantity] = enableLevels[enable] == .active ? 1 : 0
        }
        for layout in configuration.can.messages {
            controller.receiveCAN(CANBus.encode(values, layout: layout), at: now)
        }
    }

    /// The state of charge the BMS reports on pin 11, as a voltage at the ADS1115 input (the current
    /// limits read 50 A; the voltages follow the inverter model).
    public func setSoc(_ percent: Double) {
        for channel in configuration.adc.ads1115.channels where ![.busVoltage, .packVoltage].contains(channel.signal) {
            let value = channel.signal == .soc ? percent : 50
            adc.setInputVolts(channel.adsPinVolts(forValue: value), channel: channel.channel)
        }
        updateInverter()
    }

    /// The pack's voltage in the bench: the configured nominal one, or 51.2 V.
    public var packVolts: Double { configuration.precharge.packVoltageV ?? 51.2 }

    /// Moves the inverter model to now, then the ADS1115 inputs carrying the bus and pack voltages
    /// read them.
    private func updateInverter() {
        let busVolts = inverter.update(nanoseconds: now.nanoseconds, prechargeClosed: level(of: .prechargeRelay) == .active,
                                       dischargeClosed: level(of: .dischargeRelay) == .active, packVolts: packVolts)
        for channel in configuration.adc.ads1115.channels {
            switch channel.signal {
            case .busVoltage: adc.setInputVolts(channel.adsPinVolts(forValue: busVolts), channel: channel.channel)
            case .packVoltage: adc.setInputVolts(channel.adsPinVolts(forValue: packVolts), channel: channel.channel)
            default: break
            }
        }
    }

    /// How the heartbeat output toggled between two instants (nil when it is not configured by name).
    public func heartbeat(from start: Instant, to end: Instant) -> ToggleObservation? {
        guard let line = configuration.outputs[.heartbeat], case .name(let name) = line.locator else { return nil }
        return ToggleObservation(history: gpio.outputHistory(name), from: start.nanoseconds, to: end.nanoseconds)
    }

    /// The logical level of an output, as its line reads (after release: its pull, i.e. off).
    public func level(of output: OutputSignal) -> Level? {
        guard let line = configuration.outputs[output], case .name(let name) = line.locator else { return nil }
        return Level(gpio.physicalLevel(name) != line.activeLow)
    }

    public func inject(_ fault: BenchFault) {
        switch fault {
        case .readError: gpio.failNextRead()
        case .readErrors: readErrorsUntilCleared = true
        case .setError: gpio.failNextSet()
        case .loopStall: stallLoop()
        case .droppedEvents: gpio.dropEvents(true)
        case .weldedCharge: weldedContactors.insert(.charge)
        case .weldedDischarge: weldedContactors.insert(.discharge)
        case .failedToCloseCharge: failedContactors.insert(.charge)
        case .failedToCloseDischarge: failedContactors.insert(.discharge)
        case .adcNack: adc.inject(.noAcknowledge)
        case .adcIOError: adc.inject(.ioError)
        case .adcStuckBusy: adc.inject(.stuckBusy)
        case .adcFrozen: adc.inject(.frozen)
        case .busShort: inverter.shorted = true
        }
    }

    public func clearFaults() {
        readErrorsUntilCleared = false
        gpio.dropEvents(false)
        weldedContactors.removeAll()
        failedContactors.removeAll()
        inverter.shorted = false
        adc.clearAllFaults()
    }

    /// The control loop misses its deadline: the monitor's check runs after the deadline with
    /// no step in between, exactly as the monitor thread would see a stalled loop.
    private func stallLoop() {
        let deadline = Interval.milliseconds(configuration.loop.loopDeadlineMs)
        controller.expectStep(by: now)
        if let virtualClock {
            virtualClock.advance(Interval(nanoseconds: deadline.nanoseconds + 1_000_000))
            controller.checkDeadline(now: now)
        } else {
            sleep(milliseconds: configuration.loop.loopDeadlineMs + 1)
            controller.checkDeadline(now: now)
        }
    }

    public func command(_ command: OperatorCommand) {
        controller.submit(command)
        settle()
    }

    /// A configuration reload, as SIGHUP does it: the changes over the running configuration
    /// go to the running controller, which keeps its state. Throws when a line cannot be taken.
    public func reload(_ changes: ConfigurationOverrides, source: String) throws {
        var next = configuration
        try changes.apply(to: &next, source: source)
        do {
            try controller.reload(to: next, analog: controller.analog, backend: gpio)
        } catch {
            throw SetupError(description: "reload refused, running configuration kept: \(error)")
        }
        configuration = next
        settle()
    }

    public func stop(reason: String) {
        guard !stopped else { return }
        controller.shutdown(reason: reason)
        stopped = true
    }

    // MARK: - Time

    /// Steps at the current instant, as the real loop does when an edge wakes it, and again
    /// while simulated contactors move in response (their auxiliary contacts are edges too).
    public func settle() {
        guard !stopped else { return }
        for _ in 0..<4 {
            updateInverter()
            sendCAN()
            if readErrorsUntilCleared { gpio.failNextRead() }
            do {
                try controller.step(now: now)
            } catch {
                stopped = true
                return
            }
            guard moveContactors() else { return }
        }
    }

    /// Runs the loop for `milliseconds`, stepping at every instant the real loop would wake.
    /// Calls `observe` after every step (expectations that must hold throughout).
    public func advance(milliseconds: Int64, observe: (Instant) -> Void = { _ in }) {
        let target = now + Interval(nanoseconds: milliseconds * 1_000_000)
        while !stopped {
            let wake = controller.nextWake(after: now)
            guard wake <= target else { break }
            moveClock(to: wake)
            settle()
            observe(now)
        }
        moveClock(to: target)
    }

    private func moveClock(to instant: Instant) {
        if let virtualClock {
            if instant > virtualClock.now() { virtualClock.set(instant) }
        } else {
            let remaining = instant - clock.now()
            if remaining.nanoseconds > 0 { sleep(milliseconds: Int((remaining.nanoseconds + 999_999) / 1_000_000)) }
        }
    }

    /// Moves simulated contactors to follow their relays; true when any auxiliary contact changed.
    private func moveContactors() -> Bool {
        guard simulatedContactors else { return false }
        var changed = false
        for contactor in Contactor.allCases {
            guard let feedback = configuration.inputs[contactor.feedback], case .name(let name) = feedback.locator else { continue }
            let commanded = level(of: contactor.relay) == .active
            let closed = weldedContactors.contains(contactor) ? true
                : failedContactors.contains(contactor) ? false : commanded
            // Read the pin, not the request: a bench read must not consume an injected read fault.
            let isClosed = gpio.physicalLevel(name) != feedback.activeLow
            if isClosed != closed {
                do {
                    try set(contactor.feedback, Level(closed))
                } catch {
                    continue  // feedback lines are configured by name above, so this cannot fail
                }
                changed = true
            }
        }
        return changed
    }
}

func sleep(milliseconds: Int) {
    var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// What the bench's simulated BMS sends over CAN: a pack at rest, 52.4 V, SOC 50 %, 150 A / 50 A
/// limits; relay bits follow the wired enables unless a scenario sets them.
public struct SimulatedCANBMS: Sendable, Equatable {
    public var values: [CANQuantity: Double] = [
        .packCurrentA: 0, .packVoltageV: 52.4, .soc: 50, .dischargeLimitA: 150, .chargeLimitA: 50,
        .highTemperatureC: 25, .lowTemperatureC: 20, .ready: 1,
    ]
    public var silent = false

    public init() {}
}
