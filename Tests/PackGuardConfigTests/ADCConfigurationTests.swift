import PackGuardADC
import PackGuardCore
import Testing
@testable import PackGuardConfig

/// `minimalYAML` plus an `adc` section; `adc:` is on line 7, its first key on line 8.
func withADC(_ body: String) -> String { minimalYAML + "adc:\n" + body }

func parse(_ yaml: String) throws -> PackGuardConfiguration {
    try ConfigurationLoader.parse(yaml, file: "test.yaml")
}

@Suite("ADC configuration: the adc section")
struct ADCConfigurationTests {
    @Test func defaultsAreTheDriverDefaults() throws {
        let absent = try parse(minimalYAML)
        #expect(absent.adc == ADCSettings())
        #expect(absent.adc.ads1115 == ADS1115Configuration())
        let empty = try parse(withADC("  enabled: false\n"))
        #expect(empty.adc.ads1115 == ADS1115Configuration())
        #expect(!empty.adc.enabled)
        #expect(absent.adc.bus == "/dev/i2c-1" && absent.adc.address == 0x48)
    }

    @Test func theShippedFileUsesTheDefaults() {
        let shipped = BuiltInConfiguration.load().adc
        #expect(!shipped.enabled)
        #expect(shipped.ads1115 == ADS1115Configuration())
    }

    static let everyKeyYAML = withADC("""
          enabled: true
          bus: /dev/i2c-3
          address: 0x4A
          pga: 6.144
          dataRate: 250
          supplyVolts: 5.0
          samplePeriodMs: 500
          medianSamples: 5
          staleMs: 3000
          channels:
            AIN0: { signal: unused }
            AIN1:
              signal: chargeLimit
              scale: { units: [0, 200] }
              plausible: [0, 210]
            AIN3:
              signal: soc
              dividerRatio: 0.5
              calibrationOffsetVolts: -0.02
              calibrationGain: 1.01
              scale: { volts: [0.5, 4.5], units: [0, 100] }
              plausible: [-5, 105]
              unit: "%"

        """)

    @Test func everyKeyIsRead() throws {
        let adc = try parse(Self.everyKeyYAML).adc
        let defaults = ADS1115Configuration.orionJr2Channels
        var charge = defaults[1]
        charge.scale.units = 0...200
        charge.plausibleUnits = 0...210
        let soc = ADCChannelConfiguration(
            channel: 3, signal: .soc, dividerRatio: 0.5, calibrationOffsetVolts: -0.02, calibrationGain: 1.01,
            scale: ADCScale(volts: 0.5...4.5, units: 0...100), plausibleUnits: -5...105, unit: "%")
        let expected = ADS1115Configuration(
            busPath: "/dev/i2c-3", address: 0x4A, gain: .fullScale6_144V, dataRate: .sps250, supplyVolts: 5.0,
            channels: [charge, soc], samplePeriodMilliseconds: 500, medianWindow: 5, staleTimeoutMilliseconds: 3000)
        #expect(adc.enabled)
        #expect(adc.ads1115 == expected)
        #expect(adc.ads1115.channel(for: .dischargeLimit) == nil, "AIN2 left out: unused")
    }

    @Test(arguments: ADS1115Gain.allCases)
    func everyPgaFullScaleIsAccepted(gain: ADS1115Gain) throws {
        // A divider small enough for the smallest range: 5.25 V × 0.04 = 0.21 V < 0.256 V.
        let yaml = withADC("  pga: \(gain.fullScaleVolts)\n  channels:\n    AIN0: { signal: soc, dividerRatio: 0.04 }\n")
        #expect(try parse(yaml).adc.ads1115.gain == gain)
    }

    @Test(arguments: ADS1115DataRate.allCases)
    func everyDataRateIsAccepted(rate: ADS1115DataRate) throws {
        #expect(try parse(withADC("  dataRate: \(rate.samplesPerSecond)\n")).adc.ads1115.dataRate == rate)
    }

    @Test func effectiveYAMLRoundTripsEveryADCKey() throws {
        let config = try parse(Self.everyKeyYAML)
        let text = config.effectiveYAML
        #expect(text.contains("    AIN0:\n      signal: unused\n"))
        #expect(text.contains("    AIN2:\n      signal: unused\n"))
        #expect(text.contains("      unit: \"%\"\n"))
        #expect(text.contains("  pga: 6.144"))
        let again = try ConfigurationLoader.parse(text, file: "effective.yaml")
        #expect(again.adc == config.adc)
        let defaults = BuiltInConfiguration.load()
        #expect(try ConfigurationLoader.parse(defaults.effectiveYAML, file: "effective.yaml").adc == defaults.adc)
    }

