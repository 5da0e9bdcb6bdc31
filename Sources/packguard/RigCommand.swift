import ArgumentParser
import PackGuardCommandLine
import Glibc
import PackGuardADC
import PackGuardGPIO

/// `packguard rig …`: helpers the real-kernel rig (rig/run.sh) runs inside its qemu guest, on
/// gpio-sim lines and the i2c-stub ADS1115. Hidden from --help: they drive gpio-sim's sysfs and
/// write ADC registers, which only makes sense on the rig.
struct RigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rig",
        abstract: "Helpers for the real-kernel test rig (gpio-sim, i2c-stub); see README.md, Real-kernel tests.",
        shouldDisplay: false,
        subcommands: [RigGPIOContractCommand.self, RigReactCommand.self, RigSetSOCCommand.self, RigGPIOVersionsCommand.self,
                      RigGPIOVanishCommand.self, RigHoldCommand.self, RigSetLinesCommand.self]
    )
}

/// Runs the GPIO contract suite against libgpiod on gpio-sim lines.
struct RigGPIOContractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpio-contract",
        abstract: "Run the GPIO contract suite with the libgpiod backend on gpio-sim lines.")

    @Option(help: "Four free gpio-sim lines, by name, comma-separated.")
    var lines: String = "GPIO5,GPIO6,GPIO19,GPIO26"

    func run() throws {
        let names = lines.split(separator: ",").map { String($0) }
        guard names.count >= 4 else { throw ValidationError("--lines needs four line names") }
        let backend = LibgpiodBackend()
        let world: GPIOSimWorld
        do { world = try GPIOSimWorld(lines: names, backend: backend) } catch {
            printError("gpio-sim lines: \(error)")
            throw ExitCode(1)
        }
        print("backend: \(backend.description)")
        let results = GPIOContract(backend: backend, world: world, lines: names).run()
        for result in results {
            print(result.failure.map { "FAIL \(result.name): \($0)" } ?? "PASS \(result.name)")
        }
        let failed = results.filter { $0.failure != nil }.count
        print("\(results.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}

/// Drives one gpio-sim line and measures how long until another reads a level.
struct RigReactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "react",
        abstract: "Drive a gpio-sim line (pull-up/pull-down) and time until another line reads a level.",
        discussion: "Prints `reaction_ms=N.NN`; exit 1 when the level is not reached within the timeout.")

    @Option(help: "LINE=high|low: what the outside drives (gpio-sim pull).")
    var drive: String

    @Option(help: "LINE=0|1: the physical level to wait for (gpio-sim value).")
    var expect: String

    @Option(help: "Give up after this many milliseconds.")
    var timeoutMs: Int = 3000

    func run() throws {
        let (driveLine, driveLevel) = try Self.split(drive, "--drive")
        let (watchLine, watchLevel) = try Self.split(expect, "--expect")
        guard let level = ["high": WorldDrive.high, "low": .low][driveLevel] else {
            throw ValidationError("--drive LINE=high|low")
        }
        guard watchLevel == "0" || watchLevel == "1" else { throw ValidationError("--expect LINE=0|1") }
        let world = try GPIOSimWorld(lines: [driveLine, watchLine])
        let start = monotonicNow()
        try world.drive(driveLine, level)
        while true {
            if try world.physicalLevel(watchLine) == (watchLevel == "1") {
                let elapsed = Double(monotonicNow() - start) / 1e6
                print("reaction_ms=\((elapsed * 100).rounded() / 100)")
                return
            }
            if monotonicNow() - start > UInt64(timeoutMs) * 1_000_000 {
                printError("\(watchLine) did not read \(watchLevel) within \(timeoutMs) ms of driving \(driveLine) \(driveLevel)")
                throw ExitCode(1)
            }
            usleep(200)
        }
    }

    static func split(_ text: String, _ option: String) throws -> (String, String) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw ValidationError("\(option) takes LINE=VALUE, got '\(text)'") }
        return (parts[0], parts[1])
    }

    private func monotonicNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// Preloads an i2c-stub's ADS1115 conversion register so that the default SOC channel reads a value.
///
/// i2c-stub keeps each register as last written and never changes the config register's OS bit by
/// itself. The driver writes the config word with OS = 1 (start a conversion) and then polls for
/// OS = 1 (conversion done): the stub echoes the written word, so every conversion completes at its
/// first poll and returns whatever this command last put into the conversion register. Every
/// channel (SOC, charge and discharge limit) therefore reads the same code.
struct RigSetSOCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-soc",
        abstract: "Write the ADS1115 conversion register of an i2c-stub so an input reads a value (SOC by default).",
        discussion: "With --signal busVoltage the value is the bus voltage in volts through the 60 V divider of AIN3.")

    @Argument(help: "The value the input reads: percent for the default SOC channel (AIN0, 0–5 V = 0–100 %), volts for busVoltage.")
    var percent: Double

    @Option(help: "The signal whose scale and divider the value goes through: soc (default) or busVoltage.")
    var signal: String = "soc"

    @Option(help: "The i2c-stub bus.")
    var bus: String = "/dev/i2c-0"

    @Option(help: "The ADS1115 address the stub answers at.")
    var address: String = "0x48"

    func run() throws {
        guard let address = UInt8(address.hasPrefix("0x") ? String(address.dropFirst(2)) : address, radix: 16) else {
            throw ValidationError("--address: hexadecimal, e.g. 0x48")
        }
        guard let analog = AnalogSignal(rawValue: signal) else {
            throw ValidationError("--signal: one of \(AnalogSignal.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let configuration = ADS1115Configuration(busPath: bus, address: address)
        let channel = ADS1115Configuration.template(for: analog)
        let code = configuration.gain.code(forVolts: channel.adsPinVolts(forValue: percent))
        do {
            let device = try LinuxI2CBus(path: bus, address: address)
            try device.smbusWriteWord(
                register: ADS1115Register.conversion.rawValue,
                word: ADS1115ByteOrder.smbusWord(fromRegisterValue: UInt16(bitPattern: code)))
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        print("conversion register = \(code) (\(analog.rawValue) \(percent) \(channel.unit))")
    }
}
