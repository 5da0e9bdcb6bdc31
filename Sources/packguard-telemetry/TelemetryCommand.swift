import ArgumentParser
import Glibc
import Logging
import PackGuardCommandLine
import PackGuardConfig
import PackGuardDaemon
import PackGuardTelemetry
import Synchronization

/// Set by SIGTERM/SIGINT; the loop stops at its next round.
private let telemetryStopRequested = Atomic<Bool>(false)

struct TelemetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetry",
        abstract: "Publish the running controller's state to MQTT (Home Assistant discovery), a Prometheus textfile and a read-only status page.",
        discussion: """
            A separate, unprivileged process (packguard-telemetry.service, user packguard-telemetry in group \
            packguard): it reads the controller through its control socket (status and events, observe level) and \
            never changes anything, except force-off ON from the optional Home Assistant button. It keeps running \
            and reconnects with backoff while the controller or the broker is away; events that arrive while the \
            broker is away wait in a bounded queue (telemetry.eventQueue) and any overflow is counted and published \
            on packguard/<nodeId>/events_dropped.
            The configuration file (default \(TelemetryConfiguration.defaultPath), example in \
            hardware/pi/telemetry.yaml) has one top-level mapping, telemetry:, with the keys socket, nodeId, \
            pollIntervalMs, eventQueue, mqtt (url, clientId, username, passwordFile, caFile, keepaliveS), \
            homeAssistant (discovery, discoveryPrefix, forceOffButton: false), prometheus (directory, intervalS) \
            and statusPage (listen: HOST:PORT; off by default).
            Try it: packguard run --simulate, then packguard telemetry --simulate --mqtt-url mqtt://127.0.0.1:1883.
            See README.md, "Home Assistant", for every key.
            """)

    @Option(help: "The telemetry configuration (default \(TelemetryConfiguration.defaultPath); with --simulate, none: built-in defaults).")
    var config: String?

    @Flag(help: "Talk to `packguard run --simulate` (its socket in /tmp/packguard-simulate-UID); node id \"simulated\" unless the file sets one.")
    var simulate = false

    @Option(help: "The broker, mqtt://HOST:PORT or mqtts://HOST:PORT, replacing telemetry.mqtt.url (for tests).")
    var mqttUrl: String?

    @Option(help: "The controller's control socket, replacing telemetry.socket.")
    var socket: String?

    @Option(help: "Serve the status page on HOST:PORT, replacing telemetry.statusPage.listen.")
    var statusPage: String?

    func run() throws {
        LoggingSystem.bootstrap { label in JournalLogHandler(label: label) }
        let logger = Logger(label: "packguard.telemetry")
        var configuration = TelemetryConfiguration()
        if simulate {
            configuration.nodeID = "simulated"
            configuration.socket = simulationRuntimeDirectory + "/control.sock"
        }
        if let path = config ?? (simulate ? nil : TelemetryConfiguration.defaultPath) {
            let text: String
            do { text = try readTextFile(path) } catch {
                printError("cannot read \(path): \(error)")
                throw ExitCode(1)
            }
            do {
                configuration = try TelemetryConfigurationLoader.parse(text, file: path, defaults: configuration)
            } catch {
                printError(error.description)
                throw ExitCode(1)
            }
        }
        if let socket { configuration.socket = socket }
        if let statusPage {
            switch ListenAddress.parse(statusPage) {
            case .success(let address): configuration.statusPage = address
            case .failure(let problem):
                printError("--status-page: \(problem.message)")
                throw ExitCode(1)
            }
        }
        var override: BrokerURL?
        if let mqttUrl {
            switch BrokerURL.parse(mqttUrl) {
            case .success(let url): override = url
            case .failure(let problem):
                printError("--mqtt-url: \(problem.message)")
                throw ExitCode(1)
            }
        }
        let settings: MQTTConnectionSettings?
        do { settings = try configuration.connectionSettings(overrideURL: override) } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let service: TelemetryService
        do {
            service = try TelemetryService(configuration: configuration, mqtt: settings, version: packguardVersion, logger: logger)
            try service.start()
        } catch {
            logger.critical("telemetry: not starting: \(error)")
            throw ExitCode(1)
        }
        signal(SIGTERM) { _ in telemetryStopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in telemetryStopRequested.store(true, ordering: .relaxed) }
        // A broker or status page client that hangs up must not kill the process.
        signal(SIGPIPE, SIG_IGN)
        logger.notice("telemetry: following the controller at \(configuration.socket) as node \(configuration.nodeID)")
        service.run { telemetryStopRequested.load(ordering: .relaxed) }
    }
}

let packguardVersion = "0.1"
