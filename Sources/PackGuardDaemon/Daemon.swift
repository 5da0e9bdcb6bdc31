import Dispatch
import Glibc
import Logging
import PackGuardADC
import PackGuardCAN
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Synchronization

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
    /// Nil with the built-in configuration: there is no file to re-read.
    private var reloads: ReloadCoordinator?

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - simulate: the mocked chip (BMS enables asserted) and a mocked ADS1115.
    ///   - configPath: the file SIGHUP re-reads; nil for the built-in configuration.
    /// - Parameter openWatchdog: opens the hardware watchdog when the configuration enables it;
    ///   nil: the real device, except on the mocked chip (tests pass a double).
    public init(configuration: PackGuardConfiguration, simulate: Bool, configPath: String?, logger: Logger,
                environment: [String: String] = SystemdNotifier.processEnvironment(),
                openWatchdog: ((HardwareWatchdogSettings) throws -> any WatchdogDevice)? = nil) throws {
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

        // Listen-only CAN, when configured (never under simulate: the bench feeds frames itself).
        var canReader: SocketCANReader?
        if configuration.can.rules.enabled && !simulate {
            do {
                canReader = try SocketCANReader(interface: configuration.can.interface,
                                                identifiers: configuration.can.messages.map(\.id))
                logger.notice("CAN \(configuration.can.interface): listening (\(configuration.can.table.rawValue), \(configuration.can.messages.map(\.id.description).joined(separator: ", ")))")
            } catch {
                lines.release()
                throw StartError(description: "\(error)")
            }
        }

        var watchdog: (any WatchdogDevice)?
        var open = openWatchdog
        if open == nil && !simulate { open = { settings in try Daemon.openHardwareWatchdog(settings) } }
        if configuration.hardwareWatchdog.enabled, let open {
            do {
                watchdog = try open(configuration.hardwareWatchdog)
            } catch {
                lines.release()
                throw StartError(description: "\(error)")
            }
        }

        // From here on a failure must also disarm the watchdog just opened (a start-up that fails
        // is an orderly exit: systemd restarts it), unless the outputs could not be made safe, in
        // which case the board resetting is the right answer.
        do {
            let notifier = SystemdNotifier(environment: environment)
            let controller = Controller(
                configuration: configuration, lines: lines, backendDescription: backend.description,
                clock: SystemClock(), logger: logger, analog: analog,
                notifier: notifier.isEnabled ? notifier : nil, watchdog: watchdog,
                forceOffStore: ForceOffStore(directory: configuration.paths.stateDirectory))
            reloads = configPath.map { ReloadCoordinator(path: $0, backend: backend, logger: logger, running: configuration) }
            // --simulate runs on a desk, beside a build: no realtime priority there.
            loop = try ControlLoop(controller: controller, logger: logger, realtime: simulate ? nil : configuration.realtime)
            do {
                try makeDirectory(parentOf: configuration.paths.controlSocket)
                let group = simulate ? nil : "packguard"
                let access = ControlAccess(operatorGroup: group, adminGroup: configuration.control.adminGroup)
                access.warmUp()  // a missing group is said to the client that needs it
                socket = try ControlSocketEndpoint(
                    path: configuration.paths.controlSocket, group: group,
                    access: access,
                    limits: .init(maxClients: configuration.control.maxClients), logger: logger)
            } catch {
                throw StartError(description: "control socket: \(error)")
            }
        } catch {
            Self.abandonStart(lines: lines, watchdog: watchdog, logger: logger)
            throw error
        }
        if let socket { loop.add(socket) }
        if let canReader { loop.add(CANEndpoint(reader: canReader, logger: logger)) }
    }

    /// A start-up that failed after the lines were requested: every output off, the watchdog
    /// disarmed only if that worked, every line released.
    static func abandonStart(lines: SignalLines, watchdog: (any WatchdogDevice)?, logger: Logger) {
        let failures = lines.forceAllOff()
        if let watchdog {
            if failures.isEmpty {
                do {
                    try watchdog.disarm()
                } catch {
                    logger.error("could not disarm \(watchdog.description): \(error) (it will reset the machine)")
                }
            } else {
                logger.critical("outputs could not be driven off (\(failures.map(\.description).joined(separator: "; "))): leaving \(watchdog.description) armed so that it resets the machine")
            }
        }
        lines.release()
    }

    public static func openHardwareWatchdog(_ settings: HardwareWatchdogSettings) throws -> any WatchdogDevice {
        try HardwareWatchdog(path: settings.device, timeoutSeconds: Int32(settings.timeoutS))
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
            (SIGHUP, { [reloads, logger] in
                guard let reloads else {
                    logger.warning("SIGHUP: no configuration file to re-read (built-in configuration)")
                    return
                }
                reloads.reload(on: loop)
            }),
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

    /// SIGHUP (and `systemctl reload`), synchronously: reads and checks the file, then applies it
    /// (tests; the daemon splits the two across threads with `ReloadCoordinator`).
    static func reload(_ controller: Controller, from path: String, backend: any GPIOBackend,
                       logger: Logger) throws {
        try apply(try prepareReload(from: path, running: controller.configuration), to: controller,
                  backend: backend, logger: logger)
    }

    /// Off the control thread: reads, parses and validates the file and works out what changes.
    /// This is the slow part of a reload (YAML, the effective configurations); done on the control
    /// thread it could make a step late enough for the internal watchdog to open every relay.
    static func prepareReload(from path: String, running: PackGuardConfiguration) throws -> PreparedReload {
        let configuration = try ConfigurationLoader.load(path: path)
        return PreparedReload(path: path, configuration: configuration, basis: running,
                              changes: running.changes(to: configuration))
    }

    /// On the control thread: applies a checked file to the running controller, which keeps every
    /// safety state and every closed relay whose wiring is unchanged. An ADC that will not open, or
    /// a new line that cannot be requested, throws, and the running configuration stays wholly in
    /// force. Keys that need a restart keep their running value.
    static func apply(_ prepared: PreparedReload, to controller: Controller, backend: any GPIOBackend,
                      logger: Logger) throws {
        let current = controller.configuration
        var configuration = prepared.configuration
        // Another reload took effect since this one was prepared (rare): compare with what runs now.
        let changes = prepared.basis == current ? prepared.changes : current.changes(to: configuration)
        let path = prepared.path
        for change in changes where change.needsRestart {
            logger.warning("reload: \(change) takes effect at the next start; keeping \(change.old ?? "(none)") until then")
        }
        // Bound and opened at start-up: the socket's path, and the watchdog device and timeout.
        configuration.paths = current.paths
        configuration.hardwareWatchdog = current.hardwareWatchdog
        configuration.control = current.control
        let applied = changes.filter { !$0.needsRestart }
        guard !applied.isEmpty else {
            logger.notice("configuration re-read from \(path): no changes to apply")
            return
        }
        // Changed ADC settings take effect with a new sampler, opened before anything changes,
        // so a bus that will not open keeps the running configuration.
        var analog = controller.analog
        if configuration.adc != current.adc {
            analog = configuration.adc.enabled ? try AnalogInputs.open(configuration.adc.ads1115) : nil
        }
        try controller.reload(to: configuration, analog: analog, backend: backend)
        for change in applied { logger.notice("reload: \(change)") }
        logger.notice("configuration re-read from \(path): \(applied.count) setting\(applied.count == 1 ? "" : "s") changed; force-off, latches, balancing and closed relays kept")
    }
}

