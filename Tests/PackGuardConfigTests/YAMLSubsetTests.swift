import Testing
@testable import PackGuardConfig

/// The file is read by PackGuardYAML's strict subset: what it rejects reaches the user located, and a value
/// that YAML 1.1 and 1.2 would read differently is an error saying what to write.
@Suite("The configuration's YAML subset")
struct YAMLSubsetTests {
    private func only(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigurationIssue? {
        let found = issues(yaml)
        #expect(found.count == 1, "\(found)", sourceLocation: sourceLocation)
        return found.first
    }

    /// (text after `minimalYAML`, key path, line, column, the whole message)
    static let cases: [(String, String, Int, Int, String)] = [
        ("timing:\n  qualifyMs: 010\n", "timing.qualifyMs", 8, 14,
         "expected a whole number of milliseconds, got '010'; a leading zero makes a number octal in YAML 1.1 (010 is 8) and not in YAML 1.2 (010 is 10): write it without the leading zero"),
        ("timing:\n  qualifyMs: 1:30\n", "timing.qualifyMs", 8, 14,
         "expected a whole number of milliseconds, got '1:30'; YAML 1.1 reads this as a base-60 number and YAML 1.2 as text: write the value in decimal"),
        ("timing:\n  qualifyMs: 0o764\n", "timing.qualifyMs", 8, 14,
         "expected a whole number of milliseconds, got '0o764'; YAML 1.1 and 1.2 read 0o and 0b numbers differently: write the value in decimal or as 0x hexadecimal"),
        ("timing:\n  qualifyMs: \"500\"\n", "timing.qualifyMs", 8, 14,
         "expected a whole number of milliseconds, got '500'; a quoted value is text, not a number: remove the quotes"),
        ("adc:\n  supplyVolts: 3_3\n", "adc.supplyVolts", 8, 16,
         "expected a number, got '3_3'; YAML 1.1 ignores '_' in a number and YAML 1.2 does not: write the number without '_'"),
        ("adc:\n  supplyVolts: .inf\n", "adc.supplyVolts", 8, 16, "expected a number, got '.inf'; not a finite number"),
        ("soc:\n  enabled: yes\n", "soc.enabled", 8, 12,
         "expected true or false, got 'yes'; YAML 1.1 reads 'yes' as a boolean and YAML 1.2 as text: write true or false"),
        ("soc:\n  enabled: True\n", "soc.enabled", 8, 12,
         "expected true or false, got 'True'; YAML 1.1 reads 'True' as a boolean and YAML 1.2 as text: write true or false"),
        ("control:\n  adminGroup: ~\n", "control.adminGroup", 8, 15,
         "expected text, got '~', which YAML reads as no value: quote it if it is the text"),
        ("configVersion: 01\n", "configVersion", 7, 16,
         "this PackGuard reads configVersion 1, got '01'; a leading zero makes a number octal in YAML 1.1 (010 is 8) and not in YAML 1.2 (010 is 10): write it without the leading zero"),
    ]

    @Test(arguments: cases)
    func aValueYAMLVersionsReadDifferentlyIsALocatedErrorSayingWhatToWrite(_ body: String, keyPath: String, line: Int, column: Int, message: String) throws {
        let issue = try #require(only(minimalYAML + body))
        #expect(issue.keyPath == keyPath)
        #expect(issue.line == line && issue.column == column, "\(issue)")
        #expect(issue.message == message)
    }

    @Test func aCANIdentifierWithALeadingZeroIsRefused() throws {
        let issue = try #require(only(minimalYAML + "can:\n  preset: custom\n  messages:\n    - { id: 01712, fields: [{ quantity: soc }] }\n"))
        #expect(issue.keyPath == "can.messages[0].id")
        #expect(issue.message.hasPrefix("expected a CAN identifier such as 0x6B0, got '01712'; a leading zero"))
        // Hexadecimal, decimal and the quoted form keep their meaning.
        for id in ["0x6B0", "1712", "\"0x6B0\"", "0X6B0"] {
            let config = try ConfigurationLoader.parse(minimalYAML + "can:\n  preset: custom\n  messages:\n    - { id: \(id), fields: [{ quantity: soc }] }\n", file: "t.yaml")
            #expect(config.can.messages.first?.id.value == 0x6B0, "\(id)")
        }
    }

    /// (text after `minimalYAML`, line, column, the whole message): the reader's own errors, as the loader reports them.
    static let rejected: [(String, Int, Int, String)] = [
        ("timing:\n  qualifyMs: 500\n  qualifyMs: 600\n", 9, 3, "not valid YAML: key 'qualifyMs' given more than once (first on line 8)"),
        ("timing: &t\n  qualifyMs: 500\n", 7, 9, "not valid YAML: anchors ('&name') are not supported: write the value itself"),
        ("timing:\n\tqualifyMs: 500\n", 8, 1, "not valid YAML: a tab in the indentation: indent with spaces only"),
        ("paths:\n  stateDirectory: |\n    /var/lib/x\n", 8, 19,
         "not valid YAML: block scalars ('|' and '>') are not supported: write the text on one line, quoted if needed"),
        ("paths:\n  stateDirectory: /var/lib/\n    packguard\n", 9, 5,
         "not valid YAML: unexpected indentation: a value cannot continue on the next line (multi-line scalars are not supported)"),
        ("---\ntiming: {}\n", 7, 1, "not valid YAML: a second document ('---'): a configuration is one document"),
    ]

    @Test(arguments: rejected)
    func whatTheSubsetRejectsIsOneLocatedError(_ body: String, line: Int, column: Int, message: String) throws {
        let issue = try #require(only(minimalYAML + body))
        #expect(issue.keyPath == "")
        #expect(issue.line == line && issue.column == column, "\(issue)")
        #expect(issue.message == message)
        #expect(issue.description == "test.yaml:\(line):\(column): \(message)")
    }

    @Test func theShippedHexadecimalAddressIsRead() {
        #expect(BuiltInConfiguration.load().adc.ads1115.address == 0x48)
        #expect(throws: Never.self) { try ConfigurationLoader.parse(minimalYAML + "adc:\n  address: 0x4A\n", file: "t.yaml") }
    }
}
