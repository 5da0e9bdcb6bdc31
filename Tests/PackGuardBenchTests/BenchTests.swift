import Foundation
import PackGuardConfig
import PackGuardCore
import PackGuardTestSupport
import Testing
@testable import PackGuardBench


func parse(_ yaml: String) throws(ScenarioError) -> Scenario {
    try ScenarioParser.parse(yaml, source: "test.yaml")
}

@Suite("Scenario library")
struct ScenarioLibraryTests {
    @Test func builtInScenariosAreTheFilesInTheRepository() throws {
        let directory = repositoryRoot + "/bench/scenarios"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(BuiltInScenarios.files.map(\.name) == names, "add the file to Sources/PackGuardBench/BuiltInScenarios.swift")
        for file in BuiltInScenarios.files {
            let text = try String(contentsOfFile: directory + "/" + file.name, encoding: .utf8)
            #expect(text.trimmingCharacters(in: .newlines) == file.yaml, "\(file.name): the embedded copy differs")
        }
    }

    @Test func theLibraryCoversEveryRequiredBehaviour() throws {
        let names = try BuiltInScenarios.files.map { try parse($0.yaml).name }
        for wanted in ["normal start", "start with the BMS not ready", "BMS drops Discharge Enable under load",
                       "glitch shorter than qualifyMs", "Charge Enable chatter, lockout and reset",
                       "balancing mode on, off and expiry", "shore charger follows Charger Safety",
                       "SOC cut-off with hysteresis", "ADC failure with onSocFault ignore",
                       "ADC failure with onSocFault openDischarge", "ADC failure with onSocFault openAll",
                       "welded contactor", "contactor fails to close", "input read error", "control loop stall",
                       "operator force-off", "SIGTERM", "reload keeps closed relays closed", "reload keeps force-off",
                       "reload keeps a chatter latch and its history",
                       "reload keeps the balancing session and its expiry clock", "reload that moves a relay's line"] {
            #expect(names.contains(wanted), "\(wanted)")
        }
    }

    @Test(arguments: BuiltInScenarios.files.map(\.name).filter { !$0.contains("balancing") })
    func everyLibraryScenarioPassesOnTheDefaultConfiguration(name: String) throws {
        let file = try #require(BuiltInScenarios.files.first { $0.name == name })
        let outcome = ScenarioRunner(base: BuiltInConfiguration.load()).run(try parse(file.yaml))
        #expect(outcome.setupError == nil)
        for step in outcome.steps where !step.passed {
            Issue.record("\(name) line \(step.line): \(step.description): \(step.detail)")
        }
    }
}

@Suite("Scenario runner")
struct ScenarioRunnerTests {
    @Test func aBrokenForStretchReportsTheStateThatBrokeItAndWhen() throws {
        let never = try parse("""
            name: never held
            configuration: { timing: { qualifyMs: 100, startupHoldMs: 0 } }
            steps:
              - set: { chargeEnable: asserted }
              - expect: { chargeRelay: closed, for: 500 }
            """)
        let first = ScenarioRunner(base: BuiltInConfiguration.load()).run(never)
        #expect(first.steps.last?.passed == false)
        #expect(first.steps.last?.detail == "did not hold at the start of the 500 ms: chargeRelay open", "\(first.steps)")

        // Qualification closes the relay 100 ms into a stretch that expects it open: the report is
        // when and how it broke.
        let broken = try parse("""
            name: broken midway
            configuration: { timing: { qualifyMs: 100, startupHoldMs: 0 } }
            steps:
              - set: { chargeEnable: asserted }
              - expect: { chargeRelay: open, for: 500 }
            """)
        let second = ScenarioRunner(base: BuiltInConfiguration.load()).run(broken)
        #expect(second.steps.last?.detail == "broke after 100 ms of 500 ms: chargeRelay closed", "\(second.steps)")
    }

