import Foundation
import PackGuardCore
import PackGuardTestSupport
import Testing
@testable import PackGuardConfig
import PackGuardGPIO


/// A minimal valid configuration, to which tests add one mistake at a time.
let minimalYAML = """
inputs:
  chargeEnable: { line: GPIO17, activeLow: true, bias: pullUp }
  dischargeEnable: { line: GPIO27, activeLow: true, bias: pullUp }
outputs:
  chargeRelay: { line: GPIO16, activeLow: false }
  dischargeRelay: { line: GPIO20, activeLow: false }

"""

func issues(_ yaml: String) -> [ConfigurationIssue] {
    do {
        _ = try ConfigurationLoader.parse(yaml, file: "test.yaml")
        return []
    } catch {
        return error.issues
    }
}

@Suite("Shipped and built-in configuration")
struct ShippedConfigurationTests {
    @Test func builtInDefaultIsTheShippedFileVerbatim() throws {
        let shipped = try #require(readFile(repositoryRoot + "/hardware/pi/packguard.yaml"))
        #expect(shipped == BuiltInConfiguration.yaml)
    }

    @Test func shippedDefaultMapsTheBmsSignalsAsDocumented() {
        let config = BuiltInConfiguration.load()
        #expect(config.inputs[.chargeEnable] == InputLineConfiguration(locator: .name("GPIO17"), activeLow: true, bias: .pullUp, sourceLine: 13))
        #expect(config.inputs[.dischargeEnable]?.locator == .name("GPIO27"))
        #expect(config.inputs[.chargerSafety]?.locator == .name("GPIO22"))
        #expect(config.inputs[.balanceSwitch]?.locator == .name("GPIO23"))
        #expect(config.inputs[.chargeContactorFeedback] == nil, "feedback is commented out until wired")
        #expect(config.outputs[.chargeRelay]?.locator == .name("GPIO16"))
        #expect(config.outputs[.dischargeRelay]?.locator == .name("GPIO20"))
        #expect(config.outputs[.balancePowerRelay]?.locator == .name("GPIO21"))
        #expect(config.outputs.values.allSatisfy { !$0.activeLow })
        #expect(config.timing == PolicyTiming())
        #expect(config.policy.soc == SocRules())
        #expect(!config.hardwareWatchdog.enabled)
    }

    @Test func effectiveYAMLParsesBackToTheSameConfiguration() throws {
        let config = BuiltInConfiguration.load()
        let again = try ConfigurationLoader.parse(config.effectiveYAML, file: "effective.yaml")
        #expect(again.policy == config.policy)
        #expect(again.inputs.mapValues(\.locator) == config.inputs.mapValues(\.locator))
        #expect(again.outputs.mapValues(\.activeLow) == config.outputs.mapValues(\.activeLow))
        #expect(again.adc == config.adc && again.paths == config.paths)
    }

    @Test func chipAndOffsetLocateALineToo() throws {
        let yaml = minimalYAML.replacingFirst("{ line: GPIO16, activeLow: false }",
                                              with: "{ chip: gpiochip0, offset: 16, activeLow: false }")
        let config = try ConfigurationLoader.parse(yaml, file: "t.yaml")
        #expect(config.outputs[.chargeRelay]?.locator == .chipOffset(chip: "gpiochip0", offset: 16))
    }
}

@Suite("Strict, located validation")
struct ValidationTests {
    @Test func malformedYAMLGivesALocatedError() {
        let found = issues("inputs:\n  chargeEnable: { line: GPIO17\n  bad")
        #expect(found.count == 1)
        #expect(found.first?.line != nil)
        #expect(found.first?.description.hasPrefix("test.yaml:") == true)
        #expect(found.first?.message.contains("not valid YAML") == true)
    }

