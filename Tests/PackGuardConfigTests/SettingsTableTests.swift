import PackGuardTestSupport
import Testing
@testable import PackGuardConfig
import PackGuardCore

/// The YAML that sets one key path: `a.b.c: v` as nested mappings.
private func yaml(setting key: String, to value: String) -> String {
    let parts = key.split(separator: ".")
    var text = ""
    for (depth, part) in parts.enumerated() {
        text += String(repeating: "  ", count: depth) + part + ":" + (depth == parts.count - 1 ? " \(value)\n" : "\n")
    }
    return text
}

@Suite("The settings table: one declaration per setting")
struct SettingsTableTests {
    @Test func hardwareConfigReferenceMatchesTheTable() throws {
        let path = repositoryRoot + "/hardware/CONFIG.md"
        let text = try #require(readFile(path))
        #expect(SettingsReference.updating(text) == text,
                "hardware/CONFIG.md has drifted from the settings table: run `swift run packguard check-config --update-reference hardware/CONFIG.md`")
        for section in SettingsReference.sections {
            #expect(text.contains("<!-- settings: \(section) -->"), "hardware/CONFIG.md has no table for \(section)")
        }
        #expect(text.contains("<!-- rules -->"))
    }

    @Test func everyKeyIsDeclaredOnceAndDurationsCarryTheirUnitInTheName() {
        let keys = Setting.all.map(\.key)
        #expect(Set(keys).count == keys.count, "a key is declared twice")
        for setting in Setting.all {
            if let suffix = setting.unit.keySuffix {
                #expect(setting.name.hasSuffix(suffix), "\(setting.key) is in \(setting.unit.words) but does not end with \(suffix)")
            }
            for other in SettingUnit.allCases where other != setting.unit {
                if let suffix = other.keySuffix, setting.name.hasSuffix(suffix), setting.unit.keySuffix == nil {
                    Issue.record("\(setting.key) ends with \(suffix) but is declared in '\(setting.unit.rawValue)'")
                }
            }
        }
    }

    @Test(arguments: Setting.all.map(\.key))
    func everySettingIsReadPrintedAndChecked(key: String) throws {
        let setting = try #require(Setting.named(key))
        let defaults = PackGuardConfiguration(source: "<defaults>", inputs: [:], outputs: [:])
        let effective = try ConfigurationLoader.parse(minimalYAML, file: "test.yaml").effectiveYAML
        if let value = setting.text(in: defaults) {
            // Printed in its section, with its default.
            #expect(effective.contains(yaml(setting: key, to: value).split(separator: "\n").last.map { "\($0)\n" } ?? ""),
                    "effective configuration lacks \(key): \(value)")
        }
        // A wrong value is one located error at exactly this key.
        let bad: String
        switch setting.value {
        case .integer(_, let range, _): bad = String(range.upperBound + 1)
        case .number(_, let range), .optionalNumber(_, let range): bad = String(range.upperBound + 1)
        case .flag: bad = "maybe"
        case .text: bad = "\"bad value with spaces/\""
        case .choice: bad = "nonsense"
        }
        if case .text(_, _, let check) = setting.value, check("bad value with spaces/") == nil { return }
        let found = issues(minimalYAML + yaml(setting: key, to: bad))
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.keyPath == key, "\(found)")
        #expect(found.first?.line == minimalYAML.split(separator: "\n").count + key.split(separator: ".").count, "\(found)")
    }

    @Test func aGoodValueFromTheFileReachesItsField() throws {
        let configuration = try ConfigurationLoader.parse(minimalYAML + yaml(setting: "timing.reconcileMs", to: "300")
            + yaml(setting: "precharge.overlapMs", to: "150"), file: "test.yaml")
        #expect(configuration.loop.reconcileMs == 300)
        #expect(configuration.precharge.overlapMs == 150)
        #expect(configuration.policy.precharge.overlapMs == 150, "the policy's precharge rules follow the file")
    }

    @Test func theLoopTimingsKeepTheirDocumentedDefaults() {
        // Moved out of the core's PolicyTiming (#19); the defaults README and CONFIG.md name.
        let loop = LoopTiming()
        #expect(loop.reconcileMs == 250)
        #expect(loop.loopDeadlineMs == 200)
    }

    @Test func scenarioQuantitiesAreNamedFromTheTable() {
        let names = Setting.quantityNames(in: PackGuardConfiguration(source: "", inputs: [:], outputs: [:]))
        #expect(names["qualifyMs"] == 500)
        #expect(names["chatterWindowS"] == 60)
        #expect(names["chatterWindowMs"] == 60_000, "durations in seconds are also known in milliseconds")
        #expect(names["balanceMaxMs"] == 43_200_000.0)
        #expect(names["prechargeTimeMs"] == 500, "every setting is known by section and name")
        #expect(names["adcStaleMs"] == 5000 && names["canStaleMs"] == 2000)
        #expect(names["staleMs"] == nil, "a bare name two sections share is ambiguous, so it is not offered")
    }

    @Test func everyCrossFieldRuleHoldsOnTheDefaults() {
        let defaults = PackGuardConfiguration(source: "<defaults>", inputs: [:], outputs: [:])
        for rule in CrossFieldRule.all {
            #expect(rule.problem(in: defaults) == nil, "\(rule.key): \(rule.doc)")
        }
    }
}
