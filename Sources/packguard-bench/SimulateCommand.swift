import ArgumentParser
import PackGuardBench
import PackGuardCommandLine
import PackGuardConfig

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Interactive panel: the real control loop on the mocked chip, driven from the keyboard.",
        discussion: """
            Shows each BMS input, each relay, the controller state, faults, balancing timer, SOC and current \
            limits and the last events with their reasons, refreshed live (plain ANSI; works over SSH). Keys:
            \(SimulatorPanel.keys.map { "  \($0.key)  \($0.action)" }.joined(separator: "\n"))
            Simulated contactor feedback is wired on GPIO24/GPIO25 when the configuration has none.
            With --precharge the discharge contactor precharges a simulated inverter (5 mF through 10 ohm) \
            sensed on AIN3, relay on GPIO19: the panel shows the bus voltage and the sequence; x shorts the bus.
            With --can a simulated BMS sends the orionDefault messages (SOC from +/-, relay bits following the \
            enables) and can.currentWhileOpen and can.bmsDisagrees are on: i/u change the pack current, m makes \
            the BMS report its charge relay off, n silences it.
            """
    )

    @Option(help: "The configuration to simulate (default: the built-in default).")
    var config: String?

    @Flag(help: "Enable a sensed precharge into a simulated inverter (relay on GPIO19, bus voltage on AIN3).")
    var precharge = false

    @Flag(help: "Enable CAN with a simulated BMS on the bus (orionDefault; currentWhileOpen and bmsDisagrees on).")
    var can = false

    func run() throws {
        var configuration: PackGuardConfiguration
        if let config {
            do { configuration = try loadConfiguration(config) } catch {
                printError(error.description)
                throw ExitCode(1)
            }
        } else {
            configuration = BuiltInConfiguration.load()
        }
        if precharge {
            var changes = ConfigurationOverrides()
            changes.precharge = ["enabled": .flag(true)]
            do {
                try changes.apply(to: &configuration, source: "--precharge")
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
        }
        if can {
            var changes = ConfigurationOverrides()
            changes.can = ["enabled": .flag(true), "currentWhileOpen": .flag(true), "bmsDisagrees": .flag(true)]
            do {
                try changes.apply(to: &configuration, source: "--can")
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
        }
        let panel: SimulatorPanel
        do {
            panel = try SimulatorPanel(configuration: configuration)
        } catch {
            printError("cannot start the simulator: \(error)")
            throw ExitCode(1)
        }
        let code = panel.run()
        if code != 0 { throw ExitCode(code) }
    }
}
