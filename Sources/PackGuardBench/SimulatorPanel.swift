import Dispatch
import Glibc
import Logging
import PackGuardADC
import PackGuardCAN
import PackGuardConfig
import PackGuardCore
import PackGuardDaemon
import PackGuardGPIO
import Synchronization

/// `packguard simulate`: the real control loop (its own thread, real time, watchdog monitor) on
/// the mocked chip and ADS1115, with a live terminal panel and keys that play the BMS, the
/// balancing switch and the contactors, inject faults and send operator commands.
public final class SimulatorPanel: @unchecked Sendable {
    // @unchecked: the panel's own state is used on the main thread only; the controller is
    // reached through `loop.perform` (control thread) and the simulated devices are thread-safe.
    let configuration: PackGuardConfiguration
    let gpio: SimulatedGPIO
    let adc: SimulatedADS1115
    let loop: ControlLoop
    private let latest = Mutex<StatusReport?>(nil)
    private let output: @Sendable (String) -> Void
    private var soc = 80.0
    private var contactorsRespond = true
    private var weldedDischarge = false
    private var forceOff = false
    private var showHelp = false
    private var message = "press ? for the keys"
    private var loopThread: pthread_t?
    /// The simulated BMS on the CAN bus (with can.enabled): what it sends every 100 ms.
    private var canBMS = SimulatedCANBMS()
    private var canChargeBitOff = false
    private var lastCANSend: Int64 = 0
    private let loopResult = Mutex<String?>(nil)
    /// The inverter behind the discharge contactor (its bus voltage reaches AIN3 with --precharge).
    let inverter = InverterSimulation(model: InverterModel())

    public struct Key: Sendable {
        public let key: Character
        public let action: String
    }

    public static let keys: [Key] = [
        Key(key: "c", action: "toggle Charge Enable (BMS pin 1)"),
        Key(key: "d", action: "toggle Discharge Enable (BMS pin 3)"),
        Key(key: "s", action: "toggle Charger Safety (BMS pin 5)"),
        Key(key: "b", action: "toggle the balancing switch"),
        Key(key: "k", action: "toggle contactor feedback (contactors follow their relays / stay open)"),
        Key(key: "+", action: "SOC up 5 %"),
        Key(key: "-", action: "SOC down 5 %"),
        Key(key: "e", action: "inject a GPIO read error"),
        Key(key: "l", action: "stall the control loop (3 × loopDeadlineMs)"),
        Key(key: "w", action: "weld the discharge contactor (toggle)"),
        Key(key: "x", action: "short the inverter's input (toggle; with --precharge)"),
        Key(key: "i", action: "CAN: pack current +5 A (out of the pack; with --can)"),
        Key(key: "u", action: "CAN: pack current -5 A (into the pack; with --can)"),
        Key(key: "m", action: "CAN: the BMS reports its charge relay off (toggle; with --can)"),
        Key(key: "n", action: "CAN: the BMS falls silent (toggle; with --can)"),
        Key(key: "r", action: "operator reset"),
        Key(key: "o", action: "operator force-off (toggle)"),
        Key(key: "?", action: "show or hide the keys"),
        Key(key: "q", action: "quit (every relay off)"),
    ]

    public init(configuration base: PackGuardConfiguration,
                output: @escaping @Sendable (String) -> Void = JournalLogHandler.standardOutput) throws {
        var configuration = base
        // Contactor auxiliary contacts, so feedback faults can be played.
        for (contactor, line) in [(Contactor.charge, "GPIO24"), (.discharge, "GPIO25")]
        where configuration.inputs[contactor.feedback] == nil {
            configuration.inputs[contactor.feedback] = InputLineConfiguration(locator: .name(line), activeLow: true, bias: .pullUp)
        }
        configuration.policy.inputs = InputSignals(configuration.inputs.keys)
        self.configuration = configuration
        self.output = output
        gpio = SimulatedGPIO.raspberryPi()
        let adcConfiguration = configuration.adc.ads1115
        adc = SimulatedADS1115(address: adcConfiguration.address)
        let sampler = try AnalogSampler(
            configuration: adcConfiguration,
            bus: SimulatedI2CBus(path: adcConfiguration.busPath, address: adcConfiguration.address, devices: [adc]),
            clock: SystemADCClock())
        let lines = try SignalLines(configuration: configuration, backend: gpio)
        let controller = Controller(configuration: configuration, lines: lines, backendDescription: "simulated chip",
                                    clock: SystemClock(), logger: BenchRig.silentLogger, analog: AnalogInputs(sampler: sampler))
        loop = try ControlLoop(controller: controller, logger: BenchRig.silentLogger)
        applySoc()
    }

