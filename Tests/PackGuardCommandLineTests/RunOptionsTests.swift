import PackGuardCommandLine
import Testing

/// `packguard run`'s options read without ArgumentParser: exactly the forms it takes as they stand,
/// and nil (ArgumentParser's turn, with its own error message) for everything else.
@Suite("packguard run's options")
struct RunOptionsTests {
    @Test(arguments: [
        ([], RunOptions()),
        (["--simulate"], RunOptions(simulate: true)),
        (["--config", "/etc/p.yaml"], RunOptions(config: "/etc/p.yaml")),
        (["--config=/etc/p.yaml"], RunOptions(config: "/etc/p.yaml")),
        (["--config", "a=b.yaml"], RunOptions(config: "a=b.yaml")),
        (["--config=a=b.yaml"], RunOptions(config: "a=b.yaml")),
        (["--simulate", "--control-socket", "/tmp/s.sock", "--state-directory=/tmp/state"],
         RunOptions(simulate: true, controlSocket: "/tmp/s.sock", stateDirectory: "/tmp/state")),
        (["--state-directory", "st", "--config", "c.yaml", "--control-socket=so"],
         RunOptions(config: "c.yaml", controlSocket: "so", stateDirectory: "st")),
    ] as [([String], RunOptions)])
    func theDaemonsUsualFormsAreRead(arguments: [String], expected: RunOptions) {
        #expect(RunOptions.parse(arguments) == expected)
    }

    @Test(arguments: [
        ["--help"], ["-h"], ["help"], ["--simulate", "--help"],
        ["--bogus"], ["--confg", "x"], ["extra"], ["--config", "a", "extra"],
        ["--config"], ["--config="], ["--config", ""], ["--config", "--simulate"], ["--config", "-x"],
        ["--config", "a", "--config", "b"], ["--simulate", "--simulate"], ["--simulate=true"],
        ["--control-socket"], ["--state-directory"], ["--"], ["--", "--simulate"], ["-s"],
    ])
    func everythingElseIsLeftToArgumentParser(arguments: [String]) {
        #expect(RunOptions.parse(arguments) == nil, "\(arguments)")
    }

    @Test func theDefaultConfigurationIsTheInstalledOne() {
        #expect(RunOptions.parse([String]())?.config == "/etc/packguard/packguard.yaml")
    }

    /// What packguard passes on to packguard-daemon is read back as the same options there.
    @Test(arguments: [
        RunOptions(), RunOptions(simulate: true), RunOptions(config: "a=b.yaml"),
        RunOptions(config: "/etc/p.yaml", simulate: true, controlSocket: "/tmp/s.sock", stateDirectory: "/tmp/state"),
        RunOptions(config: "c.yaml", controlSocket: "so"), RunOptions(config: "c.yaml", stateDirectory: "st"),
    ])
    func theArgumentsPassedOnReadBackTheSame(options: RunOptions) {
        #expect(RunOptions.parse(options.arguments) == options)
        #expect(options.arguments.starts(with: ["--config", options.config]))
    }
}
