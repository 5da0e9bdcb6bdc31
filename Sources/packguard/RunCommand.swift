import ArgumentParser
import PackGuardCommandLine

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
            opens; with libgpiod its wait, read and writes are one C call), then hands each edge it saw to the control loop (which polls the enables itself while \
            the reflex's waits fail or a reaction of it has run for over 50 ms). With realtime.scheduling: fifo they run SCHED_FIFO at realtime.priority, +1 and +2 \
            (the unit grants LimitRTPRIO=12); without the permission they run normally, which is logged once. \
            `packguard status` shows the off-reaction the daemon measures (kernel edge to relay written).

            The daemon is packguard-daemon, installed next to packguard: `packguard run` becomes it (same \
            process ID) once its options are read, so that the controller's process maps none of this \
            command line (exit status 127 when it is missing).

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
        // Reached when `RunOptions.parse` left the command line to ArgumentParser, which took it.
        let options = RunOptions(config: config, simulate: simulate, controlSocket: controlSocket, stateDirectory: stateDirectory)
        throw forward(to: "packguard-daemon", ["run"] + options.arguments)
    }
}
