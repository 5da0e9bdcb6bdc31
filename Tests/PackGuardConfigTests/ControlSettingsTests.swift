import Testing
@testable import PackGuardConfig

@Suite("control: adminGroup and maxClients")
struct ControlSettingsTests {
    @Test func defaultsWhenTheSectionIsMissing() throws {
        let config = try ConfigurationLoader.parse(minimalYAML, file: "test.yaml")
        #expect(config.control == ControlSettings())
        #expect(config.control.adminGroup == "packguard-admin")
        #expect(config.control.maxClients == 16)
    }

    @Test func bothKeysAreRead() throws {
        let config = try ConfigurationLoader.parse(minimalYAML + "control:\n  adminGroup: pack-admins\n  maxClients: 4\n",
                                                   file: "test.yaml")
        #expect(config.control.adminGroup == "pack-admins")
        #expect(config.control.maxClients == 4)
    }

    @Test func theShippedFileSpellsOutTheDefaults() {
        #expect(BuiltInConfiguration.load().control == ControlSettings())
        #expect(BuiltInConfiguration.yaml.contains("\ncontrol: ") && BuiltInConfiguration.yaml.contains("\n  adminGroup: packguard-admin "))
    }

    @Test func badValuesAreLocatedErrors() {
        let zero = issues(minimalYAML + "control:\n  maxClients: 0\n")
        #expect(zero.map(\.keyPath) == ["control.maxClients"])
        #expect(zero.first?.message == "0 is outside the sane range 1...1024 connections")
        let group = issues(minimalYAML + "control:\n  adminGroup: \"wheel; rm\"\n")
        #expect(group.map(\.keyPath) == ["control.adminGroup"])
        #expect(group.first?.message.hasPrefix("'wheel; rm' is not a group name") == true)
        let typo = issues(minimalYAML + "control:\n  adminGrup: x\n")
        #expect(typo.first?.message.contains("did you mean 'adminGroup'?") == true)
    }

    @Test func theEffectiveConfigurationRoundTrips() throws {
        var config = try ConfigurationLoader.parse(minimalYAML + "control:\n  adminGroup: ops\n  maxClients: 3\n", file: "a.yaml")
        let again = try ConfigurationLoader.parse(config.effectiveYAML, file: "effective.yaml")
        #expect(again.control == config.control)
        config.control = ControlSettings()
        #expect(config.effectiveYAML.contains("control:\n  adminGroup: packguard-admin\n  maxClients: 16\n"))
    }
}
