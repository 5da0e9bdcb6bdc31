// Median filter, staleness, plausibility and every injected fault, through the sampler.
import Testing
@testable import PackGuardADC

private let millisecond: UInt64 = 1_000_000

/// A sampler on the default configuration over a simulated ADS1115 whose inputs show `soc`, `charge`, `discharge`.
private func makeSampler(
    _ configuration: ADS1115Configuration = ADS1115Configuration(),
    soc: Double = 55, charge: Double = 40, discharge: Double = 80
) throws -> (SimulatedADS1115, AnalogSampler) {
    let chip = SimulatedADS1115()
    for channel in configuration.channels {
        let value: Double =
            switch channel.signal {
            case .soc: soc
            case .chargeLimit: charge
            case .dischargeLimit: discharge
            case .busVoltage, .packVoltage: 48
            }
        chip.setInputVolts(channel.adsPinVolts(forValue: value), channel: channel.channel)
    }
    let bus = SimulatedI2CBus(devices: [chip])
    return (chip, try AnalogSampler(configuration: configuration, bus: bus, clock: ManualADCClock()))
}

private func reason(_ reading: AnalogReading) -> String? {
    if case .invalid(let reason) = reading { return reason }
    return nil
}

private func isClose(_ reading: AnalogReading, to expected: Double) -> Bool {
    guard let value = reading.value else { return false }
    return abs(value - expected) < 0.01
}

@Suite("analog sampler")
struct SamplerTests {
    @Test("values arrive through divider, code and scale")
    func endToEnd() throws {
        var (_, sampler) = try makeSampler()
        sampler.sample(now: 0)
        #expect(isClose(sampler.reading(of: .soc, now: 0), to: 55))
        #expect(isClose(sampler.reading(of: .chargeLimit, now: 0), to: 40))
        #expect(isClose(sampler.reading(of: .dischargeLimit, now: 0), to: 80))
        guard case .valid(_, let volts, let at) = sampler.reading(of: .soc, now: 10 * millisecond) else {
            Issue.record("soc should be valid")
            return
        }
        #expect(abs(volts - 2.75) < 0.001)
        #expect(at == 0)
    }

    @Test("channel details carry raw code, both voltages, value and unit")
    func details() throws {
        var (_, sampler) = try makeSampler(soc: 50)
        #expect(sampler.channelDetails.map(\.result) == [.notSampled, .notSampled, .notSampled])
        sampler.sample(now: 7)
        let soc = sampler.channelDetails[0]
        #expect(soc.configuration.signal == .soc && soc.configuration.unit == "%" && soc.at == 7)
        guard case .measured(let measurement) = soc.result else {
            Issue.record("soc should be measured")
            return
        }
        #expect(measurement.rawCode == 11429)
        #expect(abs(measurement.adsPinVolts - 1.4286) < 0.0001)
        #expect(abs(measurement.bmsPinVolts - 2.5) < 0.0001)
        #expect(abs(measurement.value - 50) < 0.01)
    }

    @Test("no sample yet is invalid")
    func noSample() throws {
        let (_, sampler) = try makeSampler()
        #expect(reason(sampler.reading(of: .soc, now: 0)) == "no sample yet")
    }

