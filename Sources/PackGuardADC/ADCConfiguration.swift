// What the ADS1115 measures and how volts become values. Pure value types.

/// The Orion Jr. 2 analog outputs PackGuard reads.
public enum AnalogSignal: String, Sendable, Equatable, Hashable, CaseIterable {
    case soc
    case chargeLimit
    case dischargeLimit
    /// The inverter side of the discharge contactor, through a 60 V divider: for the precharge.
    case busVoltage
    /// The pack, through the same divider: what the precharge compares the bus with.
    case packVoltage

    /// The Orion Jr. 2 main I/O pin carrying this 0–5 V output; nil for the voltages PackGuard
    /// measures itself.
    public var orionPin: Int? {
        switch self {
        case .soc: 11
        case .chargeLimit: 13
        case .dischargeLimit: 14
        case .busVoltage, .packVoltage: nil
        }
    }

    public var displayName: String {
        switch self {
        case .soc: "state of charge"
        case .chargeLimit: "charge current limit"
        case .dischargeLimit: "discharge current limit"
        case .busVoltage: "bus voltage (load side of the discharge contactor)"
        case .packVoltage: "pack voltage"
        }
    }

    /// Where the signal comes from, for listings: "BMS pin 11" or "60 V divider".
    public var source: String { orionPin.map { "BMS pin \($0)" } ?? "60 V divider" }
}

/// A linear map from volts at the BMS pin to units: volts.lowerBound → units.lowerBound, and so on.
/// Not clamped, so a value beyond the ends stays visible to the plausibility check.
public struct ADCScale: Sendable, Equatable {
    public var volts: ClosedRange<Double>
    public var units: ClosedRange<Double>

    public init(volts: ClosedRange<Double>, units: ClosedRange<Double>) {
        self.volts = volts
        self.units = units
    }

    public func units(forVolts value: Double) -> Double {
        units.lowerBound + (value - volts.lowerBound) / voltsSpan * unitsSpan
    }

    public func volts(forUnits value: Double) -> Double {
        volts.lowerBound + (value - units.lowerBound) / unitsSpan * voltsSpan
    }

    var voltsSpan: Double { volts.upperBound - volts.lowerBound }
    var unitsSpan: Double { units.upperBound - units.lowerBound }
}

/// One ADS1115 input wired to one Orion output.
///
/// Signal chain: BMS pin → divider (`dividerRatio`) → ADS1115 pin → code.
/// Back again: bmsPinVolts = adsPinVolts / dividerRatio × calibrationGain + calibrationOffsetVolts,
/// value = scale.units(forVolts: bmsPinVolts).
public struct ADCChannelConfiguration: Sendable, Equatable {
    /// The ADS1115 input, AIN0...AIN3.
    public var channel: Int
    public var signal: AnalogSignal
    /// Volts at the ADS1115 pin per volt at the BMS pin: R_bottom / (R_top + R_bottom).
    public var dividerRatio: Double
    /// Added to the BMS-pin volts after the gain; from a two-point calibration against a multimeter.
    public var calibrationOffsetVolts: Double
    /// Multiplies the BMS-pin volts; 1 when uncalibrated.
    public var calibrationGain: Double
    public var scale: ADCScale
    /// Values outside this range make the signal invalid (broken wire, wrong scale, dead BMS output).
    public var plausibleUnits: ClosedRange<Double>
    /// Shown after values: "%", "A".
    public var unit: String
    /// The highest voltage the BMS pin can drive; the divider must keep it (plus tolerance) safe.
    public var maximumSourceVolts: Double

    public init(
        channel: Int, signal: AnalogSignal, dividerRatio: Double,
        calibrationOffsetVolts: Double = 0, calibrationGain: Double = 1,
        scale: ADCScale, plausibleUnits: ClosedRange<Double>, unit: String, maximumSourceVolts: Double = 5.0
    ) {
        self.channel = channel
        self.signal = signal
        self.dividerRatio = dividerRatio
        self.calibrationOffsetVolts = calibrationOffsetVolts
        self.calibrationGain = calibrationGain
        self.scale = scale
        self.plausibleUnits = plausibleUnits
        self.unit = unit
        self.maximumSourceVolts = maximumSourceVolts
    }