    // MARK: - Running

    /// Runs the panel on this terminal until `q` (or SIGINT/SIGTERM); returns the exit status.
    public func run() -> Int32 {
        let terminal = RawTerminal()
        output("\u{1B}[?1049h\u{1B}[?25l")  // alternate screen, hide cursor
        defer {
            output("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")  // attributes, cursor, main screen back
            terminal.restore()
        }
        loopThread = startThread { [self] in
            do {
                let reason = try loop.run()
                loopResult.withLock { $0 = reason }
            } catch {
                loopResult.withLock { $0 = "fatal: \(error)" }
            }
        }
        let stop = Mutex(false)
        var sources: [SignalWatch] = []
        for number in [SIGINT, SIGTERM] {
            sources.append(SignalWatch(number) { stop.withLock { $0 = true } })
        }
        defer { sources.removeAll() }

        var lastDraw: Int64 = 0
        while !stop.withLock({ $0 }) {
            if let key = terminal.readKey(timeoutMs: 50) {
                if key == "q" { break }
                handle(key)
                lastDraw = 0
            }
            followContactors()
            followInverter()
            let now = wallClockMs()
            if configuration.can.rules.enabled && now - lastCANSend >= 100 {
                sendCAN()
                lastCANSend = now
            }
            if now - lastDraw >= 100 {
                output(render())
                requestStatus()  // for the next frame: the control thread fills it in
                lastDraw = now
            }
        }
        loop.requestStop(reason: "simulator closed")
        if let loopThread { pthread_join(loopThread, nil) }
        return loopResult.withLock { $0 }?.hasPrefix("fatal") == true ? 2 : 0
    }

    // MARK: - Keys

    func handle(_ key: Character) {
        switch key {
        case "c": toggle(.chargeEnable)
        case "d": toggle(.dischargeEnable)
        case "s": toggle(.chargerSafety)
        case "b": toggle(.balanceSwitch)
        case "k":
            contactorsRespond.toggle()
            message = contactorsRespond ? "contactors follow their relays" : "contactors stay open (feedback never closes)"
        case "+", "=":
            soc = min(100, soc + 5)
            applySoc()
            message = "SOC at the BMS: \(Int(soc)) %"
        case "-", "_":
            soc = max(0, soc - 5)
            applySoc()
            message = "SOC at the BMS: \(Int(soc)) %"
        case "e":
            gpio.failNextRead()
            message = "injected: the next GPIO read fails (EIO)"
        case "l":
            let stall = configuration.loop.loopDeadlineMs * 3
            // Work on the control thread before its next step: the loop really is late.
            loop.perform { _ in usleep(useconds_t(stall) * 1000) }
            message = "injected: the control thread stalls \(stall) ms"
        case "x":
            inverter.shorted.toggle()
            message = inverter.shorted ? "inverter input shorted: the bus stays at 0 V" : "inverter input short removed"
        case "w":
            weldedDischarge.toggle()
            message = weldedDischarge ? "discharge contactor welded" : "discharge contactor free again"
        case "i", "u":
            let current = (canBMS.values[.packCurrentA] ?? 0) + (key == "i" ? 5 : -5)
            canBMS.values[.packCurrentA] = current
            message = configuration.can.rules.enabled ? "CAN: pack current \(Int(current)) A" : "CAN is off: start with --can"
        case "m":
            canChargeBitOff.toggle()
            message = canChargeBitOff ? "CAN: the BMS says its charge relay is off" : "CAN: the BMS's relay bits follow its enables"
        case "n":
            canBMS.silent.toggle()
            message = canBMS.silent ? "CAN: the BMS is silent" : "CAN: the BMS sends again"
        case "r":
            loop.perform { $0.submit(.reset) }
            message = "operator reset sent"
        case "o":
            forceOff.toggle()
            let on = forceOff
            loop.perform { $0.submit(.forceOff(on)) }
            message = "operator force-off \(on ? "on" : "off")"
        case "?":
            showHelp.toggle()
        default:
            message = "key '\(key)' does nothing: press ? for the keys"
        }
    }

