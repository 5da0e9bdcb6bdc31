// Divider, calibration, scaling and validation.
import Testing
@testable import PackGuardADC

private func isClose(_ a: Double, _ b: Double, within tolerance: Double = 1e-9) -> Bool { abs(a - b) <= tolerance }

@Suite("ADC configuration")
struct ConfigurationTests {
    @Test("the Orion Jr. 2 defaults are valid and as specified")
    func defaults() {
        let configuration = ADS1115Configuration()
        #expect(configuration.validate() == [])
        #expect(configuration.busPath == "/dev/i2c-1")
        #expect(configuration.address == 0x48)
        #expect(configuration.gain == .fullScale4_096V)
        #expect(configuration.dataRate == .sps860, "conversions block the control loop: the fastest rate keeps that short")
        #expect(configuration.samplePeriodMilliseconds == 1000)
        #expect(configuration.medianWindow == 3)
        #expect(configuration.staleTimeoutMilliseconds == 5000)
        #expect(configuration.channels.map(\.channel) == [0, 1, 2])
        #expect(configuration.channels.map(\.signal) == [.soc, .chargeLimit, .dischargeLimit])
        #expect(configuration.channel(for: .soc)?.plausibleUnits == -2...102)
        #expect(configuration.channel(for: .dischargeLimit)?.plausibleUnits == 0...105)
        #expect(AnalogSignal.allCases.map(\.orionPin) == [11, 13, 14, nil, nil], "bus and pack voltage are PackGuard's own dividers")
    }

    @Test("the 15 kΩ / 20 kΩ divider keeps 5 V + 5 % within the ADS1115's input range GND…VDD")
    func divider() {
        let ratio = ADS1115Configuration.orionDividerRatio
        #expect(isClose(ratio, 20.0 / 35.0))
        #expect(isClose(5.0 * ratio, 2.857142857))
        #expect(5.25 * ratio <= 3.3)
        #expect(5.25 * ratio < ADS1115Gain.fullScale4_096V.fullScaleVolts)
    }

    @Test("divider and scale from code to percent at 0, mid and full scale")
    func scaling() throws {
        let soc = try #require(ADS1115Configuration().channel(for: .soc))
        let zero = soc.measurement(rawCode: 0, gain: .fullScale4_096V)
        #expect(zero.value == 0 && zero.bmsPinVolts == 0 && !zero.isClipped)
        // 2.5 V at the BMS → 1.4286 V at the pin → code 11429 (LSB 125 µV).
        let mid = soc.measurement(rawCode: ADS1115Gain.fullScale4_096V.code(forVolts: 2.5 * 20 / 35), gain: .fullScale4_096V)
        #expect(mid.rawCode == 11429)
        #expect(isClose(mid.adsPinVolts, 1.428625))
        #expect(isClose(mid.bmsPinVolts, 2.50009375))
        #expect(isClose(mid.value, 50.001875))
        let full = soc.measurement(rawCode: 22857, gain: .fullScale4_096V)
        #expect(isClose(full.value, 99.999375))  // 2.857125 V × 1.75 = 4.99996875 V
        let negative = soc.measurement(rawCode: -800, gain: .fullScale4_096V)
        #expect(isClose(negative.bmsPinVolts, -0.175))
        #expect(isClose(negative.value, -3.5))
        #expect(soc.measurement(rawCode: .max, gain: .fullScale4_096V).isClipped)
        #expect(soc.measurement(rawCode: .min, gain: .fullScale4_096V).isClipped)
    }

    @Test("current scale: 0–5 V → 0–100 A")
    func currentScale() throws {
        let charge = try #require(ADS1115Configuration().channel(for: .chargeLimit))
        #expect(isClose(charge.scale.units(forVolts: 1.25), 25))
        #expect(isClose(charge.adsPinVolts(forValue: 60), 3 * 20.0 / 35.0))
        #expect(charge.unit == "A")
    }