    @Test func reloadStepsParseAndRejectUnknownSignalsAndSections() throws {
        let scenario = try parse("""
            name: reload
            steps:
              - reload: { timing: { qualifyMs: 800 }, lines: { chargeRelay: GPIO5 } }
            """)
        guard case .reload(let changes) = scenario.steps.first?.action else {
            Issue.record("expected a reload step")
            return
        }
        #expect(changes.timing["qualifyMs"]?.text == "800")
        #expect(changes.lines == ["chargeRelay": "GPIO5"])
        #expect(throws: ScenarioError.self) {
            try parse("name: x\nsteps:\n  - reload: { lines: { chargeRelais: GPIO5 } }\n")
        }
        #expect(throws: ScenarioError.self) {
            try parse("name: x\nsteps:\n  - reload: { simulatedContactors: true }\n")
        }
        // A reload onto a line another program holds fails and keeps the old wiring.
        let rig = try BenchRig(configuration: BuiltInConfiguration.load())
        rig.gpio.holdLine("GPIO5", consumer: "gpioset")
        #expect(throws: (any Error).self) { try rig.reload(changes, source: "test") }
        #expect(rig.configuration.outputs[.chargeRelay]?.locator == .name("GPIO16"))
        #expect(rig.configuration.timing.qualifyMs == 500, "no part of the reload took effect")
    }

    @Test func aWrongExpectationFailsWithWhatWasFound() throws {
        let scenario = try parse("""
            name: wrong on purpose
            steps:
              - set: { dischargeEnable: asserted }
              - wait: startupHoldMs + qualifyMs + 10
              - expect: { dischargeRelay: open }
              - expect: { chargeRelay: closed, within: 100 }
              - expectEvent: "no such reason"
            """)
        let outcome = ScenarioRunner(base: BuiltInConfiguration.load()).run(scenario)
        #expect(!outcome.passed)
        #expect(outcome.steps.map(\.passed) == [true, true, false, false, false])
        #expect(outcome.steps[2].detail == "found dischargeRelay closed")
        #expect(outcome.steps[3].detail.hasPrefix("not within 100 ms: chargeRelay open"))
    }

    @Test func reactionTimesAreMeasuredFromTheAction() throws {
        let scenario = try parse("""
            name: qualification
            steps:
              - wait: startupHoldMs + 100
              - set: { chargeEnable: asserted }
              - expect: { chargeRelay: closed, within: qualifyMs + 10 }
            """)
        let outcome = ScenarioRunner(base: BuiltInConfiguration.load()).run(scenario)
        #expect(outcome.passed)
        #expect(outcome.steps[2].detail == "reacted in 500 ms")
    }

    @Test func aTwelveHourExpiryRunsOnVirtualTime() throws {
        let file = try #require(BuiltInScenarios.files.first { $0.name.contains("balancing") })
        let outcome = ScenarioRunner(base: BuiltInConfiguration.load()).run(try parse(file.yaml))
        #expect(outcome.passed, "\(outcome.steps.filter { !$0.passed })")
        #expect(outcome.simulatedMs > 12 * 3_600_000)
    }

    @Test func quantitiesUseTheConfigurationUnderTest() throws {
        var configuration = BuiltInConfiguration.load()
        #expect(try Quantity(text: "startupHoldMs + qualifyMs + 10", line: 1).value(in: configuration, source: "t") == 3510)
        #expect(try Quantity(text: "2 * minOffMs - 1", line: 1).value(in: configuration, source: "t") == 9999)
        #expect(try Quantity(text: "-5 + 10", line: 1).value(in: configuration, source: "t") == 5)
        configuration.policy.timing.qualifyMs = 800
        #expect(try Quantity(text: "qualifyMs", line: 1).value(in: configuration, source: "t") == 800)
        #expect(throws: ScenarioError.self) { try Quantity(text: "qualifyMS + 1", line: 7).value(in: configuration, source: "t") }
        #expect(throws: ScenarioError.self) { try Quantity(text: "1 +", line: 7).value(in: configuration, source: "t") }
        #expect(throws: ScenarioError.self) { try Quantity(text: "-5", line: 7).milliseconds(in: configuration, source: "t") }
    }

    @Test func junitReportsEveryScenarioAndItsFailures() throws {
        let good = try parse("name: good\nsteps:\n  - expect: { chargeRelay: open }\n")
        let bad = try parse("name: bad <&>\nsteps:\n  - expect: { chargeRelay: closed }\n")
        let runner = ScenarioRunner(base: BuiltInConfiguration.load())
        let xml = JUnitReport.xml([runner.run(good), runner.run(bad)])
        #expect(xml.contains(#"tests="2" failures="1""#))
        #expect(xml.contains(#"name="bad &lt;&amp;&gt;""#))
        #expect(xml.contains("<failure message=\"expect chargeRelay closed\">line 3: expect chargeRelay closed: found chargeRelay open</failure>"))
    }
}

@Suite("Scenario files: located errors")
struct ScenarioParserTests {
    @Test(arguments: [
        ("name: x\nsteps:\n  - wiat: 10\n", 3, "unknown key 'wiat' in a step (did you mean 'wait'?)"),
        ("name: x\nsteps:\n  - set: { chargeEnable: maybe }\n", 3, "an input is active/asserted/on/closed or inactive/released/off/open, not 'maybe'"),
        ("name: x\nsteps:\n  - expect: { chargeRelay: open, within: 5, for: 5 }\n", 3, "expect takes 'within' or 'for', not both"),
        ("name: x\nsteps:\n  - fault: gremlins\n", 3, "unknown fault 'gremlins'"),
        ("name: x\nsteps:\n  - wait: 1\n    set: { chargeEnable: on }\n", 3, "a step has exactly one of"),
        ("steps:\n  - wait: 1\n", 1, "a scenario needs a name"),
        ("name: x\nconfiguration:\n  timing: { qualifyMS: 3 }\nsteps:\n  - wait: 1\n", 3, "did you mean 'qualifyMs'?"),
    ])
    func badScenariosAreReportedWithTheirLine(yaml: String, line: Int, message: String) {
        do {
            _ = try parse(yaml)
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.line == line)
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.description.hasPrefix("test.yaml:\(line):"))
        }
    }

    @Test func malformedYAMLIsAnError() {
        #expect(throws: ScenarioError.self) { try parse("name: [unclosed\n") }
    }
}