    private func toggle(_ signal: InputSignal) {
        guard let line = configuration.inputs[signal], case .name(let name) = line.locator else {
            message = "\(signal) is not configured"
            return
        }
        let active = (gpio.physicalLevel(name) != line.activeLow)
        let wantHigh = !active != line.activeLow
        // An open-drain BMS output or a switch to ground: asserting pulls low, releasing floats.
        gpio.drive(name, wantHigh == (line.bias == .pullUp) ? .floating : (wantHigh ? .high : .low))
        message = "\(signal) \(active ? "released" : "asserted")"
    }

    /// One frame of each configured message, through the controller's receiveCAN seam (as the
    /// SocketCAN endpoint delivers them); relay bits follow the enables unless `m` forced charge off.
    private func sendCAN() {
        guard !canBMS.silent else { return }
        var values = canBMS.values
        values[.soc] = soc
        for (quantity, signal) in [(CANQuantity.chargeRelay, InputSignal.chargeEnable), (.dischargeRelay, .dischargeEnable)] {
            guard let line = configuration.inputs[signal], case .name(let name) = line.locator else { continue }
            values[quantity] = gpio.physicalLevel(name) != line.activeLow ? 1 : 0
        }
        if canChargeBitOff { values[.chargeRelay] = 0 }
        let frames = configuration.can.messages.map { CANBus.encode(values, layout: $0) }
        loop.perform { controller in
            let now = SystemClock().now()
            for frame in frames { controller.receiveCAN(frame, at: now) }
        }
    }

    private func applySoc() {
        for channel in configuration.adc.ads1115.channels where ![.busVoltage, .packVoltage].contains(channel.signal) {
            adc.setInputVolts(channel.adsPinVolts(forValue: channel.signal == .soc ? soc : 50), channel: channel.channel)
        }
    }

    /// Moves the inverter model after the relays and shows its bus voltage to the ADS1115 inputs.
    private func followInverter() {
        func closed(_ signal: OutputSignal) -> Bool {
            guard let line = configuration.outputs[signal], case .name(let name) = line.locator else { return false }
            return gpio.physicalLevel(name) != line.activeLow
        }
        let pack = configuration.precharge.packVoltageV ?? 51.2
        let bus = inverter.update(nanoseconds: Int64(monotonicNanoseconds()), prechargeClosed: closed(.prechargeRelay),
                                  dischargeClosed: closed(.dischargeRelay), packVolts: pack)
        for channel in configuration.adc.ads1115.channels {
            switch channel.signal {
            case .busVoltage: adc.setInputVolts(channel.adsPinVolts(forValue: bus), channel: channel.channel)
            case .packVoltage: adc.setInputVolts(channel.adsPinVolts(forValue: pack), channel: channel.channel)
            default: break
            }
        }
    }

    /// How the heartbeat toggled over the last second, as a line for the panel.
    private var heartbeatLine: String {
        guard let line = configuration.outputs[.heartbeat], case .name(let name) = line.locator else { return "heartbeat: not wired" }
        let now = Int64(monotonicNanoseconds())
        let seen = ToggleObservation(history: gpio.outputHistory(name), from: now - 1_000_000_000, to: now)
        let minimum = configuration.heartbeat.minToggleHz
        return "heartbeat: \(seen) (minimum \(minimum)/s)\(seen.toggles < minimum ? "  STOPPED OR SLOW: the charge pump drops every relay" : "")"
    }

    /// Moves the simulated contactors' auxiliary contacts after their relays.
    private func followContactors() {
        for contactor in Contactor.allCases {
            guard let feedback = configuration.inputs[contactor.feedback], case .name(let name) = feedback.locator,
                  let relay = configuration.outputs[contactor.relay], case .name(let relayLine) = relay.locator else { continue }
            let relayClosed = gpio.physicalLevel(relayLine) != relay.activeLow
            let closed = (contactor == .discharge && weldedDischarge) || (contactorsRespond && relayClosed)
            let isClosed = gpio.physicalLevel(name) != feedback.activeLow
            if closed != isClosed { gpio.drive(name, closed ? .low : .floating) }
        }
    }

    private func requestStatus() {
        loop.perform { [self] controller in
            let report = controller.statusReport
            latest.withLock { $0 = report }
        }
    }

    // MARK: - Drawing