    @Test("calibration gain and offset apply at the BMS pin, and invert")
    func calibration() {
        let channel = ADCChannelConfiguration(
            channel: 0, signal: .soc, dividerRatio: 0.5, calibrationOffsetVolts: 0.02, calibrationGain: 1.01,
            scale: ADCScale(volts: 0...5, units: 0...100), plausibleUnits: 0...100, unit: "%")
        #expect(isClose(channel.bmsPinVolts(adsPinVolts: 1), 2.04))
        #expect(isClose(channel.adsPinVolts(bmsPinVolts: 2.04), 1))
        #expect(isClose(channel.scale.volts(forUnits: 40), 2))
        let inverted = ADCScale(volts: 1...4, units: 10...70)
        #expect(isClose(inverted.units(forVolts: 2.5), 40))
        #expect(isClose(inverted.units(forVolts: 0), -10))  // not clamped
    }

    @Test("a divider that lets 5 V exceed VDD is refused, with the largest safe ratio")
    func overvoltage() {
        var configuration = ADS1115Configuration()
        configuration.channels[1].dividerRatio = 0.8
        let problems = configuration.validate()
        #expect(
            problems.contains(
                "AIN1 (chargeLimit): 5.25 V at the BMS pin gives 4.20 V at the ADS1115, above its input range GND…VDD = 3.30 V: "
                    + "use a divider ratio of at most 0.6285"))
        #expect(problems.contains { $0.hasPrefix("AIN1 (chargeLimit)") && $0.contains("clip") })
        configuration.supplyVolts = 5.0
        configuration.gain = .fullScale6_144V
        #expect(configuration.validate() == [])
    }

    @Test("a PGA full scale below the divided maximum is refused")
    func gainTooSmall() {
        var configuration = ADS1115Configuration()
        configuration.gain = .fullScale2_048V
        let problems = configuration.validate()
        #expect(problems.count == 3)
        #expect(problems[0].contains("3.00 V at the ADS1115, beyond the PGA full scale ±2.048 V"))
    }

    @Test("addresses outside 0x48–0x4B are refused")
    func addresses() {
        for address: UInt8 in 0x48...0x4B {
            #expect(ADS1115Configuration(address: address).validate() == [])
        }
        #expect(
            ADS1115Configuration(address: 0x50).validate()
                == ["address 0x50 is not an ADS1115 address: use 0x48 (ADDR to GND), 0x49 (VDD), 0x4A (SDA) or 0x4B (SCL)"])
    }

    @Test("channel, duplicates, timing and range mistakes are each reported")
    func mistakes() {
        var configuration = ADS1115Configuration(medianWindow: 0, staleTimeoutMilliseconds: 1000)
        configuration.channels[2].channel = 1
        configuration.channels[1].signal = .soc
        configuration.channels[0].plausibleUnits = 5...5
        configuration.channels.append(
            ADCChannelConfiguration(
                channel: 4, signal: .dischargeLimit, dividerRatio: 0, calibrationGain: 0,
                scale: ADCScale(volts: 1...1, units: 0...0), plausibleUnits: 0...1, unit: ""))
        let problems = configuration.validate()
        for expected in [
            "median window 0 must be 1...15 samples",
            "stale timeout 1000 ms must exceed the sample period 1000 ms, or every reading goes stale between samples",
            "AIN1 is configured more than once",
            "soc is read from more than one input",
            "AIN0 (soc): the plausible range must not be empty",
            "AIN4 (dischargeLimit): the ADS1115 has inputs AIN0...AIN3 only",
            "AIN4 (dischargeLimit): divider ratio 0.0000 must be above 0 and at most 1",
            "AIN4 (dischargeLimit): calibration gain 0.0 must be a positive number",
            "AIN4 (dischargeLimit): the scale's volt range must not be empty",
            "AIN4 (dischargeLimit): the scale's unit range must not be empty",
            "AIN4 (dischargeLimit): the unit is empty",
        ] {
            #expect(problems.contains(expected), "missing: \(expected)")
        }
        #expect(ADS1115Configuration(channels: []).validate() == ["no channel is configured"])
        #expect(ADS1115Configuration(supplyVolts: 1.8).validate().first?.contains("2.0–5.5 V") == true)
    }

    @Test("conversions that cannot fit in the sample period are refused")
    func slowRate() {
        #expect(ADS1115Configuration(dataRate: .sps8).validate() == [])
        #expect(
            ADS1115Configuration(dataRate: .sps8, samplePeriodMilliseconds: 500, staleTimeoutMilliseconds: 2000).validate()
                == [
                    "3 conversions at 8 SPS may take 756.0 ms, longer than the sample period 500 ms: "
                        + "choose a faster data rate"
                ])
    }
}
