import PackGuardCAN
/// What `packguard status --json` prints: the controller's state as of its last step.
public struct StatusReport: Sendable, Equatable, Codable {
    public struct Input: Sendable, Equatable, Codable {
        public var line: String
        /// "active", "inactive", or "unread".
        public var logical: String
        /// The physical level at the pin: 1 high, 0 low; nil when not read.
        public var raw: Int?
        public var error: String?
    }

    public struct Output: Sendable, Equatable, Codable {
        public var line: String
        public var logical: String
        public var raw: Int
    }

    public struct FaultEntry: Sendable, Equatable, Codable {
        public var code: String
        public var description: String
        public var latched: Bool
    }

    public struct Balancing: Sendable, Equatable, Codable {
        public var active: Bool
        public var elapsedS: Int64?
        public var remainingS: Int64?
    }

    public struct Analog: Sendable, Equatable, Codable {
        public var value: Double?
        public var unit: String
        public var valid: Bool
        public var reason: String?
    }

    /// Present when `precharge.enabled`.
    public struct Precharge: Sendable, Equatable, Codable {
        /// "idle", "charging", "overlapping" or "failed".
        public var state: String
        /// How long the running sequence has taken.
        public var elapsedMs: Int64?
        /// "busVoltage" (sensed) or "timer".
        public var completion: String
        public var busVoltage: Analog?
        public var packVoltage: Analog?
    }

    /// Present when `can.enabled`: what the BMS reports over CAN.
    public struct CAN: Sendable, Equatable, Codable {
        public var interface: String
        /// orionDefault, victron or custom.
        public var table: String
        /// Fresh values by quantity (packCurrentA, soc, chargeRelay 0/1, ...); stale ones are absent.
        public var values: [String: Double]
        public var staleMessages: [String]
        public var decoded: Int
        public var unknownID: Int
        public var short: Int
        public var badChecksum: Int
        public var readError: String?
    }

    public struct Watchdogs: Sendable, Equatable, Codable {
        public var loopDeadlineMs: Int
        public var internalTrips: Int
        public var systemd: String
        public var hardware: String
        /// WATCHDOG=1 notifications and hardware watchdog pets that went through since start
        /// (optional: a daemon from before they were counted leaves them out).
        public var systemdPets: Int?
        public var hardwarePets: Int?
    }

    public var state: String
    public var backend: String
    public var configuration: String
    public var uptimeS: Int64
    public var steps: Int
    public var inputs: [String: Input]
    public var outputs: [String: Output]
    public var faults: [FaultEntry]
    public var forceOff: Bool
    public var balancing: Balancing
    public var soc: Analog?
    public var precharge: Precharge?
    public var chargeCurrentLimit: Analog?
    public var dischargeCurrentLimit: Analog?
    public var can: CAN? = nil
    public var watchdogs: Watchdogs
    public var events: [LoggedEvent]
    /// How late steps finished since start; filled in for `status` replies.
    public var stepLatency: StepLatencyReport? = nil
    /// The off-reactions since start (kernel edge timestamp to relay written); filled in for `status` replies.
    public var offReaction: StepLatencyReport? = nil

    /// The one human line for systemd's STATUS= and the top of `packguard status`.
    public var summary: String {
        let relays = ["chargeRelay", "dischargeRelay"].map { key in
            "\(key == "chargeRelay" ? "charge" : "discharge") \(outputs[key]?.logical == "active" ? "closed" : "open")"
        }.joined(separator: ", ")
        var text = "\(state): \(relays)"
        if balancing.active { text += ", balancing" }
        if !faults.isEmpty { text += "; faults: " + faults.map(\.code).joined(separator: ", ") }
        if let soc, let value = soc.value, soc.valid { text += "; SOC \(Int(value.rounded())) %" }
        return text
    }
}

extension StatusReport.CAN {
    /// "CAN vcan0 (orionDefault): packCurrentA -12.3 A, soc 55 %, ...; 120 frames, 3 ignored", for `status`.
    public var summary: String {
        var parts: [String] = []
        for quantity in CANQuantity.allCases {
            guard let value = values[quantity.rawValue] else { continue }
            let text = quantity.isFlag ? (value != 0 ? "on" : "off") : formatTenths(value) + (quantity.unit.isEmpty ? "" : " \(quantity.unit)")
            parts.append("\(quantity.rawValue) \(text)")
        }
        var text = "CAN \(interface) (\(table)): " + (parts.isEmpty ? "no values" : parts.joined(separator: ", "))
        if !staleMessages.isEmpty { text += "; stale: \(staleMessages.joined(separator: ", "))" }
        text += "; \(decoded) frames decoded, \(unknownID + short + badChecksum) ignored (\(short) short, \(badChecksum) bad checksum, \(unknownID) unknown)"
        if let readError { text += "; read error: \(readError)" }
        return text
    }
}

/// "-12.3": tenths, without Foundation.
func formatTenths(_ value: Double) -> String {
    guard value.isFinite else { return "\(value)" }
    let tenths = Int((abs(value) * 10).rounded())
    return "\(value < 0 && tenths > 0 ? "-" : "")\(tenths / 10).\(tenths % 10)"
}

extension StatusReport.Precharge {
    /// "precharge: charging for 120 ms (busVoltage), bus 31.2 V of pack 51.2 V", for `status` and `simulate`.
    public var summary: String {
        var text = "precharge: \(state)"
        if let elapsedMs { text += " for \(elapsedMs) ms" }
        text += " (\(completion))"
        func volts(_ analog: StatusReport.Analog?) -> String? {
            guard let analog else { return nil }
            guard analog.valid, let value = analog.value else { return "invalid (\(analog.reason ?? "?"))" }
            let tenths = Int((value * 10).rounded())
            return "\(tenths / 10).\(abs(tenths % 10)) V"
        }
        if let bus = volts(busVoltage) { text += ", bus \(bus)" }
        if let pack = volts(packVoltage) { text += " of pack \(pack)" }
        return text
    }
}