    public func bmsPinVolts(adsPinVolts: Double) -> Double {
        adsPinVolts / dividerRatio * calibrationGain + calibrationOffsetVolts
    }

    public func adsPinVolts(bmsPinVolts: Double) -> Double {
        (bmsPinVolts - calibrationOffsetVolts) / calibrationGain * dividerRatio
    }

    /// The ADS1115 pin voltage at which this channel reads `value` (for simulation and bench tests).
    public func adsPinVolts(forValue value: Double) -> Double {
        adsPinVolts(bmsPinVolts: scale.volts(forUnits: value))
    }

    /// Everything one conversion code means for this channel.
    public func measurement(rawCode: Int16, gain: ADS1115Gain) -> ADCMeasurement {
        let adsVolts = gain.volts(forCode: rawCode)
        let bmsVolts = bmsPinVolts(adsPinVolts: adsVolts)
        return ADCMeasurement(
            rawCode: rawCode, adsPinVolts: adsVolts, bmsPinVolts: bmsVolts,
            value: scale.units(forVolts: bmsVolts), isClipped: rawCode == .max || rawCode == .min)
    }
}

/// One conversion of one channel, from code to value.
public struct ADCMeasurement: Sendable, Equatable {
    public let rawCode: Int16
    public let adsPinVolts: Double
    public let bmsPinVolts: Double
    public let value: Double
    /// The code sits at the end of the PGA range: the true input may be anywhere beyond it.
    public let isClipped: Bool

    public init(rawCode: Int16, adsPinVolts: Double, bmsPinVolts: Double, value: Double, isClipped: Bool) {
        self.rawCode = rawCode
        self.adsPinVolts = adsPinVolts
        self.bmsPinVolts = bmsPinVolts
        self.value = value
        self.isClipped = isClipped
    }
}

/// The ADS1115 and what each of its inputs carries. Inputs not listed are unused and never converted.
public struct ADS1115Configuration: Sendable, Equatable {
    public var busPath: String
    public var address: UInt8
    public var gain: ADS1115Gain
    public var dataRate: ADS1115DataRate
    /// The ADS1115's VDD; inputs must stay within GND…VDD (VDD + 0.3 V is the absolute maximum).
    public var supplyVolts: Double
    public var channels: [ADCChannelConfiguration]
    public var samplePeriodMilliseconds: Int
    /// Each signal reports the median of its last this-many samples.
    public var medianWindow: Int
    /// A signal whose newest good sample is older than this is invalid.
    public var staleTimeoutMilliseconds: Int

    public init(
        busPath: String = "/dev/i2c-1", address: UInt8 = 0x48,
        gain: ADS1115Gain = .fullScale4_096V, dataRate: ADS1115DataRate = .sps860, supplyVolts: Double = 3.3,
        channels: [ADCChannelConfiguration] = ADS1115Configuration.orionJr2Channels,
        samplePeriodMilliseconds: Int = 1000, medianWindow: Int = 3, staleTimeoutMilliseconds: Int = 5000
    ) {
        self.busPath = busPath
        self.address = address
        self.gain = gain
        self.dataRate = dataRate
        self.supplyVolts = supplyVolts
        self.channels = channels
        self.samplePeriodMilliseconds = samplePeriodMilliseconds
        self.medianWindow = medianWindow
        self.staleTimeoutMilliseconds = staleTimeoutMilliseconds
    }