    /// (YAML under `adc:`, key path of the one expected error, a fragment of its message, its line)
    static let badInputs: [(String, String, String, Int)] = [
        ("  pga: 4\n", "adc.pga", "one of 6.144, 4.096, 2.048, 1.024, 0.512, 0.256; got '4'", 8),
        ("  pga: [4.096]\n", "adc.pga", "got 'a collection'", 8),
        ("  dataRate: 100\n", "adc.dataRate", "one of 8, 16, 32, 64, 128, 250, 475, 860; got '100'", 8),
        ("  supplyVolts: 6\n", "adc.supplyVolts", "6.0 is outside 2.0...5.5", 8),
        ("  supplyVolts: high\n", "adc.supplyVolts", "expected a number, got 'high'", 8),
        ("  samplePeriodMs: 5\n", "adc.samplePeriodMs", "outside the sane range 10...60000 milliseconds", 8),
        ("  medianSamples: 16\n", "adc.medianSamples", "outside the sane range 1...15 samples", 8),
        ("  medianSamples: 2.5\n", "adc.medianSamples", "expected a whole number of samples, got '2.5'", 8),
        ("  staleMs: 50\n", "adc.staleMs", "outside the sane range 100...600000 milliseconds", 8),
        ("  address: 0x50\n", "adc.address", "outside the sane range", 8),
        ("  bus: i2c-1\n", "adc.bus", "expected an absolute path", 8),
        ("  samplePeriod: 1000\n", "adc.samplePeriod", "did you mean 'samplePeriodMs'?", 8),
        ("  channels: [AIN0]\n", "adc.channels", "expected a mapping", 8),
        ("  channels:\n    AIN4: { signal: unused }\n", "adc.channels.AIN4", "unknown key", 9),
        ("  channels:\n    AIN1: { signal: chargeLimit }\n    ain0: { signal: soc }\n", "adc.channels.ain0",
         "did you mean 'AIN0'?", 10),
        ("  channels:\n    AIN0: { signal: sco }\n", "adc.channels.AIN0.signal",
         "expected one of soc, chargeLimit, dischargeLimit, busVoltage, packVoltage, unused, got 'sco' (did you mean 'soc'?)", 9),
        ("  channels:\n    AIN0: { unit: V }\n", "adc.channels.AIN0.signal", "required", 9),
        ("  channels:\n    AIN0: { signal: soc, dividerRatoi: 0.5 }\n", "adc.channels.AIN0.dividerRatoi",
         "did you mean 'dividerRatio'?", 9),
        ("  channels:\n    AIN0: { signal: soc, dividerRatio: 0 }\n", "adc.channels.AIN0.dividerRatio",
         "0.0 is outside 0.01...1.0", 9),
        ("  channels:\n    AIN0: { signal: soc, dividerRatio: half }\n", "adc.channels.AIN0.dividerRatio",
         "expected a number, got 'half'", 9),
        ("  channels:\n    AIN0: { signal: soc, calibrationGain: 3 }\n", "adc.channels.AIN0.calibrationGain",
         "3.0 is outside 0.5...2.0", 9),
        ("  channels:\n    AIN0: { signal: soc, calibrationOffsetVolts: -1.5 }\n",
         "adc.channels.AIN0.calibrationOffsetVolts", "-1.5 is outside -1.0...1.0", 9),
        ("  channels:\n    AIN0:\n      signal: soc\n      scale: { volts: [5, 0] }\n", "adc.channels.AIN0.scale.volts",
         "the first number must be below the second", 11),
        ("  channels:\n    AIN0:\n      signal: soc\n      scale: { units: [100] }\n", "adc.channels.AIN0.scale.units",
         "expected [low, high]", 11),
        ("  channels:\n    AIN0:\n      signal: soc\n      scale: { units: [0, x] }\n", "adc.channels.AIN0.scale.units",
         "expected [low, high]", 11),
        ("  channels:\n    AIN0:\n      signal: soc\n      scale: { volt: [0, 5] }\n", "adc.channels.AIN0.scale.volt",
         "did you mean 'volts'?", 11),
        ("  channels:\n    AIN0:\n      signal: soc\n      scale: 5\n", "adc.channels.AIN0.scale",
         "expected a mapping", 11),
        ("  channels:\n    AIN0:\n      signal: soc\n      plausible: [1, 1]\n", "adc.channels.AIN0.plausible",
         "[1.0, 1.0] is empty or reversed", 11),
        ("  channels:\n    AIN0:\n      signal: soc\n      unit: \"\"\n", "adc.channels.AIN0.unit", "expected text", 11),
        ("  channels:\n    AIN0:\n      signal: unused\n      dividerRatio: 0.5\n", "adc.channels.AIN0.dividerRatio",
         "an unused input has only 'signal: unused'", 11),
    ]

