import ArgumentParser
import PackGuardCommandLine
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO

struct LinesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lines",
        abstract: "List every GPIO chip and line, marking the lines the configuration uses.",
        discussion: """
            Like gpioinfo, focused on PackGuard's signals: each line's offset, name, direction, consumer and \
            whether it is in use; lines the configuration maps are marked with their signal. Exit status 1 \
            when this machine has no GPIO chips, a chip cannot be opened, or a configured line is missing.
            """
    )

    @Option(help: "The configuration whose lines to mark (the built-in default when the file does not exist).")
    var config: String = defaultConfigurationPath

    @Flag(help: "List the simulated chip that `run --simulate` uses instead of the real ones.")
    var simulate = false

    func run() throws {
        let configuration: PackGuardConfiguration
        if simulate || !fileExists(config) {
            configuration = BuiltInConfiguration.load()
            if !simulate { print("(\(config) does not exist: marking the built-in default configuration's lines)") }
        } else {
            do { configuration = try loadConfiguration(config) } catch {
                printError(error.description)
                throw ExitCode(1)
            }
        }
        let backend: any GPIOBackend = simulate ? SimulatedGPIO.raspberryPi() : LibgpiodBackend()
        do {
            let listing = try LineListing(configuration: configuration, backend: backend)
            print(listing.text, terminator: "")
            if !listing.missing.isEmpty {
                printError("configured lines not found: " + listing.missing.joined(separator: ", "))
                throw ExitCode(1)
            }
        } catch let error as GPIOError {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}
