import ArgumentParser
import PackGuardCommandLine
import Glibc
import PackGuardADC
import PackGuardConfig
import PackGuardDaemon

struct AdcCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adc",
        abstract: "Read the ADS1115 as configured and show every step from code to value, per channel.",
        discussion: """
            For each configured input (adc.channels) and each sample: the raw conversion code, the volts at the \
            ADS1115 pin, the volts at the BMS pin (divider and calibration undone), the scaled value with its \
            unit, and the verdict the controller would act on: VALID, or INVALID with the reason (conversion \
            failed, input clipped, implausible value, stale). The verdict is the median of the last \
            adc.medianSamples samples, exactly as `packguard run` computes it. Samples are adc.samplePeriodMs apart.

            Use it to commission the wiring and to calibrate: compare "BMS pin" with a multimeter on the Orion \
            pin and set calibrationGain and calibrationOffsetVolts. It works with adc.enabled: false. Do not run \
            it while `packguard run` reads the same ADS1115.

            Without --config it reads \(defaultConfigurationPath), or the built-in default when that file does \
            not exist. --simulate reads a simulated ADS1115 (SOC 80 %, current limits 50 A) instead of the I2C bus.

            Exit status 0 when every conversion succeeded and every verdict was VALID; 1 otherwise, or when the \
            configuration is invalid or the bus cannot be opened (the message names bus and address).
            """
    )

    @Option(help: "The configuration file (default: \(defaultConfigurationPath), or the built-in default when it does not exist).")
    var config: String?

    @Option(help: "How many samples to take, adc.samplePeriodMs apart (1–1000).")
    var count = 1

    @Flag(help: "Read a simulated ADS1115 (SOC 80 %, current limits 50 A) instead of the I2C bus.")
    var simulate = false

    func validate() throws {
        guard (1...1000).contains(count) else { throw ValidationError("--count must be 1 to 1000, got \(count)") }
    }

    func run() throws {
        let configuration = try loadAdcConfiguration()
        let device = configuration.adc.ads1115
        let simulated = simulate ? AnalogInputs.simulatedDevice(for: device) : nil
        if !simulate, let missing = missingBusMessage(device.busPath) {
            printError(missing)
            throw ExitCode(1)
        }
        var sampler: AnalogSampler
        do {
            sampler = try AnalogInputs.open(device, simulated: simulated).sampler
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }

        print(AdcText.header(device, simulated: simulate))
        if !configuration.adc.enabled && !simulate {
            print("(adc.enabled is false in \(configuration.source): `packguard run` does not read the ADS1115)")
        }
        let clock = SystemADCClock()
        var allGood = true
        var firstFailure: ADS1115Error?
        for sample in 1...count {
            if sample > 1 { clock.sleep(nanoseconds: UInt64(device.samplePeriodMilliseconds) * 1_000_000) }
            let now = clock.now
            sampler.sample(now: now)
            print("sample \(sample) of \(count)")
            for detail in sampler.channelDetails {
                let verdict = sampler.reading(of: detail.configuration.signal, now: now)
                if case .failed(let error) = detail.result {
                    allGood = false
                    firstFailure = firstFailure ?? error
                }
                if case .invalid = verdict { allGood = false }
                print(AdcText.line(detail, verdict: verdict, medianWindow: device.medianWindow))
            }
        }
        if let firstFailure { printError("ADS1115 read failed: \(firstFailure)") }
        if !allGood { throw ExitCode(1) }
    }

    /// --config, else the default file, else the built-in default (said so).
    private func loadAdcConfiguration() throws -> PackGuardConfiguration {
        let path: String
        if let config {
            path = config
        } else if !simulate && fileExists(defaultConfigurationPath) {
            path = defaultConfigurationPath
        } else {
            if !simulate { print("(\(defaultConfigurationPath) does not exist: using the built-in default configuration)") }
            return BuiltInConfiguration.load()
        }
        do {
            return try loadConfiguration(path)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }

    /// A plain sentence when the bus device does not exist: no I2C on this machine, or another bus number.
    private func missingBusMessage(_ busPath: String) -> String? {
        guard !fileExists(busPath) else { return nil }
        let buses = i2cBusDevices()
        if buses.isEmpty {
            return "this machine has no I2C bus: \(busPath) does not exist and neither does any other /dev/i2c-*. "
                + "On a Raspberry Pi enable I2C with `dtparam=i2c_arm=on` in config.txt and reboot; "
                + "elsewhere use `packguard adc --simulate`."
        }
        return "\(busPath) does not exist; this machine has \(buses.joined(separator: ", ")): "
            + "set adc.bus to the bus the ADS1115 is on."
    }

    private func i2cBusDevices() -> [String] {
        guard let directory = opendir("/dev") else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix("i2c-") { names.append("/dev/" + name) }
        }
        return names.sorted()
    }
}

/// The lines `packguard adc` prints.
enum AdcText {
    static func header(_ device: ADS1115Configuration, simulated: Bool) -> String {
        let address = "0x" + String(device.address, radix: 16, uppercase: true)
        return "ADS1115 at \(address) on \(device.busPath)\(simulated ? " (simulated)" : ""): "
            + "PGA ±\(formatted(device.gain.fullScaleVolts, decimals: 3)) V, \(device.dataRate.samplesPerSecond) SPS, "
            + "VDD \(formatted(device.supplyVolts, decimals: 2)) V; median of \(device.medianWindow), "
            + "invalid after \(device.staleTimeoutMilliseconds) ms without a good sample"
    }

    static func line(_ detail: ADCChannelDetail, verdict: AnalogReading, medianWindow: Int) -> String {
        let channel = detail.configuration
        let name = "AIN\(channel.channel) \(channel.signal.rawValue) (\(channel.signal.source))".padding(32)
        let measured: String
        switch detail.result {
        case .measured(let m):
            measured = "code \(String(m.rawCode).leftPadding(6))  ADS1115 pin \(formatted(m.adsPinVolts, decimals: 4)) V  "
                + "BMS pin \(formatted(m.bmsPinVolts, decimals: 4)) V  \(formatted(m.value, decimals: 2).leftPadding(8)) \(channel.unit)"
        case .failed(let error):
            // The verdict would repeat the error: say it once.
            return "  \(name) INVALID: conversion failed: \(error)"
        case .notSampled:
            measured = "not sampled"
        }
        switch verdict {
        case .valid(let value, _, _):
            let median = medianWindow > 1 ? " (median \(formatted(value, decimals: 2)) \(channel.unit))" : ""
            return "  \(name) \(measured)  VALID\(median)"
        case .invalid(let reason):
            return "  \(name) \(measured)  INVALID: \(reason)"
        }
    }

}

extension String {
    func leftPadding(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