    /// 15 kΩ from the BMS pin to AINx and 20 kΩ from AINx to GND: 20 / (15 + 20) = 0.5714
    /// (hardware/README.md). 5.00 V → 2.857 V; 5.25 V (+5 %) → 3.00 V: inside the ADS1115's
    /// specified input range GND…VDD = 3.3 V, with margin, and inside the ±4.096 V full scale.
    public static let orionDividerRatio = 20.0 / 35.0

    /// How far above `maximumSourceVolts` validation assumes a BMS output may go.
    public static let sourceTolerance = 0.05

    /// The I2C addresses the ADDR pin can select: GND, VDD, SDA, SCL.
    public static let validAddresses: ClosedRange<UInt8> = 0x48...0x4B

    public static let largestMedianWindow = 15

    /// AIN0 state of charge, AIN1 charge limit, AIN2 discharge limit, AIN3 unused.
    /// The 0–100 A current scales are placeholders: set them to the Orion's configured output scaling.
    /// 100 kΩ over 5.1 kΩ (hardware/precharge.md): 60 V → 2.911 V; 63 V (+5 %) → 3.057 V, inside
    /// GND…VDD = 3.3 V and the ±4.096 V full scale.
    public static let busDividerRatio = 5.1 / 105.1

    /// The default for an input carrying `signal` (the loader starts every channel from it).
    public static func template(for signal: AnalogSignal) -> ADCChannelConfiguration {
        if let orion = orionJr2Channels.first(where: { $0.signal == signal }) { return orion }
        return ADCChannelConfiguration(
            channel: 3, signal: signal, dividerRatio: busDividerRatio,
            scale: ADCScale(volts: 0...60, units: 0...60), plausibleUnits: -1...63, unit: "V", maximumSourceVolts: 60)
    }

    public static let orionJr2Channels: [ADCChannelConfiguration] = [
        ADCChannelConfiguration(
            channel: 0, signal: .soc, dividerRatio: orionDividerRatio,
            scale: ADCScale(volts: 0...5, units: 0...100), plausibleUnits: -2...102, unit: "%"),
        ADCChannelConfiguration(
            channel: 1, signal: .chargeLimit, dividerRatio: orionDividerRatio,
            scale: ADCScale(volts: 0...5, units: 0...100), plausibleUnits: 0...105, unit: "A"),
        ADCChannelConfiguration(
            channel: 2, signal: .dischargeLimit, dividerRatio: orionDividerRatio,
            scale: ADCScale(volts: 0...5, units: 0...100), plausibleUnits: 0...105, unit: "A"),
    ]

    public func channel(for signal: AnalogSignal) -> ADCChannelConfiguration? {
        channels.first { $0.signal == signal }
    }

    /// Everything wrong with this configuration, one human sentence each; empty when usable.
    public func validate() -> [String] {
        var problems: [String] = []
        if busPath.isEmpty { problems.append("the I2C bus path is empty: use e.g. /dev/i2c-1") }
        if !Self.validAddresses.contains(address) {
            problems.append(
                "address \(hex(address)) is not an ADS1115 address: use 0x48 (ADDR to GND), 0x49 (VDD), "
                    + "0x4A (SDA) or 0x4B (SCL)")
        }
        if !(2.0...5.5).contains(supplyVolts) {
            problems.append("supply \(formatted(supplyVolts, decimals: 2)) V is outside the ADS1115's 2.0–5.5 V")
        }
        if channels.isEmpty { problems.append("no channel is configured") }
        if samplePeriodMilliseconds <= 0 {
            problems.append("sample period \(samplePeriodMilliseconds) ms must be positive")
        }
        if !(1...Self.largestMedianWindow).contains(medianWindow) {
            problems.append("median window \(medianWindow) must be 1...\(Self.largestMedianWindow) samples")
        }
        if staleTimeoutMilliseconds <= samplePeriodMilliseconds {
            problems.append(
                "stale timeout \(staleTimeoutMilliseconds) ms must exceed the sample period "
                    + "\(samplePeriodMilliseconds) ms, or every reading goes stale between samples")
        }
        let worstCaseSampleNanoseconds = UInt64(channels.count) * dataRate.conversionTimeoutNanoseconds
        if samplePeriodMilliseconds > 0, worstCaseSampleNanoseconds > UInt64(samplePeriodMilliseconds) * 1_000_000 {
            problems.append(
                "\(channels.count) conversions at \(dataRate.samplesPerSecond) SPS may take "
                    + "\(formatMilliseconds(worstCaseSampleNanoseconds)) ms, longer than the sample period "
                    + "\(samplePeriodMilliseconds) ms: choose a faster data rate")
        }
        for (index, channel) in channels.enumerated() {
            problems += validate(channel)
            if channels[..<index].contains(where: { $0.channel == channel.channel }) {
                problems.append("AIN\(channel.channel) is configured more than once")
            }
            if channels[..<index].contains(where: { $0.signal == channel.signal }) {
                problems.append("\(channel.signal.rawValue) is read from more than one input")
            }
        }
        return problems
    }

