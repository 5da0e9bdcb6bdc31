import ArgumentParser

/// `packguard bench` and `packguard simulate`, which `packguard` forwards here: the bench brings
/// Yams and Foundation, which the daemon's executable must not map.
@main
struct BenchTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packguard",
        abstract: "PackGuard's bench and simulator on the mocked chip (run them as `packguard bench` and `packguard simulate`).",
        subcommands: [BenchCommand.self, SimulateCommand.self]
    )
}
