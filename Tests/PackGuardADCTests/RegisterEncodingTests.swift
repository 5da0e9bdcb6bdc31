// Config register words against TI SBAS444 table 8 (config register field descriptions).
import Testing
@testable import PackGuardADC

/// Field values straight from the datasheet, independent of the enums' own `bits`.
private let datasheetMuxBits: [(ADS1115Mux, UInt16)] = [
    (.ain0MinusAin1, 0b000), (.ain0MinusAin3, 0b001), (.ain1MinusAin3, 0b010), (.ain2MinusAin3, 0b011),
    (.ain0, 0b100), (.ain1, 0b101), (.ain2, 0b110), (.ain3, 0b111),
]
private let datasheetGainBits: [(ADS1115Gain, UInt16)] = [
    (.fullScale6_144V, 0b000), (.fullScale4_096V, 0b001), (.fullScale2_048V, 0b010),
    (.fullScale1_024V, 0b011), (.fullScale0_512V, 0b100), (.fullScale0_256V, 0b101),
]
private let datasheetRateBits: [(ADS1115DataRate, UInt16)] = [
    (.sps8, 0b000), (.sps16, 0b001), (.sps32, 0b010), (.sps64, 0b011),
    (.sps128, 0b100), (.sps250, 0b101), (.sps475, 0b110), (.sps860, 0b111),
]

@Suite("ADS1115 config register encoding")
struct RegisterEncodingTests {
    @Test(
        "every MUX choice at ±4.096 V, 128 SPS",
        arguments: zip(
            [ADS1115Mux.ain0MinusAin1, .ain0MinusAin3, .ain1MinusAin3, .ain2MinusAin3, .ain0, .ain1, .ain2, .ain3],
            [UInt16(0x8383), 0x9383, 0xA383, 0xB383, 0xC383, 0xD383, 0xE383, 0xF383]))
    func muxWords(mux: ADS1115Mux, expected: UInt16) {
        let config = ADS1115Config(mux: mux, gain: .fullScale4_096V, dataRate: .sps128)
        #expect(config.startConversionWord == expected)
    }

    @Test(
        "every PGA choice on AIN0 at 128 SPS",
        arguments: zip(
            [ADS1115Gain.fullScale6_144V, .fullScale4_096V, .fullScale2_048V, .fullScale1_024V, .fullScale0_512V,
             .fullScale0_256V],
            [UInt16(0xC183), 0xC383, 0xC583, 0xC783, 0xC983, 0xCB83]))
    func gainWords(gain: ADS1115Gain, expected: UInt16) {
        let config = ADS1115Config(mux: .ain0, gain: gain, dataRate: .sps128)
        #expect(config.startConversionWord == expected)
    }

    @Test(
        "every data rate on AIN0 at ±4.096 V",
        arguments: zip(
            [ADS1115DataRate.sps8, .sps16, .sps32, .sps64, .sps128, .sps250, .sps475, .sps860],
            [UInt16(0xC303), 0xC323, 0xC343, 0xC363, 0xC383, 0xC3A3, 0xC3C3, 0xC3E3]))
    func rateWords(rate: ADS1115DataRate, expected: UInt16) {
        let config = ADS1115Config(mux: .ain0, gain: .fullScale4_096V, dataRate: rate)
        #expect(config.startConversionWord == expected)
    }

    @Test("all 384 MUX × PGA × DR combinations compose the datasheet fields")
    func everyCombination() {
        var count = 0
        for (mux, muxBits) in datasheetMuxBits {
            for (gain, gainBits) in datasheetGainBits {
                for (rate, rateBits) in datasheetRateBits {
                    // OS=1 | MUX | PGA | MODE=1 | DR | COMP_MODE=0 COMP_POL=0 COMP_LAT=0 | COMP_QUE=11
                    let expected: UInt16 = 0x8000 | muxBits << 12 | gainBits << 9 | 0x0100 | rateBits << 5 | 0b11
                    let config = ADS1115Config(mux: mux, gain: gain, dataRate: rate)
                    #expect(config.startConversionWord == expected, "\(mux) \(gain) \(rate)")
                    #expect(config.settingsWord == expected & 0x7FFF)
                    #expect(ADS1115Mux(bits: expected >> 12) == mux)
                    #expect(ADS1115Gain(bits: expected >> 9) == gain)
                    #expect(ADS1115DataRate(bits: expected >> 5) == rate)
                    count += 1
                }
            }
        }
        #expect(count == 384)
    }

    @Test("the power-on default 0x8583 decodes as AIN0-AIN1, ±2.048 V, 128 SPS")
    func powerOnDefault() {
        #expect(ADS1115Mux(bits: 0x8583 >> 12) == .ain0MinusAin1)
        #expect(ADS1115Gain(bits: 0x8583 >> 9) == .fullScale2_048V)
        #expect(ADS1115DataRate(bits: 0x8583 >> 5) == .sps128)
        #expect(ADS1115Config.isIdle(configWord: 0x8583))
        #expect(!ADS1115Config.isIdle(configWord: 0x0583))
    }

    @Test("PGA bits 110 and 111 also mean ±0.256 V")
    func reservedGainBits() {
        #expect(ADS1115Gain(bits: 0b110) == .fullScale0_256V)
        #expect(ADS1115Gain(bits: 0b111) == .fullScale0_256V)
    }

    @Test("the write tag sets only COMP_LAT, which is inert with the comparator disabled")
    func writeTag() {
        let tagged = ADS1115Config(mux: .ain0, gain: .fullScale4_096V, dataRate: .sps128, writeTag: true)
        #expect(tagged.startConversionWord == 0xC387)
    }

    @Test("register pointers")
    func registerPointers() {
        #expect(ADS1115Register.allCases.map(\.rawValue) == [0x00, 0x01, 0x02, 0x03])
    }

    @Test("single-ended channels map to AINx against GND")
    func singleEnded() {
        #expect((0...3).map { ADS1115Mux.singleEnded(channel: $0) } == [.ain0, .ain1, .ain2, .ain3])
        #expect(ADS1115Mux.singleEnded(channel: 4) == nil)
        #expect(ADS1115Mux.singleEnded(channel: -1) == nil)
        #expect(ADS1115Mux.ain2.name == "AIN2")
        #expect(ADS1115Mux.ain1MinusAin3.name == "AIN1-AIN3")
    }

    @Test("conversion time and OS timeout derive from the data rate")
    func timing() {
        #expect(ADS1115DataRate.sps128.conversionNanoseconds == 7_812_500)
        #expect(ADS1115DataRate.sps128.conversionTimeoutNanoseconds == 17_625_000)
        #expect(ADS1115DataRate.sps8.conversionTimeoutNanoseconds == 252_000_000)
        #expect(ADS1115DataRate.sps860.conversionNanoseconds == 1_162_791)
        for rate in ADS1115DataRate.allCases {
            #expect(rate.conversionTimeoutNanoseconds > 2 * rate.conversionNanoseconds)
        }
    }
}