    func render() -> String {
        var lines: [String] = []
        lines.append("\u{1B}[1mPackGuard simulator\u{1B}[0m: the real control loop on a mocked Raspberry Pi GPIO chip")
        guard let status = latest.withLock({ $0 }) else {
            return "\u{1B}[H\u{1B}[2J" + (lines + ["starting…"]).joined(separator: "\r\n")
        }
        lines.append("state: \(status.state.uppercased())   up \(status.uptimeS) s   steps \(status.steps)")
        lines.append("")
        lines.append("BMS and switch inputs")
        for key in ["chargeEnable", "dischargeEnable", "chargerSafety", "balanceSwitch", "chargeContactorFeedback", "dischargeContactorFeedback"] {
            guard let input = status.inputs[key] else { continue }
            let raw = input.raw.map { $0 == 1 ? "high" : "low " } ?? " -  "
            lines.append("  \(key.padded(28)) \(input.logical.uppercased().padded(9)) \(input.line.padded(7)) \(raw)")
        }
        lines.append("")
        lines.append("relays and indicators")
        for key in ["chargeRelay", "dischargeRelay", "prechargeRelay", "balancePowerRelay", "shoreChargerRelay", "statusLed", "heartbeat"] {
            guard let output = status.outputs[key] else { continue }
            let word = output.logical == "active" ? (key.hasSuffix("Relay") ? "CLOSED" : "ON") : (key.hasSuffix("Relay") ? "open" : "off")
            lines.append("  \(key.padded(28)) \(word.padded(9)) \(output.line.padded(7)) \(output.raw == 1 ? "high" : "low ")")
        }
        lines.append("")
        lines.append("faults: " + (status.faults.isEmpty ? "none" : status.faults.map(\.code).joined(separator: ", ")))
        lines.append("force-off: \(status.forceOff ? "ON" : "off")   contactors: \(contactorsRespond ? "follow relays" : "stay open")\(weldedDischarge ? ", discharge WELDED" : "")")
        if let precharge = status.precharge { lines.append(precharge.summary + (inverter.shorted ? "   INVERTER INPUT SHORTED" : "")) }
        if let can = status.can { lines.append(can.summary + (canBMS.silent ? "   BMS SILENT" : "")) }
        lines.append(heartbeatLine)
        if status.balancing.active {
            lines.append("balancing: on for \(status.balancing.elapsedS ?? 0) s, ends in \(status.balancing.remainingS ?? 0) s")
        } else {
            lines.append("balancing: off")
        }
        func analog(_ name: String, _ a: StatusReport.Analog?) -> String {
            guard let a else { return "\(name): -" }
            return a.valid ? "\(name): \(Int((a.value ?? 0).rounded())) \(a.unit)" : "\(name): INVALID (\(a.reason ?? "?"))"
        }
        lines.append(analog("SOC", status.soc) + "   " + analog("charge limit", status.chargeCurrentLimit)
                     + "   " + analog("discharge limit", status.dischargeCurrentLimit))
        lines.append("")
        lines.append("last events")
        for event in status.events.suffix(8) {
            lines.append("  [\(event.uptimeMs / 1000).\(String(event.uptimeMs % 1000).leftPadded(3))s] \(event.reason)")
        }
        lines.append("")
        if showHelp {
            lines.append("keys")
            for key in Self.keys { lines.append("  \(key.key)  \(key.action)") }
        }
        lines.append("> \(message)")
        return "\u{1B}[H\u{1B}[2J" + lines.joined(separator: "\r\n")
    }
}

extension String {
    func padded(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// The terminal in raw mode (no echo, no line buffering) for single-key input; restored on exit.
final class RawTerminal {
    private var saved = termios()
    private let active: Bool

    init() {
        active = isatty(STDIN_FILENO) == 1 && tcgetattr(STDIN_FILENO, &saved) == 0
        guard active else { return }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        // If raw mode cannot be set, keys arrive after Enter: the panel still works.
        _ = tcsetattr(STDIN_FILENO, TCSANOW, &raw)
    }

    func restore() {
        guard active else { return }
        _ = tcsetattr(STDIN_FILENO, TCSANOW, &saved)  // best effort on the way out: nothing else to do
    }

    func readKey(timeoutMs: Int32) -> Character? {
        var entry = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, timeoutMs) == 1 else { return nil }
        var byte: UInt8 = 0
        guard read(STDIN_FILENO, &byte, 1) == 1 else { return nil }
        return Character(UnicodeScalar(byte))
    }
}

/// Sets a flag on a signal (restoring the terminal is the panel's job, on its own thread).
final class SignalWatch {
    private let source: any DispatchSourceSignal

    init(_ number: Int32, _ action: @escaping @Sendable () -> Void) {
        signal(number, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler(handler: action)
        source.resume()
    }

    deinit { source.cancel() }
}
