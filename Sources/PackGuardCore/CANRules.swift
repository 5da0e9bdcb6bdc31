/// What the BMS reported over CAN, as the shell hands it to the policy. A value is nil when it
/// is unknown: no frame of its message yet, or none within `can.staleMs` (stale).
public struct CANPackValues: Sendable, Equatable {
    /// Positive out of the pack (discharging), negative into it, as the Orion reports it.
    public var packCurrentA: Double?
    public var packVoltageV: Double?
    public var soc: Double?
    public var chargeLimitA: Double?
    public var dischargeLimitA: Double?
    public var highTemperatureC: Double?
    public var lowTemperatureC: Double?
    public var highCellV: Double?
    public var lowCellV: Double?
    /// The BMS's own view of its Charge and Discharge Enable outputs (relay state bits 1 and 0).
    public var chargeRelay: Bool?
    public var dischargeRelay: Bool?
    /// The malfunction indicator (a DTC is set).
    public var dtc: Bool?
    /// Configured messages with no frame for `can.staleMs`, by name ("0x6B0").
    public var staleMessages: [String]

    public init(packCurrentA: Double? = nil, packVoltageV: Double? = nil, soc: Double? = nil,
                chargeLimitA: Double? = nil, dischargeLimitA: Double? = nil,
                highTemperatureC: Double? = nil, lowTemperatureC: Double? = nil,
                highCellV: Double? = nil, lowCellV: Double? = nil,
                chargeRelay: Bool? = nil, dischargeRelay: Bool? = nil, dtc: Bool? = nil,
                staleMessages: [String] = []) {
        self.packCurrentA = packCurrentA
        self.packVoltageV = packVoltageV
        self.soc = soc
        self.chargeLimitA = chargeLimitA
        self.dischargeLimitA = dischargeLimitA
        self.highTemperatureC = highTemperatureC
        self.lowTemperatureC = lowTemperatureC
        self.highCellV = highCellV
        self.lowCellV = lowCellV
        self.chargeRelay = chargeRelay
        self.dischargeRelay = dischargeRelay
        self.dtc = dtc
        self.staleMessages = staleMessages
    }

    /// The BMS's relay bit for one contactor.
    public func relayBit(_ contactor: Contactor) -> Bool? {
        contactor == .charge ? chargeRelay : dischargeRelay
    }
}

/// What stale CAN data does.
public enum CANStaleAction: String, CaseIterable, Sendable, Equatable {
    /// The wires stay the authority: only the CAN-based checks stop.
    case ignore
    /// Open every relay until frames arrive again.
    case openAll
}

/// Where the SOC rules take the state of charge from.
public enum SocSource: String, CaseIterable, Sendable, Equatable {
    /// BMS pin 11 through the ADS1115.
    case adc
    /// The SOC the BMS sends over CAN.
    case can
}

/// The CAN channel's safety uses, each opt-in; all off (and CAN unused) by default.
public struct CANRules: Sendable, Equatable {
    public var enabled = false
    /// No frame of a configured message for this long makes its values invalid.
    public var staleMs = 2000
    public var onStale = CANStaleAction.ignore
    /// A welded contactor seen by current: current through a relay commanded open.
    public var currentWhileOpen = false
    public var openCurrentA = 5.0
    public var openCurrentMs = 1000
    /// The BMS's relay bits disagree with the wired enables.
    public var bmsDisagrees = false
    public var disagreeMs = 1000

    public init() {}

    var stale: Interval { .milliseconds(staleMs) }
    var openCurrent: Interval { .milliseconds(openCurrentMs) }
    var disagree: Interval { .milliseconds(disagreeMs) }
}
