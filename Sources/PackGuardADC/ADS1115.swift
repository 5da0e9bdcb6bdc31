// ADS1115 driver: single-shot conversions over any I2CBus, waiting on an injected clock.

/// Why a conversion produced no code.
public enum ADS1115Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// The I2C transfer itself failed.
    case transfer(I2CError)
    /// OS never read 1 (conversion finished) before the deadline derived from the data rate.
    case conversionTimeout(busPath: String, address: UInt8, mux: ADS1115Mux, waitedNanoseconds: UInt64)
    /// The config register read back something other than what was just written: the device ignored
    /// the write (stopped, frozen) or is not an ADS1115.
    case configNotAccepted(busPath: String, address: UInt8, wrote: UInt16, readBack: UInt16)

    public var description: String {
        switch self {
        case .transfer(let error):
            return error.description
        case let .conversionTimeout(busPath, address, mux, waited):
            return "ADS1115 at \(hex(address)) on \(busPath): conversion of \(mux.name) not finished after "
                + "\(formatMilliseconds(waited)) ms (OS bit of register \(hex(ADS1115Register.config.rawValue)) stayed 0)"
        case let .configNotAccepted(busPath, address, wrote, readBack):
            return "ADS1115 at \(hex(address)) on \(busPath): register \(hex(ADS1115Register.config.rawValue)) "
                + "read back \(hex(readBack)) after writing \(hex(wrote)): the device ignores writes "
                + "(frozen) or is not an ADS1115"
        }
    }
}

/// One ADS1115 on one bus. Every conversion is single-shot: write the config register with OS = 1,
/// wait for OS to read 1 (bounded by the data rate's timeout, never forever), read the conversion register.
/// Every config read must echo the settings just written (bits 14:0), so a device that stopped taking
/// writes cannot pass off its old conversion as new.
public struct ADS1115: Sendable {
    public let bus: any I2CBus
    public let gain: ADS1115Gain
    public let dataRate: ADS1115DataRate
    private let clock: any ADCClock
    /// Flipped on every conversion; see `ADS1115Config.writeTag`.
    private var nextWriteTag = false

    public init(bus: any I2CBus, gain: ADS1115Gain, dataRate: ADS1115DataRate, clock: any ADCClock) {
        self.bus = bus
        self.gain = gain
        self.dataRate = dataRate
        self.clock = clock
    }

    /// Time between OS polls once the nominal conversion time has passed.
    public var pollIntervalNanoseconds: UInt64 { max(dataRate.conversionNanoseconds / 8, 100_000) }

    /// The most config reads one conversion may take; bounds the wait even if the clock stands still.
    public var maximumPolls: Int {
        let afterFirstPoll = dataRate.conversionTimeoutNanoseconds - dataRate.conversionNanoseconds
        return Int(afterFirstPoll / pollIntervalNanoseconds) + 2
    }

    /// Runs one single-shot conversion of `mux` and returns the signed code.
    public mutating func convert(_ mux: ADS1115Mux) throws(ADS1115Error) -> Int16 {
        let config = ADS1115Config(mux: mux, gain: gain, dataRate: dataRate, writeTag: nextWriteTag)
        nextWriteTag.toggle()
        let start = clock.now
        try writeRegister(.config, value: config.startConversionWord)
        clock.sleep(nanoseconds: dataRate.conversionNanoseconds)
        var polls = 0
        while true {
            let configWord = try readRegister(.config)
            polls += 1
            guard configWord & ~ADS1115Config.operationalStatusBit == config.settingsWord else {
                throw .configNotAccepted(
                    busPath: bus.path, address: bus.address, wrote: config.startConversionWord, readBack: configWord)
            }
            if ADS1115Config.isIdle(configWord: configWord) { break }
            let waited = clock.now &- start
            guard waited < dataRate.conversionTimeoutNanoseconds, polls < maximumPolls else {
                throw .conversionTimeout(busPath: bus.path, address: bus.address, mux: mux, waitedNanoseconds: waited)
            }
            clock.sleep(nanoseconds: pollIntervalNanoseconds)
        }
        return Int16(bitPattern: try readRegister(.conversion))
    }

    /// Reads a register and returns its value in the device's order (bit 15 = first bit on the wire).
    public func readRegister(_ register: ADS1115Register) throws(ADS1115Error) -> UInt16 {
        do {
            return ADS1115ByteOrder.registerValue(fromSMBusWord: try bus.smbusReadWord(register: register.rawValue))
        } catch {
            throw .transfer(error)
        }
    }

    /// Writes a register value given in the device's order.
    public func writeRegister(_ register: ADS1115Register, value: UInt16) throws(ADS1115Error) {
        do {
            try bus.smbusWriteWord(register: register.rawValue, word: ADS1115ByteOrder.smbusWord(fromRegisterValue: value))
        } catch {
            throw .transfer(error)
        }
    }
}
