// Sampling the Orion outputs: median filter, plausibility and staleness per signal.

/// What a signal is worth right now. Never a stale number presented as current.
public enum AnalogReading: Sendable, Equatable {
    /// `value` in the channel's unit and `volts` at the BMS pin (median of the window), from the newest sample `at`.
    case valid(value: Double, volts: Double, at: MonotonicNanoseconds)
    case invalid(reason: String)

    public var value: Double? {
        if case .valid(let value, _, _) = self { return value }
        return nil
    }
}

/// One signal's history and verdict. Pure: time comes in as arguments.
///
/// Rules: the reading is the median of the last `medianWindow` good samples. A failed or clipped
/// sample makes the signal invalid and empties the window, so no value from before a fault is mixed
/// into the first readings after it. A median outside the plausible range, or a newest sample older
/// than the stale timeout, is invalid.
public struct AnalogSignalFilter: Sendable, Equatable {
    public let channel: ADCChannelConfiguration
    public let medianWindow: Int
    public let staleTimeoutNanoseconds: UInt64
    /// Good samples, oldest first, at most `medianWindow`.
    public private(set) var recentSamples: [(bmsPinVolts: Double, at: MonotonicNanoseconds)] = []
    /// Set by the newest sample when it failed.
    public private(set) var failure: String?

    public init(channel: ADCChannelConfiguration, medianWindow: Int, staleTimeoutMilliseconds: Int) {
        self.channel = channel
        self.medianWindow = max(1, medianWindow)
        staleTimeoutNanoseconds = UInt64(max(0, staleTimeoutMilliseconds)) * 1_000_000
    }

    public mutating func record(bmsPinVolts: Double, at time: MonotonicNanoseconds) {
        failure = nil
        recentSamples.append((bmsPinVolts, time))
        if recentSamples.count > medianWindow { recentSamples.removeFirst(recentSamples.count - medianWindow) }
    }

    public mutating func recordFailure(_ reason: String) {
        failure = reason
        recentSamples.removeAll()
    }

    /// Records one conversion of this channel.
    public mutating func record(_ result: Result<ADCMeasurement, ADS1115Error>, at time: MonotonicNanoseconds) {
        switch result {
        case .success(let measurement) where measurement.isClipped:
            recordFailure(
                "input clipped at the ADS1115 full scale (code \(measurement.rawCode), "
                    + "\(formatted(measurement.adsPinVolts, decimals: 3)) V at the pin)")
        case .success(let measurement):
            record(bmsPinVolts: measurement.bmsPinVolts, at: time)
        case .failure(let error):
            recordFailure("ADC read failed: \(error)")
        }
    }

    public func reading(now: MonotonicNanoseconds) -> AnalogReading {
        if let failure { return .invalid(reason: failure) }
        guard let newest = recentSamples.last else { return .invalid(reason: "no sample yet") }
        let age = now >= newest.at ? now - newest.at : 0
        if age > staleTimeoutNanoseconds {
            return .invalid(
                reason: "stale: last good sample \(age / 1_000_000) ms ago "
                    + "(limit \(staleTimeoutNanoseconds / 1_000_000) ms)")
        }
        let volts = median(recentSamples.map(\.bmsPinVolts))
        let value = channel.scale.units(forVolts: volts)
        guard channel.plausibleUnits.contains(value) else {
            return .invalid(
                reason: "out of plausible range: \(formatted(value, decimals: 1)) \(channel.unit) "
                    + "(\(formatted(volts, decimals: 3)) V) not in \(formatted(channel.plausibleUnits.lowerBound, decimals: 1))"
                    + "...\(formatted(channel.plausibleUnits.upperBound, decimals: 1)) \(channel.unit)")
        }
        return .valid(value: value, volts: volts, at: newest.at)
    }

    public static func == (left: Self, right: Self) -> Bool {
        left.channel == right.channel && left.medianWindow == right.medianWindow
            && left.staleTimeoutNanoseconds == right.staleTimeoutNanoseconds && left.failure == right.failure
            && left.recentSamples.elementsEqual(right.recentSamples) { $0.bmsPinVolts == $1.bmsPinVolts && $0.at == $1.at }
    }
}

