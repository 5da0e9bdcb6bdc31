import ArgumentParser
import PackGuardCommandLine

// Commands that live in the sibling executables (see `SiblingExecutable`): the same words as
// ever on the command line, forwarded with every argument, --help included.

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run scenarios against the real controller logic on the mocked chip (in packguard-bench).")

    @Argument(parsing: .captureForPassthrough, help: "Its arguments: see `packguard bench --help`.")
    var arguments: [String] = []

    func run() throws { throw forward(to: "packguard-bench", ["bench"] + arguments) }
}

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Interactive panel: the real control loop on the mocked chip, driven from the keyboard (in packguard-bench).")

    @Argument(parsing: .captureForPassthrough, help: "Its arguments: see `packguard simulate --help`.")
    var arguments: [String] = []

    func run() throws { throw forward(to: "packguard-bench", ["simulate"] + arguments) }
}

struct TelemetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetry",
        abstract: "Publish the running controller's state to MQTT (Home Assistant discovery), a Prometheus textfile and a status page (in packguard-telemetry).")

    @Argument(parsing: .captureForPassthrough, help: "Its arguments: see `packguard telemetry --help`.")
    var arguments: [String] = []

    func run() throws { throw forward(to: "packguard-telemetry", ["telemetry"] + arguments) }
}

/// Runs the sibling in this process's place; what returns is the failure to do so.
func forward(to executable: String, _ arguments: [String]) -> ExitCode {
    let error = SiblingExecutable.exec(executable, arguments: arguments)
    printError("packguard: \(error)")
    return ExitCode(error.exitCode)
}
