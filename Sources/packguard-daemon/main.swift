// packguard-daemon: what `packguard run` runs. `packguard` replaces itself with this executable
// (installed next to it) once `RunOptions.parse` has taken its options, so that the controller's
// process maps neither ArgumentParser nor the FoundationEssentials that comes with it: the daemon's
// peak memory is its own. It takes exactly what `packguard run` passes on; anything else is a
// usage error (exit 64) that points to `packguard run --help`.
import Glibc
import Logging
import PackGuardCommandLine
import PackGuardConfig
import PackGuardDaemon

// The process keeps the name it had before the execv ("packguard-daemon" would be cut to 15
// characters): ps, pgrep, top and the journal's _COMM show packguard, as they always have, and the
// threads started later take the name with them. It cannot fail for a name this short; if it did,
// the daemon would only be harder to find, which is said.
let named = ProcessName.set("packguard")
if named != 0 { printError("packguard-daemon: cannot name the process packguard (errno \(named)); it shows as packguard-daemo") }

let arguments = CommandLine.arguments.dropFirst()
guard arguments.first == "run", let options = RunOptions.parse(arguments.dropFirst()) else {
    printError("packguard-daemon: not a daemon command line: \(arguments.joined(separator: " ")); this executable is run by "
        + "`packguard run` (usage: packguard-daemon run [--config PATH] [--simulate] [--control-socket PATH] "
        + "[--state-directory PATH]; see `packguard run --help`)")
    exit(64)  // EX_USAGE
}
exit(runDaemon(options))

/// The daemon until it stops; returns its exit status.
func runDaemon(_ options: RunOptions) -> Int32 {
    LoggingSystem.bootstrap { label in JournalLogHandler(label: label) }
    let logger = Logger(label: "packguard")
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