    @Test func anUnknownKeyIsAnErrorWithItsLineAndASuggestion() {
        let found = issues(minimalYAML + "timing:\n  qualifyMS: 500\n")
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "timing.qualifyMS")
        #expect(found.first?.line == 8)
        #expect(found.first?.message.contains("did you mean 'qualifyMs'?") == true)
    }

    @Test func anUnknownSignalIsAnError() {
        let found = issues(minimalYAML.replacingFirst("outputs:", with: "outputs:\n  chargRelay: { line: GPIO5, activeLow: false }"))
        #expect(found.map(\.keyPath) == ["outputs.chargRelay"])
        #expect(found.first?.message.contains("did you mean 'chargeRelay'?") == true)
    }

    @Test func missingRequiredSignalsAreNamed() {
        let found = issues("inputs:\n  chargeEnable: { line: GPIO17, activeLow: true, bias: pullUp }\noutputs:\n  chargeRelay: { line: GPIO16, activeLow: false }\n")
        #expect(Set(found.map(\.keyPath)) == ["inputs.dischargeEnable", "outputs.dischargeRelay"])
    }

    @Test func twoSignalsOnOneLineAreRejected() {
        let found = issues(minimalYAML.replacingFirst("line: GPIO27", with: "line: GPIO17"))
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "inputs.dischargeEnable")
        #expect(found.first?.line == 3)
        #expect(found.first?.message == "two signals on one line: GPIO17 is already used by inputs.chargeEnable")
    }

    @Test func anOutputOnAnInputsLineIsRejected() {
        let found = issues(minimalYAML.replacingFirst("line: GPIO16", with: "line: GPIO27"))
        #expect(found.first?.message == "an output on an input's line: GPIO27 is already used by inputs.dischargeEnable")
        #expect(found.first?.keyPath == "outputs.chargeRelay")
    }

    @Test(arguments: [("qualifyMs", "19"), ("qualifyMs", "60001"), ("minOffMs", "-1"), ("chatterLimit", "0"),
                      ("balanceMaxHours", "100"), ("reconcileMs", "5"), ("loopDeadlineMs", "99999")])
    func timingsOutsideSaneBoundsAreRejected(key: String, value: String) {
        let found = issues(minimalYAML + "timing:\n  \(key): \(value)\n")
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "timing.\(key)")
        #expect(found.first?.message.contains("outside the sane range") == true)
    }

    @Test func aTimingThatIsNotANumberSaysWhatItGot() {
        let found = issues(minimalYAML + "timing:\n  qualifyMs: half a second\n")
        #expect(found.first?.message == "expected a whole number of milliseconds, got 'half a second'")
    }

    @Test func staleTimeoutShorterThanTwoReconcilesIsRejected() {
        let found = issues(minimalYAML + "timing:\n  reconcileMs: 500\n  inputStaleMs: 900\n")
        #expect(found.first?.keyPath == "timing.inputStaleMs")
    }

    @Test func overlappingSocThresholdsAreRejected() {
        let found = issues(minimalYAML + "adc:\n  enabled: true\nsoc:\n  enabled: true\n  dischargeCutoffSoc: 40\n  chargeStopSoc: 50\n  socHysteresis: 5\n")
        #expect(found.count == 1)
        #expect(found.first?.message.contains("thresholds overlap") == true)
    }

    @Test func socRulesWithoutTheAdcAreRejected() {
        let found = issues(minimalYAML + "soc:\n  enabled: true\n")
        #expect(found.map(\.keyPath) == ["soc.enabled"])
    }

    @Test func unknownOnSocFaultAndBiasValuesListTheChoices() {
        let found = issues(minimalYAML.replacingFirst("bias: pullUp", with: "bias: up") + "soc:\n  onSocFault: panic\n")
        #expect(found.count == 2)
        #expect(found.contains { $0.message.contains("pullUp, pullDown, disabled, asIs") })
        #expect(found.contains { $0.message.contains("ignore, openDischarge, openAll") })
    }

    @Test func polarityMustBeExplicitForEverySignal() {
        let found = issues(minimalYAML.replacingFirst("{ line: GPIO17, activeLow: true, bias: pullUp }", with: "{ line: GPIO17 }"))
        #expect(Set(found.map(\.keyPath)) == ["inputs.chargeEnable.activeLow", "inputs.chargeEnable.bias"])
    }

    @Test func lineAndChipTogetherAreAmbiguous() {
        let found = issues(minimalYAML.replacingFirst("{ line: GPIO16,", with: "{ line: GPIO16, chip: gpiochip0, offset: 3,"))
        #expect(found.first?.message.contains("not both") == true)
    }

    @Test func everyErrorIsReportedNotJustTheFirst() {
        let yaml = minimalYAML + "timing:\n  qualifyMs: 5\n  minOffMs: x\nbogus: 1\npaths:\n  controlSocket: relative.sock\n"
        let found = issues(yaml)
        #expect(found.count == 4)
        let error = ConfigurationError(issues: found)
        #expect(error.description.hasPrefix("invalid configuration (4 errors):"))
    }

    @Test func anEmptyFileIsAnError() {
        #expect(issues("").first?.message == "the file is empty")
        #expect(issues("- a\n- b\n").first?.message == "expected a mapping of keys to values")
    }

    @Test func aDuplicatedKeyIsAnError() {
        let found = issues(minimalYAML + "timing:\n  qualifyMs: 500\n  qualifyMs: 600\n")
        #expect(found.first?.message.contains("more than once") == true)
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { preconditionFailure("'\(target)' not in test text") }
        return replacingCharacters(in: range, with: replacement)
    }
}