    private func validate(_ channel: ADCChannelConfiguration) -> [String] {
        let name = "AIN\(channel.channel) (\(channel.signal.rawValue))"
        var problems: [String] = []
        if !(0...3).contains(channel.channel) {
            problems.append("\(name): the ADS1115 has inputs AIN0...AIN3 only")
        }
        if !(channel.dividerRatio > 0 && channel.dividerRatio <= 1) {
            problems.append(
                "\(name): divider ratio \(formatted(channel.dividerRatio, decimals: 4)) must be above 0 and at most 1")
        }
        if !(channel.calibrationGain > 0 && channel.calibrationGain.isFinite) {
            problems.append("\(name): calibration gain \(channel.calibrationGain) must be a positive number")
        }
        if !channel.calibrationOffsetVolts.isFinite || abs(channel.calibrationOffsetVolts) > 1 {
            problems.append(
                "\(name): calibration offset \(channel.calibrationOffsetVolts) V is beyond ±1 V; check the wiring instead")
        }
        if !(channel.scale.voltsSpan > 0 && channel.scale.voltsSpan.isFinite) {
            problems.append("\(name): the scale's volt range must not be empty")
        }
        if !(channel.scale.unitsSpan > 0 && channel.scale.unitsSpan.isFinite) {
            problems.append("\(name): the scale's unit range must not be empty")
        }
        if !(channel.plausibleUnits.upperBound > channel.plausibleUnits.lowerBound) {
            problems.append("\(name): the plausible range must not be empty")
        }
        if channel.unit.isEmpty { problems.append("\(name): the unit is empty") }
        guard channel.dividerRatio > 0 else { return problems }

        let sourceVolts = max(channel.maximumSourceVolts, channel.scale.volts.upperBound) * (1 + Self.sourceTolerance)
        let pinVolts = sourceVolts * channel.dividerRatio
        // The datasheet's specified input range is GND…VDD; VDD + 0.3 V is only the absolute maximum.
        let pinLimit = supplyVolts
        if pinVolts > pinLimit {
            problems.append(
                "\(name): \(formatted(sourceVolts, decimals: 2)) V at the BMS pin gives "
                    + "\(formatted(pinVolts, decimals: 2)) V at the ADS1115, above its input range GND…VDD = "
                    + "\(formatted(pinLimit, decimals: 2)) V: use a divider ratio of at most "
                    + "\(formatted((pinLimit / sourceVolts * 10000).rounded(.down) / 10000, decimals: 4))")
        }
        if pinVolts >= gain.fullScaleVolts {
            problems.append(
                "\(name): \(formatted(sourceVolts, decimals: 2)) V at the BMS pin gives "
                    + "\(formatted(pinVolts, decimals: 2)) V at the ADS1115, beyond the PGA full scale "
                    + "±\(formatted(gain.fullScaleVolts, decimals: 3)) V, so readings clip: choose a larger full scale "
                    + "or a smaller divider ratio")
        }
        return problems
    }
}