/// The middle value; the mean of the two middle values for an even count. `values` must not be empty.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// The newest conversion of one channel, for `packguard adc`.
public struct ADCChannelDetail: Sendable, Equatable {
    public enum Result: Sendable, Equatable {
        case notSampled
        case measured(ADCMeasurement)
        case failed(ADS1115Error)
    }

    public let configuration: ADCChannelConfiguration
    public let result: Result
    public let at: MonotonicNanoseconds?
}

/// The configuration did not validate; `problems` are `ADS1115Configuration.validate()`'s sentences.
public struct ADCConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let problems: [String]
    public var description: String { "invalid ADC configuration: " + problems.joined(separator: "; ") }
}

/// Reads every configured channel once per `sample(now:)` and keeps each signal's filter.
/// The caller decides when to sample (`isSampleDue`) and passes the time; only the OS-bit wait uses the clock.
public struct AnalogSampler: Sendable {
    public let configuration: ADS1115Configuration
    private var device: ADS1115
    private var filters: [AnalogSignal: AnalogSignalFilter]
    /// One entry per configured channel, in configuration order.
    public private(set) var channelDetails: [ADCChannelDetail]
    public private(set) var lastSampleStartedAt: MonotonicNanoseconds?

    /// `bus` must be opened on `configuration.busPath` and `configuration.address`.
    public init(configuration: ADS1115Configuration, bus: any I2CBus, clock: any ADCClock)
        throws(ADCConfigurationError)
    {
        let problems = configuration.validate()
        guard problems.isEmpty else { throw ADCConfigurationError(problems: problems) }
        self.configuration = configuration
        device = ADS1115(bus: bus, gain: configuration.gain, dataRate: configuration.dataRate, clock: clock)
        filters = [:]
        for channel in configuration.channels {
            filters[channel.signal] = AnalogSignalFilter(
                channel: channel, medianWindow: configuration.medianWindow,
                staleTimeoutMilliseconds: configuration.staleTimeoutMilliseconds)
        }
        channelDetails = configuration.channels.map { ADCChannelDetail(configuration: $0, result: .notSampled, at: nil) }
    }

    public func isSampleDue(now: MonotonicNanoseconds) -> Bool {
        guard let last = lastSampleStartedAt else { return true }
        return now &- last >= UInt64(configuration.samplePeriodMilliseconds) * 1_000_000
    }

    /// Converts every configured channel once; a failing channel does not stop the others.
    public mutating func sample(now: MonotonicNanoseconds) {
        lastSampleStartedAt = now
        convert(now: now) { _ in true }
    }

    /// Converts only the channels carrying `signals` (the precharge samples the bus between the
    /// regular samples); the regular schedule (`isSampleDue`) is not moved.
    public mutating func sample(now: MonotonicNanoseconds, only signals: Set<AnalogSignal>) {
        convert(now: now) { signals.contains($0) }
    }

    private mutating func convert(now: MonotonicNanoseconds, including: (AnalogSignal) -> Bool) {
        for (index, channel) in configuration.channels.enumerated() where including(channel.signal) {
            // validate() guarantees channel 0...3.
            let mux = ADS1115Mux.singleEnded(channel: channel.channel) ?? .ain0
            let result: Result<ADCMeasurement, ADS1115Error>
            do {
                let code = try device.convert(mux)
                result = .success(channel.measurement(rawCode: code, gain: configuration.gain))
            } catch {
                result = .failure(error)
            }
            filters[channel.signal]?.record(result, at: now)
            switch result {
            case .success(let measurement):
                channelDetails[index] = ADCChannelDetail(configuration: channel, result: .measured(measurement), at: now)
            case .failure(let error):
                channelDetails[index] = ADCChannelDetail(configuration: channel, result: .failed(error), at: now)
            }
        }
    }

    /// The signal's verdict at `now`; invalid when the signal is not configured.
    public func reading(of signal: AnalogSignal, now: MonotonicNanoseconds) -> AnalogReading {
        guard let filter = filters[signal] else {
            return .invalid(reason: "\(signal.rawValue) is not wired to an ADS1115 input")
        }
        return filter.reading(now: now)
    }
}