@Suite("Cross-field rules name both keys")
struct CrossFieldRuleTests {
    @Test func sampledConversionsMustLeaveHalfTheLoopDeadline() {
        // Three inputs at 8 SPS: up to 3 × (2 × 125 + 2) ms, far past half of 200 ms.
        let slow = minimalYAML + "adc:\n  enabled: true\n  dataRate: 8\n  samplePeriodMs: 5000\n  staleMs: 20000\n"
        let found = issues(slow)
        let issue = found.first { $0.keyPath == "adc.dataRate" }
        #expect(issue?.message.contains("timing.loopDeadlineMs (200 ms)") == true, "\(found)")
        #expect(issue?.line == 9, "located at the dataRate key (adc: is line 7)")
        // The same rate is fine when the ADC is not read, and a fast one is fine with it read.
        #expect(issues(minimalYAML + "adc:\n  enabled: false\n  dataRate: 8\n  samplePeriodMs: 5000\n  staleMs: 20000\n").isEmpty)
        #expect(issues(minimalYAML + "adc:\n  enabled: true\n  dataRate: 860\n").isEmpty)
        // A longer deadline admits a slower rate: 3 × (2 × 7.8 + 2) ms ≈ 53 ms < 250 / 2.
        #expect(issues(minimalYAML + "timing:\n  loopDeadlineMs: 250\nheartbeat:\n  minToggleHz: 10\nadc:\n  enabled: true\n  dataRate: 128\n").isEmpty)
        #expect(issues(minimalYAML + "timing:\n  loopDeadlineMs: 100\nadc:\n  enabled: true\n  dataRate: 128\n").contains { $0.keyPath == "adc.dataRate" })
    }

    @Test func theHardwareWatchdogTimeoutCoversTwoPetIntervals() {
        let tight = minimalYAML + "watchdog:\n  hardware:\n    enabled: true\n    timeoutS: 1\n    petIntervalMs: 600\n"
        let found = issues(tight)
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "watchdog.hardware.timeoutS")
        #expect(found.first?.message.contains("watchdog.hardware.petIntervalMs (600 ms)") == true, "\(found)")
        #expect(issues(minimalYAML + "watchdog:\n  hardware:\n    timeoutS: 2\n    petIntervalMs: 1000\n").isEmpty)
        #expect(issues(minimalYAML + "watchdog:\n  hardware:\n    timeoutS: 1\n    petIntervalMs: 500\n").isEmpty)
    }
}

@Suite("The heartbeat's minimum rate")
struct HeartbeatConfigurationTests {
    @Test func defaultsToTheChargePumpsDesignRate() throws {
        let configuration = try ConfigurationLoader.parse(minimalYAML, file: "a.yaml")
        #expect(configuration.heartbeat.minToggleHz == 20 && configuration.heartbeat.toggleIntervalMs == 50)
    }

    @Test func aSampleThatBlocksTheLoopLongerThanATogglesIntervalIsRefusedNamingBothKeys() {
        let found = issues(minimalYAML + "adc:\n  enabled: true\n  dataRate: 128\n")
        let issue = found.first { $0.keyPath == "heartbeat.minToggleHz" }
        #expect(issue?.message.contains("adc.dataRate 128 SPS may block the loop for 53 ms") == true, "\(found)")
        #expect(issues(minimalYAML + "heartbeat:\n  minToggleHz: 200\n").contains { $0.keyPath == "heartbeat.minToggleHz" },
                "outside 1...100")
    }
}

@Suite("What a reload changes, key by key")
struct ConfigurationChangeTests {
    @Test func everyChangedKeyIsListedWithItsOldAndNewValue() throws {
        let old = try ConfigurationLoader.parse(minimalYAML, file: "a.yaml")
        let new = try ConfigurationLoader.parse(
            minimalYAML.replacingOccurrences(of: "line: GPIO16", with: "line: GPIO5")
                + "timing:\n  qualifyMs: 800\n",
            file: "b.yaml")
        let changes = old.changes(to: new).map(\.description)
        #expect(changes == ["outputs.chargeRelay.line: GPIO16 -> GPIO5", "timing.qualifyMs: 500 -> 800"])
        #expect(old.changes(to: old).isEmpty, "the same file changes nothing")
    }

