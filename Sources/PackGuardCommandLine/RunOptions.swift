/// What `packguard run` is told. `RunOptions.parse` reads the daemon's few options without
/// ArgumentParser, in `packguard` (which then becomes packguard-daemon with `arguments`) and in
/// packguard-daemon itself, which links no ArgumentParser: its parser and the FoundationEssentials
/// that comes with it would cost the controller's process megabytes of peak memory. Anything
/// `parse` does not take as it stands goes to ArgumentParser, which reads the same options the same
/// way and says what is wrong.
public struct RunOptions: Equatable, Sendable {
    public var config: String
    public var simulate: Bool
    public var controlSocket: String?
    public var stateDirectory: String?

    public init(config: String = defaultConfigurationPath, simulate: Bool = false, controlSocket: String? = nil,
                stateDirectory: String? = nil) {
        self.config = config
        self.simulate = simulate
        self.controlSocket = controlSocket
        self.stateDirectory = stateDirectory
    }

    /// The command line that `parse` reads back as these options (what packguard passes on to
    /// packguard-daemon).
    public var arguments: [String] {
        var result = ["--config", config]
        if simulate { result.append("--simulate") }
        if let controlSocket { result += ["--control-socket", controlSocket] }
        if let stateDirectory { result += ["--state-directory", stateDirectory] }
        return result
    }

    /// The options after `run`, or nil for anything but `--config PATH`, `--simulate`,
    /// `--control-socket PATH` and `--state-directory PATH` (also as `--option=PATH`), each at most
    /// once, each path non-empty and not starting with "-": `--help`, a typo, a repeat, a missing
    /// value and `--` are ArgumentParser's to answer.
    public static func parse(_ arguments: some Collection<String>) -> RunOptions? {
        var options = RunOptions()
        var seen: Set<String> = []
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            var name = argument
            var value: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            guard seen.insert(name).inserted else { return nil }
            if name == "--simulate" {
                guard value == nil else { return nil }
                options.simulate = true
                continue
            }
            guard ["--config", "--control-socket", "--state-directory"].contains(name) else { return nil }
            if value == nil { value = remaining.popFirst() }
            guard let path = value, !path.isEmpty, !path.hasPrefix("-") else { return nil }
            switch name {
            case "--config": options.config = path
            case "--control-socket": options.controlSocket = path
            default: options.stateDirectory = path
            }
        }
        return options
    }
}