    @Test("a reading goes stale after the timeout, never shown as current")
    func staleness() throws {
        var (_, sampler) = try makeSampler()
        sampler.sample(now: 1000 * millisecond)
        #expect(sampler.reading(of: .soc, now: 6000 * millisecond).value != nil)
        #expect(
            reason(sampler.reading(of: .soc, now: 6001 * millisecond))
                == "stale: last good sample 5001 ms ago (limit 5000 ms)")
        sampler.sample(now: 6002 * millisecond)
        #expect(sampler.reading(of: .soc, now: 6002 * millisecond).value != nil)
    }

    @Test("sampling is due once per sample period")
    func sampleDue() throws {
        var (_, sampler) = try makeSampler()
        #expect(sampler.isSampleDue(now: 0))
        sampler.sample(now: 100 * millisecond)
        #expect(!sampler.isSampleDue(now: 1099 * millisecond))
        #expect(sampler.isSampleDue(now: 1100 * millisecond))
        #expect(sampler.lastSampleStartedAt == 100 * millisecond)
    }

    @Test("the median of 3 rejects a single spike")
    func medianThroughSampler() throws {
        var (chip, sampler) = try makeSampler(soc: 50)
        let soc = try #require(sampler.configuration.channel(for: .soc))
        sampler.sample(now: 0)
        chip.setInputVolts(soc.adsPinVolts(forValue: 95), channel: 0)
        sampler.sample(now: 1000 * millisecond)
        chip.setInputVolts(soc.adsPinVolts(forValue: 51), channel: 0)
        sampler.sample(now: 2000 * millisecond)
        #expect(isClose(sampler.reading(of: .soc, now: 2000 * millisecond), to: 51))
    }

    @Test("out of the plausible range is invalid, above and below")
    func implausible() throws {
        var (_, sampler) = try makeSampler(soc: 110, charge: -3)
        sampler.sample(now: 0)
        let high = try #require(reason(sampler.reading(of: .soc, now: 0)))
        #expect(high.hasPrefix("out of plausible range: 110.0 % (5.500 V) not in -2.0...102.0 %"))
        let low = try #require(reason(sampler.reading(of: .chargeLimit, now: 0)))
        #expect(low.hasPrefix("out of plausible range: -3.0 A"))
        #expect(sampler.reading(of: .dischargeLimit, now: 0).value != nil)
    }

    @Test("a clipped code is invalid")
    func clipped() throws {
        var (chip, sampler) = try makeSampler()
        chip.setInputVolts(4.2, channel: 0)
        sampler.sample(now: 0)
        #expect(
            reason(sampler.reading(of: .soc, now: 0))
                == "input clipped at the ADS1115 full scale (code 32767, 4.096 V at the pin)")
    }

    @Test(
        "every injected fault makes every signal invalid, and clearing it recovers",
        arguments: SimulatedADS1115Fault.allCases)
    func faults(fault: SimulatedADS1115Fault) throws {
        var (chip, sampler) = try makeSampler()
        sampler.sample(now: 0)
        chip.inject(fault)
        sampler.sample(now: 1000 * millisecond)
        for signal in sampler.configuration.channels.map(\.signal) {
            let text = try #require(reason(sampler.reading(of: signal, now: 1000 * millisecond)), "\(fault) \(signal)")
            #expect(text.hasPrefix("ADC read failed: "))
            #expect(text.contains("0x48") && text.contains("/dev/i2c-1"))
        }
        chip.clear(fault)
        sampler.sample(now: 2000 * millisecond)
        #expect(isClose(sampler.reading(of: .soc, now: 2000 * millisecond), to: 55))
    }

    @Test("a frozen device is invalid even when only one channel is configured")
    func frozenSingleChannel() throws {
        let socOnly = ADS1115Configuration(channels: [ADS1115Configuration.orionJr2Channels[0]])
        var (chip, sampler) = try makeSampler(socOnly)
        sampler.sample(now: 0)
        chip.inject(.frozen)
        sampler.sample(now: 1000 * millisecond)
        let text = try #require(reason(sampler.reading(of: .soc, now: 1000 * millisecond)))
        #expect(text.contains("ignores writes"))
        #expect(reason(sampler.reading(of: .chargeLimit, now: 0)) == "chargeLimit is not wired to an ADS1115 input")
    }

    @Test("a fault restarts the median window: no value from before it survives")
    func faultClearsWindow() throws {
        var (chip, sampler) = try makeSampler(soc: 20)
        let soc = try #require(sampler.configuration.channel(for: .soc))
        sampler.sample(now: 0)
        sampler.sample(now: 1000 * millisecond)
        chip.inject(.ioError)
        sampler.sample(now: 2000 * millisecond)
        chip.clearAllFaults()
        chip.setInputVolts(soc.adsPinVolts(forValue: 70), channel: 0)
        sampler.sample(now: 3000 * millisecond)
        #expect(isClose(sampler.reading(of: .soc, now: 3000 * millisecond), to: 70))
    }

    @Test("an invalid configuration is refused with its problems")
    func invalidConfiguration() {
        let bus = SimulatedI2CBus(devices: [])
        #expect(throws: ADCConfigurationError(problems: ["no channel is configured"])) {
            try AnalogSampler(configuration: ADS1115Configuration(channels: []), bus: bus, clock: ManualADCClock())
        }
    }
}

@Suite("signal filter")
struct SignalFilterTests {
    private let soc = ADS1115Configuration.orionJr2Channels[0]

    @Test("median of odd and even counts")
    func medians() {
        #expect(median([3]) == 3)
        #expect(median([10, 90, 11]) == 11)
        #expect(median([4, 1]) == 2.5)
        #expect(median([5, 1, 4, 2]) == 3)
    }

    @Test("the window keeps the newest N samples")
    func window() {
        var filter = AnalogSignalFilter(channel: soc, medianWindow: 3, staleTimeoutMilliseconds: 5000)
        for (index, volts) in [1.0, 2.0, 3.0, 4.0, 4.5].enumerated() {
            filter.record(bmsPinVolts: volts, at: UInt64(index) * millisecond)
        }
        #expect(filter.recentSamples.map(\.bmsPinVolts) == [3, 4, 4.5])
        #expect(filter.reading(now: 4 * millisecond) == .valid(value: 80, volts: 4, at: 4 * millisecond))
    }

    @Test("fewer samples than the window give the median of those")
    func partialWindow() {
        var filter = AnalogSignalFilter(channel: soc, medianWindow: 3, staleTimeoutMilliseconds: 5000)
        filter.record(bmsPinVolts: 1, at: 0)
        #expect(filter.reading(now: 0) == .valid(value: 20, volts: 1, at: 0))
        filter.record(bmsPinVolts: 2, at: 1)
        #expect(filter.reading(now: 1) == .valid(value: 30, volts: 1.5, at: 1))
    }

    @Test("staleness counts from the newest sample; a clock behind it is not stale")
    func staleBoundary() {
        var filter = AnalogSignalFilter(channel: soc, medianWindow: 3, staleTimeoutMilliseconds: 5000)
        filter.record(bmsPinVolts: 1, at: 10 * millisecond)
        #expect(filter.reading(now: 5010 * millisecond).value == 20)
        #expect(filter.reading(now: 5010 * millisecond + 1) != filter.reading(now: 5010 * millisecond))
        #expect(filter.reading(now: 0).value == 20)
    }

    @Test("a failure wins until the next good sample")
    func failure() {
        var filter = AnalogSignalFilter(channel: soc, medianWindow: 3, staleTimeoutMilliseconds: 5000)
        filter.record(bmsPinVolts: 1, at: 0)
        filter.record(.failure(.conversionTimeout(busPath: "/dev/i2c-1", address: 0x48, mux: .ain0, waitedNanoseconds: 0)), at: 1)
        #expect(reason(filter.reading(now: 1))?.hasPrefix("ADC read failed: ADS1115 at 0x48 on /dev/i2c-1") == true)
        #expect(filter.recentSamples.isEmpty)
        filter.record(bmsPinVolts: 2, at: 2)
        #expect(filter.reading(now: 2) == .valid(value: 40, volts: 2, at: 2))
    }
}