    @Test func aNewlyWiredSignalAndRestartOnlyKeysAreNamed() throws {
        let old = try ConfigurationLoader.parse(minimalYAML, file: "a.yaml")
        let new = try ConfigurationLoader.parse(
            minimalYAML.replacingOccurrences(of: "outputs:\n", with: "  chargerSafety: { line: GPIO22, activeLow: true, bias: pullUp }\noutputs:\n")
                + "paths:\n  controlSocket: /run/other.sock\n",
            file: "b.yaml")
        let changes = old.changes(to: new)
        #expect(changes.contains(ConfigurationChange(key: "inputs.chargerSafety.line", old: nil, new: "GPIO22")))
        let socket = try #require(changes.first { $0.key == "paths.controlSocket" })
        #expect(socket.needsRestart)
        #expect(!changes.contains { $0.key.hasPrefix("inputs.") && $0.needsRestart })
    }
}

@Suite("The precharge section")
struct PrechargeConfigurationTests {
    let relay = minimalYAML.replacingOccurrences(of: "  dischargeRelay: { line: GPIO20, activeLow: false }\n",
                                                 with: "  dischargeRelay: { line: GPIO20, activeLow: false }\n  prechargeRelay: { line: GPIO19, activeLow: false }\n")

    @Test func offByDefaultAndNothingChanges() throws {
        let configuration = try ConfigurationLoader.parse(minimalYAML, file: "a.yaml")
        #expect(!configuration.policy.precharge.enabled)
        #expect(!configuration.policy.outputs.contains(.prechargeRelay))
    }

    @Test func withoutBusSensingItIsTimed() throws {
        let configuration = try ConfigurationLoader.parse(relay + "precharge:\n  enabled: true\n  timeMs: 800\n", file: "a.yaml")
        #expect(configuration.policy.precharge.enabled)
        #expect(configuration.policy.precharge.completion == .timer(milliseconds: 800))
    }

    @Test func aBusVoltageInputMakesItSensedAgainstTheNominalPack() throws {
        let yaml = relay + """
            adc:
              enabled: true
              channels:
                AIN0: { signal: soc }
                AIN3: { signal: busVoltage }
            precharge:
              enabled: true
              targetPercent: 97
              packVoltageV: 51.2

            """
        let configuration = try ConfigurationLoader.parse(yaml, file: "a.yaml")
        #expect(configuration.policy.precharge.completion == .busVoltage(targetPercent: 97, pack: .nominal(volts: 51.2)))
        let bus = try #require(configuration.adc.ads1115.channel(for: .busVoltage))
        #expect(abs(bus.dividerRatio - 5.1 / 105.1) < 1e-12 && bus.unit == "V")
        #expect(configuration.effectiveYAML.contains("  packVoltageV: 51.2"))
    }

    @Test(arguments: [
        ("precharge:\n  enabled: true\n", false, "precharge.enabled", "wire outputs.prechargeRelay"),
        ("precharge:\n  enabled: true\n  timeMs: 3000\n", true, "precharge.timeoutMs", "at least precharge.timeMs + precharge.overlapMs (3000 + 100 ms)"),
        ("precharge:\n  enabled: true\n  targetPercent: 100\n", true, "precharge.targetPercent", "outside 50.0...99.0"),
        ("adc:\n  enabled: true\n  channels:\n    AIN3: { signal: busVoltage }\nprecharge:\n  enabled: true\n", true,
         "precharge.packVoltageV", "compares the bus with the pack"),
        ("adc:\n  enabled: false\n  channels:\n    AIN3: { signal: busVoltage }\nprecharge:\n  enabled: true\n", true,
         "precharge.enabled", "adc.enabled is false"),
    ])
    func aWrongSectionIsALocatedErrorNamingTheKeys(yaml: String, withRelay: Bool, keyPath: String, message: String) {
        let found = issues((withRelay ? relay : minimalYAML) + yaml)
        #expect(found.contains { $0.keyPath == keyPath && $0.message.contains(message) && $0.line != nil }, "\(found)")
    }
}
