import ArgumentParser
import PackGuardCommandLine
import Dispatch
import Glibc
import Logging
import PackGuardConfig
import PackGuardCore
import PackGuardDaemon
import PackGuardGPIO

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the controller (the boot-time service).",
        discussion: """
            Requests every output at its off level, then the inputs, and runs the control loop until \
            SIGTERM or SIGINT (every relay off, lines released, exit 0). SIGHUP re-reads the configuration \
            file (an invalid file is logged and the running configuration kept). Exit status 1: invalid \
            configuration or lines that cannot be requested; 2: outputs could not be driven off.

            Three threads: the control loop; the internal watchdog, which opens every relay if a step \
            overruns timing.loopDeadlineMs; and the off reflex, which opens on its own what a release of \
            Charge Enable or Discharge Enable always opens, before the control loop has woken (it only ever \
            opens), then hands each edge it saw to the control loop (which polls the enables itself while \
            the reflex's waits fail or a reaction of it has run for over 50 ms). With realtime.scheduling: fifo they run SCHED_FIFO at realtime.priority, +1 and +2 \
            (the unit grants LimitRTPRIO=12); without the permission they run normally, which is logged once. \
            `packguard status` shows the off-reaction the daemon measures (kernel edge to relay written).

            --simulate runs the same daemon on the mocked GPIO chip with the built-in default configuration, \
            with the BMS's Charge Enable and Discharge Enable asserted, its control socket in \
            \(simulationRuntimeDirectory) (query it with `packguard status --simulate`).
            """
    )

    @Option(help: "The configuration file.")
    var config: String = defaultConfigurationPath

    @Flag(help: "Run on the mocked GPIO chip with the built-in configuration (no hardware needed).")
    var simulate = false

    @Option(help: "Override paths.controlSocket (tests, unprivileged runs).")
    var controlSocket: String?

    @Option(help: "Override paths.stateDirectory (tests, unprivileged runs).")
    var stateDirectory: String?

    func run() throws {
        throw ExitCode(runDaemon(RunOptions(config: config, simulate: simulate, controlSocket: controlSocket,
                                            stateDirectory: stateDirectory)))
    }
}

/// `packguard run`: the daemon until it stops; returns its exit status. ArgumentParser's `RunCommand`
/// and `RunOptions.parse` (the daemon's usual way in, see `PackGuardCommand.main`) both end here.
func runDaemon(_ options: RunOptions) -> Int32 {
    let logger = makeLogger()
    var configuration: PackGuardConfiguration
    if options.simulate {
        configuration = BuiltInConfiguration.load()
        configuration.paths.controlSocket = simulationRuntimeDirectory + "/control.sock"
        configuration.paths.stateDirectory = simulationRuntimeDirectory + "/state"
    } else {
        do { configuration = try loadConfiguration(options.config) } catch {
            printError(error.description)
            return 1
        }
    }
    if let controlSocket = options.controlSocket { configuration.paths.controlSocket = controlSocket }
    if let stateDirectory = options.stateDirectory { configuration.paths.stateDirectory = stateDirectory }

    let daemon: Daemon
    do {
        daemon = try Daemon(configuration: configuration, simulate: options.simulate,
                            configPath: options.simulate ? nil : options.config, logger: logger)
    } catch {
        logger.critical("not starting: \(error)")
        return 1
    }
    return daemon.run()
}


func makeLogger() -> Logger {
    LoggingSystem.bootstrap { label in JournalLogHandler(label: label) }
    return Logger(label: "packguard")
}
