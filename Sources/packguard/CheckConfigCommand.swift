import ArgumentParser
import PackGuardCommandLine
import PackGuardConfig

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and print the effective configuration, or every error.",
        discussion: """
            Exit status 0 when the file is valid (the effective configuration, every default filled in, \
            goes to standard output); 1 when it is not (every error, with file, line and key, goes to \
            standard error). An invalid configuration never starts the controller.
            Use --built-in to check the configuration that `run --simulate` uses, and --quiet for one \
            line instead of the effective configuration (the unit's ExecStartPre uses it, so the journal \
            does not get the whole file at every start).
            --update-reference FILE rewrites the generated tables of a configuration reference \
            (hardware/CONFIG.md) from the settings table, and changes nothing else in it.
            """
    )

    @Argument(help: "The configuration file.")
    var path: String = defaultConfigurationPath

    @Flag(help: "Check the built-in default configuration instead of a file.")
    var builtIn = false

    @Flag(help: "Print one line (the file is valid) instead of the effective configuration; errors are printed as always.")
    var quiet = false

    @Option(name: .customLong("update-reference"), help: ArgumentHelp(
        "Rewrite the generated settings tables in this Markdown file (hardware/CONFIG.md) and exit.",
        valueName: "file"))
    var referencePath: String?

    func run() throws {
        if let referencePath {
            do {
                let text = try TextFile.read(referencePath)
                let updated = SettingsReference.updating(text)
                if updated != text { try TextFile.write(updated, to: referencePath) }
                print(updated == text ? "\(referencePath): up to date" : "\(referencePath): tables rewritten")
            } catch {
                printError("\(referencePath): \(error)")
                throw ExitCode(1)
            }
            return
        }
        do {
            let configuration = builtIn ? BuiltInConfiguration.load() : try loadConfiguration(path)
            if quiet {
                print("\(configuration.source): valid")
            } else {
                print(configuration.effectiveYAML, terminator: "")
            }
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
