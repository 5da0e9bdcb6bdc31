import PackGuardCAN
import PackGuardCore
import Testing
@testable import PackGuardConfig

/// `minimalYAML` plus a `can` section; `can:` is on line 8, its first key on line 9.
private func withCAN(_ body: String) -> String { minimalYAML + "can:\n" + body }

private func only(_ yaml: String) -> ConfigurationIssue? {
    let found = issues(yaml)
    #expect(found.count == 1, "\(found)")
    return found.first
}

@Suite("CAN configuration: the can section")
struct CANConfigurationTests {
    @Test func canIsOffByDefaultWithTheOrionDefaultTable() throws {
        let config = try ConfigurationLoader.parse(minimalYAML, file: "t.yaml")
        #expect(config.can == CANSettings())
        #expect(!config.policy.can.enabled)
        #expect(config.can.messages == CANPreset.orionDefault.messages)
        #expect(config.can.interface == "can0" && config.can.bitrate == 500_000)
        #expect(config.policy.soc.source == .adc)
    }

    @Test func everySettingIsRead() throws {
        let config = try ConfigurationLoader.parse(withCAN("""
              enabled: true
              interface: vcan0
              bitrate: 250000
              preset: victron
              staleMs: 3000
              onStale: openAll
              currentWhileOpen: true
              openCurrentA: 2.5
              openCurrentMs: 400

            """), file: "t.yaml")
        #expect(config.can.interface == "vcan0" && config.can.bitrate == 250_000 && config.can.table == .victron)
        #expect(config.can.messages == CANPreset.victron.messages)
        var rules = CANRules()
        rules.enabled = true
        rules.staleMs = 3000
        rules.onStale = .openAll
        rules.currentWhileOpen = true
        rules.openCurrentA = 2.5
        rules.openCurrentMs = 400
        #expect(config.policy.can == rules)
    }

    @Test func aCustomTableIsReadAndRoundTrips() throws {
        let config = try ConfigurationLoader.parse(withCAN("""
              enabled: true
              preset: custom
              bmsDisagrees: true
              messages:
                - id: 0x6B4
                  length: 4
                  checksum: none
                  periodMs: 100
                  fields:
                    - { quantity: chargeRelay, start: 0, length: 2, bit: 1 }
                    - { quantity: dischargeRelay, start: 0, length: 2, bit: 0 }
                    - { quantity: packCurrentA, start: 2, length: 2, byteOrder: littleEndian, signed: true, scale: 0.1, unit: A }
                - id: 0x18FF50E5
                  extended: true
                  fields:
                    - { quantity: soc, start: 0, length: 1, scale: 0.5 }

            """), file: "t.yaml")
        #expect(config.can.messages.count == 2)
        #expect(config.can.messages[0].fields[2] == CANField(.packCurrentA, start: 2, length: 2, byteOrder: .littleEndian, signed: true, scale: 0.1))
        #expect(config.can.messages[1].id == CANIdentifier(0x18FF50E5, extended: true))
        let again = try ConfigurationLoader.parse(config.effectiveYAML, file: "effective.yaml")
        #expect(again.can == config.can)
        #expect(again.policy == config.policy)
    }

    @Test func theBuiltInEffectiveYAMLKeepsTheCanDefaults() throws {
        let config = BuiltInConfiguration.load()
        let again = try ConfigurationLoader.parse(config.effectiveYAML, file: "effective.yaml")
        #expect(again.can == config.can)
    }

    @Test(arguments: [
        ("  enabled: yes\n", "can.enabled", "expected true or false"),
        ("  interface: can/0\n", "can.interface", "not a network interface name"),
        ("  bitrate: 300000\n", "can.bitrate", "expected one of 125000, 250000, 500000, 1000000"),
        ("  preset: orion\n", "can.preset", "expected one of orionDefault, victron, custom"),
        ("  onStale: openDischarge\n", "can.onStale", "expected one of ignore, openAll"),
        ("  staleMs: 10\n", "can.staleMs", "outside the sane range"),
        ("  openCurrentA: 0\n", "can.openCurrentA", "outside"),
        ("  disagreeMs: 99999999\n", "can.disagreeMs", "outside the sane range"),
        ("  preset: custom\n", "can.messages", "needs can.messages"),
        ("  messages: []\n", "can.messages", "set can.preset: custom"),
        ("  preset: victron\n  bmsDisagrees: true\n", "can.bmsDisagrees", "the Victron profile carries none"),
        ("  staleMs: 10000\n  nonsense: 1\n", "can.nonsense", "unknown key"),
        ("  preset: custom\n  messages:\n    - { id: 0x900, fields: [{ quantity: soc, start: 0 }] }\n", "can.messages[0]", "does not fit 11 bits"),
        ("  preset: custom\n  messages:\n    - { id: 0x100, checksum: orionSum, fields: [{ quantity: soc, start: 7 }] }\n", "can.messages[0]", "before the checksum"),
        ("  preset: custom\n  messages:\n    - { id: 0x100, fields: [{ quantity: dtc, start: 0 }] }\n", "can.messages[0]", "dtc is a flag: give its bit"),
        ("  preset: custom\n  messages:\n    - { id: 0x100, fields: [{ quantity: volts, start: 0 }] }\n", "can.messages[0].fields[0].quantity", "expected one of packCurrentA"),
        ("  preset: custom\n  messages:\n    - { id: 0x100, fields: [{ quantity: soc, start: 0, unit: A }] }\n", "can.messages[0].fields[0].unit", "soc is in '%'"),
        ("  preset: custom\n  messages:\n    - { id: 0x100, fields: [{ quantity: soc }] }\n    - { id: 256, fields: [{ quantity: soh }] }\n", "can.messages[1].id", "appears more than once"),
        ("  preset: custom\n  messages:\n    - { id: 0x100, checksum: crc8, fields: [{ quantity: soc }] }\n", "can.messages[0].checksum", "expected one of none, orionSum"),
    ])
    func badValuesAreLocatedErrors(body: String, keyPath: String, message: String) throws {
        let issue = try #require(only(withCAN(body)))
        #expect(issue.keyPath == keyPath)
        #expect(issue.message.contains(message), "\(issue.message)")
        #expect(issue.line != nil, "\(issue)")
    }

    @Test func socFromCanNeedsCanEnabled() throws {
        let yaml = minimalYAML + "soc:\n  enabled: true\n  source: can\n"
        let issue = try #require(only(yaml))
        #expect(issue.keyPath == "soc.source" && issue.message.contains("can.enabled is false"))
        let wrong = try #require(only(minimalYAML + "soc:\n  source: pin11\n"))
        #expect(wrong.keyPath == "soc.source")
        let fine = try ConfigurationLoader.parse(yaml + "can:\n  enabled: true\n", file: "t.yaml")
        #expect(fine.policy.soc.source == .can && fine.policy.soc.enabled)
    }
}
