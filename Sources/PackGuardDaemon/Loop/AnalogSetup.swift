import PackGuardADC

/// Why the ADS1115 could not be set up: the bus would not open, or the configuration does not validate.
public enum AnalogSetupError: Error, CustomStringConvertible {
    case bus(I2CError)
    case configuration(ADCConfigurationError)

    public var description: String {
        switch self {
        case .bus(let error): error.description
        case .configuration(let error): error.description
        }
    }
}

extension AnalogInputs {
    /// What a simulated BMS drives: SOC 80 %, charge and discharge limits 50 A; a 51.2 V pack
    /// with its bus already charged.
    public static let simulatedValues: [AnalogSignal: Double] = [.soc: 80, .chargeLimit: 50, .dischargeLimit: 50,
                                                                 .busVoltage: 51.2, .packVoltage: 51.2]

    /// A simulated ADS1115 at the configured address whose inputs carry `simulatedValues` through each
    /// channel's scale, calibration and divider, so that a correct chain reads them back. Its conversions
    /// are done by the first status read, so a loaded machine's late wake-ups never time them out (to show
    /// `.stuckBusy`, set `setBusyReadsPerConversion(1)` first).
    public static func simulatedDevice(for configuration: ADS1115Configuration) -> SimulatedADS1115 {
        let device = SimulatedADS1115(address: configuration.address, busyReadsPerConversion: 0)
        for channel in configuration.channels where (0...3).contains(channel.channel) {
            let value = simulatedValues[channel.signal] ?? 0
            device.setInputVolts(channel.adsPinVolts(forValue: value), channel: channel.channel)
        }
        return device
    }

    /// Opens the configured bus (a simulated one carrying `simulated` when given) and builds the sampler
    /// from the whole configuration: bus, address, PGA, data rate, channels, median and staleness.
    public static func open(_ configuration: ADS1115Configuration, simulated: SimulatedADS1115? = nil,
                            clock: any ADCClock = SystemADCClock()) throws(AnalogSetupError) -> AnalogInputs {
        let bus: any I2CBus
        if let simulated {
            bus = SimulatedI2CBus(path: configuration.busPath, address: configuration.address, devices: [simulated])
        } else {
            do {
                bus = try LinuxI2CBus(path: configuration.busPath, address: configuration.address)
            } catch {
                throw .bus(error)
            }
        }
        do {
            return AnalogInputs(sampler: try AnalogSampler(configuration: configuration, bus: bus, clock: clock))
        } catch {
            throw .configuration(error)
        }
    }
}
