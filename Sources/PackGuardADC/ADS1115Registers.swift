// ADS1115 register encoding and conversion math (TI datasheet SBAS444, section 8.6). Pure: no I/O.

/// The four registers behind the address pointer.
public enum ADS1115Register: UInt8, Sendable, CaseIterable {
    case conversion = 0x00
    case config = 0x01
    case lowThreshold = 0x02
    case highThreshold = 0x03
}

/// Config register bits 14:12: which inputs the ADC converts.
public enum ADS1115Mux: Sendable, Equatable, CaseIterable {
    case ain0MinusAin1, ain0MinusAin3, ain1MinusAin3, ain2MinusAin3
    case ain0, ain1, ain2, ain3

    /// The single-ended input AIN`channel` against GND; nil outside 0...3.
    public static func singleEnded(channel: Int) -> ADS1115Mux? {
        switch channel {
        case 0: .ain0
        case 1: .ain1
        case 2: .ain2
        case 3: .ain3
        default: nil
        }
    }

    public var bits: UInt16 {
        switch self {
        case .ain0MinusAin1: 0b000
        case .ain0MinusAin3: 0b001
        case .ain1MinusAin3: 0b010
        case .ain2MinusAin3: 0b011
        case .ain0: 0b100
        case .ain1: 0b101
        case .ain2: 0b110
        case .ain3: 0b111
        }
    }

    public init(bits: UInt16) {
        self = Self.allCases.first { $0.bits == bits & 0b111 } ?? .ain0MinusAin1
    }

    /// The (positive, negative) input channels; negative nil means GND.
    public var inputs: (positive: Int, negative: Int?) {
        switch self {
        case .ain0MinusAin1: (0, 1)
        case .ain0MinusAin3: (0, 3)
        case .ain1MinusAin3: (1, 3)
        case .ain2MinusAin3: (2, 3)
        case .ain0: (0, nil)
        case .ain1: (1, nil)
        case .ain2: (2, nil)
        case .ain3: (3, nil)
        }
    }

    public var name: String {
        let (positive, negative) = inputs
        return negative.map { "AIN\(positive)-AIN\($0)" } ?? "AIN\(positive)"
    }
}

/// Config register bits 11:9: the programmable gain amplifier, named by its full-scale range.
public enum ADS1115Gain: Sendable, Equatable, CaseIterable {
    case fullScale6_144V, fullScale4_096V, fullScale2_048V, fullScale1_024V, fullScale0_512V, fullScale0_256V

    /// ± full-scale range in volts. The inputs still must stay within GND - 0.3 V ... VDD + 0.3 V.
    public var fullScaleVolts: Double {
        switch self {
        case .fullScale6_144V: 6.144
        case .fullScale4_096V: 4.096
        case .fullScale2_048V: 2.048
        case .fullScale1_024V: 1.024
        case .fullScale0_512V: 0.512
        case .fullScale0_256V: 0.256
        }
    }

    public var bits: UInt16 {
        switch self {
        case .fullScale6_144V: 0b000
        case .fullScale4_096V: 0b001
        case .fullScale2_048V: 0b010
        case .fullScale1_024V: 0b011
        case .fullScale0_512V: 0b100
        case .fullScale0_256V: 0b101
        }
    }

    /// Decodes PGA bits; 110 and 111 also mean ±0.256 V.
    public init(bits: UInt16) {
        self = Self.allCases.first { $0.bits == bits & 0b111 } ?? .fullScale0_256V
    }

    /// The gain whose full-scale range is `volts` (4.096 → ±4.096 V), for configuration files.
    public init?(fullScaleVolts volts: Double) {
        guard let match = Self.allCases.first(where: { $0.fullScaleVolts == volts }) else { return nil }
        self = match
    }

    /// Volts per code: full scale / 2^15.
    public var voltsPerCode: Double { fullScaleVolts / 32768 }

    /// Input volts for a conversion code (two's complement, so negative codes are negative volts).
    public func volts(forCode code: Int16) -> Double { Double(code) * voltsPerCode }

