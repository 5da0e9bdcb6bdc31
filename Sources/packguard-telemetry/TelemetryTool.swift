import ArgumentParser

/// `packguard telemetry`, which `packguard` forwards here: telemetry brings libmosquitto, Yams and
/// Foundation, which the daemon's executable must not map.
@main
struct TelemetryTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packguard",
        abstract: "PackGuard's telemetry process (run it as `packguard telemetry`).",
        subcommands: [TelemetryCommand.self]
    )
}
