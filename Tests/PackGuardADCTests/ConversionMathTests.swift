// Codes to volts and back, and the SMBus byte order.
import Testing
@testable import PackGuardADC

@Suite("conversion math and byte order")
struct ConversionMathTests {
    @Test("±4.096 V: zero, mid, full scale and negative codes")
    func codesToVolts() {
        let gain = ADS1115Gain.fullScale4_096V
        #expect(gain.voltsPerCode == 0.000125)
        #expect(gain.volts(forCode: 0) == 0)
        #expect(gain.volts(forCode: 16384) == 2.048)
        #expect(abs(gain.volts(forCode: 32767) - 4.095875) < 1e-12)
        #expect(gain.volts(forCode: -1) == -0.000125)
        #expect(gain.volts(forCode: -16384) == -2.048)
        #expect(gain.volts(forCode: -32768) == -4.096)
    }

    @Test(
        "volts per code for every PGA",
        arguments: zip(
            ADS1115Gain.allCases, [0.0001875, 0.000125, 0.0000625, 0.00003125, 0.000015625, 0.0000078125]))
    func lsbSizes(gain: ADS1115Gain, voltsPerCode: Double) {
        #expect(gain.voltsPerCode == voltsPerCode)
        #expect(gain.volts(forCode: .min) == -gain.fullScaleVolts)
    }

    @Test("an ideal conversion clips at both ends")
    func voltsToCodes() {
        let gain = ADS1115Gain.fullScale4_096V
        #expect(gain.code(forVolts: 0) == 0)
        #expect(gain.code(forVolts: 2.048) == 16384)
        #expect(gain.code(forVolts: 3.3) == 26400)
        #expect(gain.code(forVolts: 5) == 32767)
        #expect(gain.code(forVolts: -0.000125) == -1)
        #expect(gain.code(forVolts: 0.000062) == 0)
        #expect(gain.code(forVolts: 0.000063) == 1)
        #expect(gain.code(forVolts: -9) == -32768)
        #expect(gain.code(forVolts: .nan) == 0)
    }

    @Test("gain from full-scale volts")
    func gainFromVolts() {
        #expect(ADS1115Gain(fullScaleVolts: 4.096) == .fullScale4_096V)
        #expect(ADS1115Gain(fullScaleVolts: 6.144) == .fullScale6_144V)
        #expect(ADS1115Gain(fullScaleVolts: 5) == nil)
    }

    @Test("MSB-first registers become LSB-first SMBus words and back")
    func byteOrder() {
        #expect(ADS1115ByteOrder.smbusWord(fromRegisterValue: 0xC383) == 0x83C3)
        #expect(ADS1115ByteOrder.registerValue(fromSMBusWord: 0x3412) == 0x1234)
        #expect(Int16(bitPattern: ADS1115ByteOrder.registerValue(fromSMBusWord: 0xFEFF)) == -2)
        for value: UInt16 in [0, 1, 0x00FF, 0x8000, 0x7FFF, 0xFFFF] {
            #expect(ADS1115ByteOrder.registerValue(fromSMBusWord: ADS1115ByteOrder.smbusWord(fromRegisterValue: value)) == value)
        }
    }

    @Test("number formatting for messages")
    func formatting() {
        #expect(formatted(3.14159, decimals: 2) == "3.14")
        #expect(formatted(-2, decimals: 1) == "-2.0")
        #expect(formatted(0.6667, decimals: 4) == "0.6667")
        #expect(formatted(-0.0001, decimals: 2) == "0.00")
        #expect(formatted(102, decimals: 0) == "102")
        #expect(formatMilliseconds(17_625_000) == "17.6")
    }
}
