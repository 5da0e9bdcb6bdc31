import ArgumentParser
import Glibc
import PackGuardCommandLine

@main
struct PackGuardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packguard",
        abstract: "Safety controller for an Orion Jr. 2 BMS: decides whether the charge and discharge contactors may close.",
        discussion: """
            PackGuard reads the BMS's Charge Enable, Discharge Enable and Charger Safety outputs through GPIO, \
            drives the contactor relays and fails off: any doubt ends with every relay de-energised.
            The default configuration file is \(defaultConfigurationPath).
            """,
        subcommands: [RunCommand.self, StatusCommand.self, BenchCommand.self, BenchSocketCommand.self, SimulateCommand.self, ResetCommand.self, ForceOffCommand.self, EventsCommand.self, CheckConfigCommand.self, LinesCommand.self, AdcCommand.self, CanCommand.self, RigCommand.self, TelemetryCommand.self, BenchTelemetryCommand.self]
    )

    /// `packguard run` with its usual options becomes the daemon executable, packguard-daemon, before
    /// ArgumentParser runs (see `RunOptions`): the controller's process maps none of this one's command
    /// line. Everything else, `run --help` included, goes through ArgumentParser.
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "run", let options = RunOptions.parse(arguments.dropFirst()) {
            Glibc.exit(forward(to: "packguard-daemon", ["run"] + options.arguments).rawValue)
        }
        main(nil)
    }
}