    /// The code an ideal ADS1115 produces for `volts` (nearest), clipped to -32768...32767 as the chip does.
    public func code(forVolts volts: Double) -> Int16 {
        let exact = (volts / voltsPerCode).rounded()
        if exact.isNaN { return 0 }
        return Int16(min(max(exact, Double(Int16.min)), Double(Int16.max)))
    }
}

/// Config register bits 7:5: samples per second.
public enum ADS1115DataRate: Int, Sendable, Equatable, CaseIterable {
    case sps8 = 8, sps16 = 16, sps32 = 32, sps64 = 64, sps128 = 128, sps250 = 250, sps475 = 475, sps860 = 860

    public var samplesPerSecond: Int { rawValue }

    public var bits: UInt16 {
        switch self {
        case .sps8: 0b000
        case .sps16: 0b001
        case .sps32: 0b010
        case .sps64: 0b011
        case .sps128: 0b100
        case .sps250: 0b101
        case .sps475: 0b110
        case .sps860: 0b111
        }
    }

    public init(bits: UInt16) {
        self = Self.allCases.first { $0.bits == bits & 0b111 } ?? .sps128
    }

    /// Nominal single-shot conversion time, 1 / rate, rounded up to whole nanoseconds.
    public var conversionNanoseconds: UInt64 {
        let second: UInt64 = 1_000_000_000
        let rate = UInt64(rawValue)
        return (second + rate - 1) / rate
    }

    /// How long the driver waits for OS to read 1 before giving up: twice the nominal conversion time
    /// (the oscillator may run 10 % slow) plus 2 ms for wake-up and scheduling.
    public var conversionTimeoutNanoseconds: UInt64 { 2 * conversionNanoseconds + 2_000_000 }
}

/// The config register (pointer 0x01) as PackGuard writes it: single-shot, comparator disabled.
///
/// Bit 15 OS (write 1: start a conversion; read 0: converting, 1: idle), 14:12 MUX, 11:9 PGA,
/// 8 MODE (1 = single-shot), 7:5 DR, 4 COMP_MODE = 0, 3 COMP_POL = 0, 2 COMP_LAT, 1:0 COMP_QUE = 11 (disabled).
public struct ADS1115Config: Sendable, Equatable {
    public var mux: ADS1115Mux
    public var gain: ADS1115Gain
    public var dataRate: ADS1115DataRate
    /// COMP_LAT, which does nothing while COMP_QUE = 11. The driver flips it on every conversion so a
    /// device that stops accepting writes shows a stale config on read-back (see `ADS1115`).
    public var writeTag: Bool

    public init(mux: ADS1115Mux, gain: ADS1115Gain, dataRate: ADS1115DataRate, writeTag: Bool = false) {
        self.mux = mux
        self.gain = gain
        self.dataRate = dataRate
        self.writeTag = writeTag
    }

    public static let operationalStatusBit: UInt16 = 1 << 15
    public static let singleShotModeBit: UInt16 = 1 << 8
    public static let comparatorLatchBit: UInt16 = 1 << 2
    public static let comparatorDisabledBits: UInt16 = 0b11

    /// The word that starts one single-shot conversion (OS = 1).
    public var startConversionWord: UInt16 {
        Self.operationalStatusBit | settingsWord
    }

    /// Bits 14:0, which a read-back of the config register must reproduce.
    public var settingsWord: UInt16 {
        mux.bits << 12 | gain.bits << 9 | Self.singleShotModeBit | dataRate.bits << 5
            | (writeTag ? Self.comparatorLatchBit : 0) | Self.comparatorDisabledBits
    }

    /// True when a config register read says no conversion is in progress (OS = 1).
    public static func isIdle(configWord: UInt16) -> Bool {
        configWord & operationalStatusBit != 0
    }
}

/// ADS1115 registers are sent MSB first; an SMBus word puts the first byte on the wire in its low byte.
public enum ADS1115ByteOrder {
    public static func registerValue(fromSMBusWord word: UInt16) -> UInt16 { word.byteSwapped }
    public static func smbusWord(fromRegisterValue value: UInt16) -> UInt16 { value.byteSwapped }
}
