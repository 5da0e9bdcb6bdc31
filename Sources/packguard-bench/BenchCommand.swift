import ArgumentParser
import Glibc
import PackGuardBench
import PackGuardCommandLine
import PackGuardConfig

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run scenarios against the real controller logic on the mocked chip.",
        discussion: """
            With no scenario files, runs the built-in scenario library (bench/scenarios/ in the repository) \
            against the configuration: `packguard bench --config /etc/packguard/packguard.yaml` checks your own \
            timings and wiring map. Time is virtual by default (a 12-hour balancing expiry runs in well under a \
            second); --realtime runs on the wall clock. Prints one line per step with what was measured, then \
            `N passed, M failed` (scenarios); exit 1 when any scenario fails or a file is invalid.
            Scenario format: see bench/README.md.
            """
    )

    @Option(help: "The configuration to test (default: the built-in default configuration).")
    var config: String?

    @Argument(help: "Scenario files (default: the built-in library).")
    var scenarios: [String] = []

    @Option(help: "Also write a JUnit XML report here.")
    var junit: String?

    @Flag(help: "Run on the wall clock instead of virtual time.")
    var realtime = false

    @Flag(help: "Print only failing steps and the summary.")
    var quiet = false

    func run() throws {
        let base: PackGuardConfiguration
        if let config {
            do { base = try loadConfiguration(config) } catch {
                printError(error.description)
                throw ExitCode(1)
            }
        } else {
            base = BuiltInConfiguration.load()
        }
        var loaded: [Scenario] = []
        var invalid = 0
        let sources: [(String, () throws -> String)] = scenarios.isEmpty
            ? BuiltInScenarios.files.map { file in ("built-in: \(file.name)", { file.yaml }) }
            : scenarios.map { path in (path, { try readTextFile(path) }) }
        for (name, read) in sources {
            do {
                loaded.append(try ScenarioParser.parse(try read(), source: name))
            } catch {
                printError("\(error)")
                invalid += 1
            }
        }
        let runner = ScenarioRunner(base: base, realtime: realtime)
        var outcomes: [ScenarioOutcome] = []
        print("bench: \(loaded.count) scenarios on \(base.source), \(realtime ? "real time" : "virtual time")")
        for scenario in loaded {
            let outcome = runner.run(scenario)
            outcomes.append(outcome)
            report(outcome)
        }
        if let junit {
            do {
                try writeTextFile(junit, JUnitReport.xml(outcomes))
            } catch {
                printError("cannot write \(junit): \(error)")
                throw ExitCode(1)
            }
        }
        let failed = outcomes.filter { !$0.passed }.count + invalid
        print("\(outcomes.count - outcomes.filter { !$0.passed }.count) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }

    private func report(_ outcome: ScenarioOutcome) {
        let scenario = outcome.scenario
        let mark = outcome.passed ? "PASS" : "FAIL"
        print("\(mark) \(scenario.name) (\(scenario.source); \(outcome.simulatedMs) ms simulated in \(outcome.wallMs) ms)")
        if let setup = outcome.setupError { print("  setup failed: \(setup)") }
        if !scenario.overrides.isEmpty && !quiet {
            print("  configuration changed by the scenario: \(scenario.overrides.summary)")
        }
        for step in outcome.steps where !quiet || !step.passed {
            print("  \(step.passed ? "ok  " : "FAIL") line \(step.line): \(step.description)\(step.detail.isEmpty ? "" : " — \(step.detail)")")
        }
    }
}