/// A configuration file read and checked for a reload, and what it changes against `basis`.
struct PreparedReload: Sendable {
    let path: String
    let configuration: PackGuardConfiguration
    let basis: PackGuardConfiguration
    let changes: [ConfigurationChange]
}

/// Runs reloads in two halves: the file is read and checked on a queue of its own, then applied
/// on the control thread before its next step. Reloads are serialised; `running` mirrors the
/// controller's configuration for the queue side, which must never read the controller.
final class ReloadCoordinator: Sendable {
    private let path: String
    private let backend: any GPIOBackend
    private let logger: Logger
    private let running: Mutex<PackGuardConfiguration>
    private let queue = DispatchQueue(label: "packguard.reload")

    init(path: String, backend: any GPIOBackend, logger: Logger, running: PackGuardConfiguration) {
        self.path = path
        self.backend = backend
        self.logger = logger
        self.running = Mutex(running)
    }

    func reload(on loop: ControlLoop) {
        queue.async { [self] in
            let prepared: PreparedReload
            do {
                prepared = try Daemon.prepareReload(from: path, running: running.withLock { $0 })
            } catch {
                logger.error("reload refused, keeping the running configuration: \(error)")
                return
            }
            loop.perform { [self] controller in
                do {
                    try Daemon.apply(prepared, to: controller, backend: backend, logger: logger)
                } catch {
                    logger.error("reload refused, keeping the running configuration: \(error)")
                }
                let now = controller.configuration
                running.withLock { $0 = now }
            }
        }
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