    @Test(arguments: badInputs)
    func aBadValueIsOneLocatedError(yaml: String, keyPath: String, message: String, line: Int) {
        let found = issues(withADC(yaml))
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.keyPath == keyPath)
        #expect(found.first?.message.contains(message) == true, "\(found.first?.message ?? "no error")")
        #expect(found.first?.line == line)
        #expect(found.first?.description.hasPrefix("test.yaml:\(line):") == true)
    }

    @Test func aSignalOnTwoInputsIsRejectedAtTheSecond() {
        let found = issues(withADC("  channels:\n    AIN0: { signal: soc }\n    AIN2: { signal: soc }\n"))
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.keyPath == "adc.channels.AIN2.signal")
        #expect(found.first?.line == 10)
        #expect(found.first?.message == "soc is already read from AIN0: each signal comes from one input")
    }

    /// (YAML under `adc:`, a fragment of the device-level problem reported on `adc`)
    static let deviceProblems: [(String, String)] = [
        ("  channels:\n    AIN0: { signal: soc, dividerRatio: 1 }\n", "above its input range GND…VDD = 3.30 V"),
        ("  pga: 2.048\n", "beyond the PGA full scale ±2.048 V"),
        ("  supplyVolts: 2.5\n", "above its input range GND…VDD = 2.50 V"),
        ("  samplePeriodMs: 1000\n  staleMs: 1000\n", "must exceed the sample period 1000 ms"),
        ("  dataRate: 8\n  samplePeriodMs: 500\n", "longer than the sample period 500 ms: choose a faster data rate"),
        ("  channels: {}\n", "no channel is configured"),
        ("  channels:\n    AIN0: { signal: unused }\n", "no channel is configured"),
    ]

    @Test(arguments: deviceProblems)
    func deviceLevelProblemsAreLocatedOnTheAdcKey(yaml: String, message: String) {
        let found = issues(withADC(yaml))
        #expect(!found.isEmpty)
        #expect(found.allSatisfy { $0.keyPath == "adc" && $0.line == 8 }, "\(found)")
        #expect(found.contains { $0.message.contains(message) }, "\(found)")
    }

    @Test func everyErrorInTheSectionIsReported() {
        let yaml = withADC("""
              pga: 5
              dataRate: 100
              medianSamples: 0
              channels:
                AIN0: { signal: soc, dividerRatio: 2 }
                AIN1: { signal: soc, calibrationGain: 0 }
                AIN5: { signal: unused }

            """)
        let found = issues(yaml)
        #expect(Set(found.map(\.keyPath)) == [
            "adc.pga", "adc.dataRate", "adc.medianSamples", "adc.channels.AIN5", "adc.channels.AIN0.dividerRatio",
            "adc.channels.AIN1.signal", "adc.channels.AIN1.calibrationGain",
        ])
        #expect(found.count == 7)
    }

    @Test func socRulesNeedAnInputCarryingTheSoc() {
        let noSoc = issues(minimalYAML + "soc:\n  enabled: true\nadc:\n  enabled: true\n  channels:\n    AIN1: { signal: chargeLimit }\n")
        #expect(noSoc.map(\.keyPath) == ["soc.enabled"])
        #expect(noSoc.first?.message.contains("signal: soc") == true)
        let moved = minimalYAML + "soc:\n  enabled: true\nadc:\n  enabled: true\n  channels:\n    AIN3: { signal: soc }\n"
        #expect(issues(moved).isEmpty)
        #expect(issues(minimalYAML + "soc:\n  enabled: true\nadc:\n  enabled: true\n").isEmpty, "AIN0 carries soc by default")
    }

    @Test func aChannelTakesItsSignalsDefaults() throws {
        let adc = try parse(withADC("  channels:\n    AIN0: { signal: dischargeLimit }\n    AIN1: { signal: soc }\n")).adc
        let discharge = try #require(adc.ads1115.channel(for: .dischargeLimit))
        #expect(discharge.channel == 0 && discharge.unit == "A" && discharge.plausibleUnits == 0...105)
        let soc = try #require(adc.ads1115.channel(for: .soc))
        #expect(soc.channel == 1 && soc.unit == "%" && soc.plausibleUnits == -2...102)
        #expect(soc.dividerRatio == ADS1115Configuration.orionDividerRatio)
        #expect(adc.ads1115.channels.map(\.channel) == [0, 1], "in input order")
    }
}
