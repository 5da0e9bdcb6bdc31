import Testing
@testable import PackGuardConfig

@Suite("realtime: scheduling, priority, lockMemory")
struct RealtimeSettingsTests {
    @Test func defaultsWhenTheSectionIsMissing() throws {
        let config = try ConfigurationLoader.parse(minimalYAML, file: "test.yaml")
        #expect(config.realtime == RealtimeSettings())
        #expect(config.realtime.scheduling == .fifo && config.realtime.priority == 10 && config.realtime.lockMemory)
    }

    @Test func everyKeyIsRead() throws {
        let config = try ConfigurationLoader.parse(minimalYAML + "realtime:\n  scheduling: other\n  priority: 30\n  lockMemory: false\n",
                                                   file: "test.yaml")
        #expect(config.realtime.scheduling == .other)
        #expect(config.realtime.priority == 30)
        #expect(!config.realtime.lockMemory)
    }

    @Test func theShippedFileSpellsOutTheDefaults() {
        #expect(BuiltInConfiguration.load().realtime == RealtimeSettings())
        #expect(BuiltInConfiguration.yaml.contains("\nrealtime: ") && BuiltInConfiguration.yaml.contains("\n  priority: 10 "))
    }

    @Test func badValuesAreLocatedErrors() {
        let policy = issues(minimalYAML + "realtime:\n  scheduling: rr\n")
        #expect(policy.map(\.keyPath) == ["realtime.scheduling"])
        #expect(policy.first?.message == "expected one of fifo, other, got 'rr'")
        #expect(policy.first?.line == minimalYAML.filter { $0 == "\n" }.count + 2)
        let priority = issues(minimalYAML + "realtime:\n  priority: 99\n")
        #expect(priority.map(\.keyPath) == ["realtime.priority"])
        #expect(priority.first?.message == "99 is outside the sane range 1...47 SCHED_FIFO priority")
        let typo = issues(minimalYAML + "realtime:\n  lockMemroy: true\n")
        #expect(typo.first?.message.contains("did you mean 'lockMemory'?") == true)
        #expect(!issues(minimalYAML + "realtime:\n  lockMemory: maybe\n").isEmpty)
    }

    @Test func theEffectiveConfigurationRoundTripsAndAChangeNeedsARestart() throws {
        let config = try ConfigurationLoader.parse(minimalYAML + "realtime:\n  scheduling: other\n  priority: 5\n", file: "a.yaml")
        let again = try ConfigurationLoader.parse(config.effectiveYAML, file: "effective.yaml")
        #expect(again.realtime == config.realtime)
        let changes = try ConfigurationLoader.parse(minimalYAML, file: "b.yaml").changes(to: config)
        #expect(changes.map(\.key).sorted() == ["realtime.priority", "realtime.scheduling"])
        #expect(changes.allSatisfy { $0.needsRestart })
    }
}
