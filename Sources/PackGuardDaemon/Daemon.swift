import Dispatch
import Glibc
import Logging
import PackGuardADC
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO

/// `packguard run`: assembles the hardware edges (GPIO, ADC, systemd, watchdog, control socket,
/// signals) around a `ControlLoop` and runs it. Every failure to start ends with every line
/// released (outputs back to their pull-downs) and a message naming what failed.
public final class Daemon {
    public let loop: ControlLoop
    public let simulatedGPIO: SimulatedGPIO?
    public let simulatedADC: SimulatedADS1115?
    private let logger: Logger
    private var signalSources: [any DispatchSourceSignal] = []
    private var socket: ControlSocketEndpoint?

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - simulate: the mocked chip (BMS enables asserted) and a mocked ADS1115.
    ///   - configPath: the file SIGHUP re-reads; nil for the built-in configuration.
    public init(configuration: PackGuardConfiguration, simulate: Bool, configPath: String?, logger: Logger,
                environment: [String: String] = SystemdNotifier.processEnvironment()) throws {
        self.logger = logger
        let backend: any GPIOBackend
        if simulate {
            let gpio = SimulatedGPIO.raspberryPi()
            // A BMS that has finished its self checks: both enables pulled to ground.
            for signal in [InputSignal.chargeEnable, .dischargeEnable] {
                if case .name(let name)? = configuration.inputs[signal]?.locator { gpio.drive(name, .low) }
            }
            simulatedGPIO = gpio
            backend = gpio
        } else {
            simulatedGPIO = nil
            backend = LibgpiodBackend()
        }

        let lines = try SignalLines(configuration: configuration, backend: backend)
        logger.notice("outputs requested off, inputs requested (\(backend.description), \(configuration.source))")

        var analog: AnalogInputs?
        var simulatedADC: SimulatedADS1115?
        if configuration.adc.enabled || simulate {
            // The configured device: bus, address, PGA, data rate, channels, median and staleness.
            let adcConfiguration = configuration.adc.ads1115
            let device = simulate ? AnalogInputs.simulatedDevice(for: adcConfiguration) : nil
            do {
                analog = try AnalogInputs.open(adcConfiguration, simulated: device)
            } catch {
                lines.release()
                throw StartError(description: "\(error)")
            }
            simulatedADC = device
        }
        self.simulatedADC = simulatedADC

        var watchdog: (any WatchdogDevice)?
        if configuration.hardwareWatchdog.enabled && !simulate {
            do {
                watchdog = try HardwareWatchdog(path: configuration.hardwareWatchdog.device,
                                                timeoutSeconds: Int32(configuration.hardwareWatchdog.timeoutS))
            } catch {
                lines.release()
                throw StartError(description: "\(error)")
            }
        }

        let notifier = SystemdNotifier(environment: environment)
        let controller = Controller(
            configuration: configuration, lines: lines, backendDescription: backend.description,
            clock: SystemClock(), logger: logger, analog: analog,
            notifier: notifier.isEnabled ? notifier : nil, watchdog: watchdog,
            forceOffStore: ForceOffStore(directory: configuration.paths.stateDirectory))

        let reload: (@Sendable (Controller) throws -> Controller)? = configPath.map { path in
            { @Sendable current in try Daemon.reloaded(current, from: path, backend: backend, logger: logger) }
        }
        loop = try ControlLoop(controller: controller, logger: logger, reload: reload)

        do {
            try makeDirectory(parentOf: configuration.paths.controlSocket)
            let group = simulate ? nil : "packguard"
            socket = try ControlSocketEndpoint(
                path: configuration.paths.controlSocket, group: group,
                access: ControlAccess(operatorGroup: group, adminGroup: configuration.control.adminGroup),
                limits: .init(maxClients: configuration.control.maxClients), logger: logger)
        } catch {
            lines.release()
            throw StartError(description: "control socket: \(error)")
        }
        if let socket { loop.add(socket) }
    }

    /// Runs until SIGTERM/SIGINT; returns the exit status (0 after an orderly stop).
    public func run() -> Int32 {
        installSignalHandlers()
        defer {
            // Close the control socket and remove its file: `status` must not find a dead socket.
            loop.removeEndpoints()
            socket = nil
        }
        do {
            let reason = try loop.run()
            logger.notice("exiting after \(reason)")
            return 0
        } catch {
            logger.critical("\(error)")
            return 2
        }
    }

    private func installSignalHandlers() {
        let loop = self.loop
        let actions: [(Int32, @Sendable () -> Void)] = [
            (SIGTERM, { loop.requestStop(reason: "SIGTERM") }),
            (SIGINT, { loop.requestStop(reason: "SIGINT") }),
            (SIGHUP, { loop.requestReload() }),
        ]
        for (number, action) in actions {
            signal(number, SIG_IGN)  // delivered through the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
            signalSources.append(source)
        }
        signal(SIGPIPE, SIG_IGN)
    }

    /// SIGHUP: a valid new file replaces the controller (every relay re-qualifies); an invalid
    /// one throws and the running configuration stays.
    static func reloaded(_ current: Controller, from path: String, backend: any GPIOBackend,
                         logger: Logger) throws -> Controller {
        var configuration = try ConfigurationLoader.load(path: path)
        configuration.paths = current.configuration.paths  // the socket is already bound
        let sameLines = configuration.inputs == current.configuration.inputs
            && configuration.outputs == current.configuration.outputs
        // Changed ADC settings take effect with a new sampler; the bus is opened before anything is
        // released, so a bus that will not open keeps the running configuration.
        var analog = current.analog
        if configuration.adc != current.configuration.adc {
            analog = configuration.adc.enabled ? try AnalogInputs.open(configuration.adc.ads1115) : nil
        }
        let lines: SignalLines
        if sameLines {
            lines = current.lines
            current.lines.forceAllOff()
        } else {
            current.shutdown(reason: "configuration reload changed the line mapping")
            lines = try SignalLines(configuration: configuration, backend: backend)
        }
        return Controller(configuration: configuration, lines: lines, backendDescription: backend.description,
                          clock: current.clock, logger: logger, analog: analog, notifier: current.notifier,
                          watchdog: current.watchdog, forceOffStore: current.forceOffStore, events: current.events)
    }
}

/// Creates the directory a path lives in (one level, mode 0750) when it is missing; under
/// systemd, RuntimeDirectory= has already made it.
func makeDirectory(parentOf path: String) throws(FileError) {
    guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
    let directory = String(path[..<slash])
    if mkdir(directory, 0o750) != 0 && errno != EEXIST {
        throw FileError(description: "cannot create \(directory): \(String(cString: strerror(errno))) (errno \(errno))")
    }
}

struct FileError: Error, CustomStringConvertible {
    var description: String
}

extension SystemdNotifier: ServiceNotifier {
    public var watchdogIntervalNanoseconds: UInt64? { watchdogInterval }
    public func notify(_ fields: [String]) throws { try send(fields) }
}

extension HardwareWatchdog: WatchdogDevice {
    public var description: String { "hardware watchdog \(path)" }
    public func disarm() throws { try closeCleanly() }
}
