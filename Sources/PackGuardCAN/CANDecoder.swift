import PackGuardCore

/// One classic CAN frame as read from the bus: up to 8 data bytes, stored inline (no allocation
/// per frame: a flood of 10 000 frames/s must cost the control thread little).
public struct CANFrame: Sendable, Equatable {
    public var id: CANIdentifier
    /// The data length code as received (0...8; the kernel never gives more for classic CAN).
    public var length: Int
    private var bytes: InlineArray<8, UInt8>

    public init(id: CANIdentifier, data: [UInt8]) {
        self.id = id
        self.length = min(data.count, 8)
        bytes = InlineArray(repeating: 0)
        for index in 0..<length { bytes[index] = data[index] }
    }

    public subscript(index: Int) -> UInt8 {
        get { (0..<length).contains(index) ? bytes[index] : 0 }
        set { if (0..<8).contains(index) { bytes[index] = newValue } }
    }

    public var data: [UInt8] { (0..<length).map { bytes[$0] } }

    public static func == (lhs: CANFrame, rhs: CANFrame) -> Bool { lhs.id == rhs.id && lhs.data == rhs.data }

    /// "6B0#0064...": candump's compact form.
    public var hexData: String {
        data.map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0\(hex)" : hex
        }.joined()
    }
}

/// What became of one frame.
public enum CANDecodeOutcome: Sendable, Equatable {
    /// Decoded with the layout at `message` in the table.
    case decoded(message: Int)
    case unknownID
    case short
    case badChecksum
}

/// Frame counts since start, for status and `packguard can`.
public struct CANCounters: Sendable, Equatable {
    public var decoded = 0
    public var unknownID = 0
    public var short = 0
    public var badChecksum = 0

    public init() {}

    public var ignored: Int { unknownID + short + badChecksum }
}

/// Decodes frames with a table and keeps the latest value of each quantity with the time of its
/// message. Pure (times come in), never traps on any frame.
public struct CANBus: Sendable {
    public let messages: [CANMessageLayout]
    public private(set) var counters = CANCounters()
    /// When each message (by table index) last decoded, and how many times.
    public private(set) var lastSeen: [Instant?]
    public private(set) var frameCounts: [Int]
    private var values: [CANQuantity: Double] = [:]
    private var valueMessage: [CANQuantity: Int] = [:]

    public init(messages: [CANMessageLayout]) {
        self.messages = messages
        lastSeen = Array(repeating: nil, count: messages.count)
        frameCounts = Array(repeating: 0, count: messages.count)
        for (index, message) in messages.enumerated() {
            for field in message.fields { valueMessage[field.quantity] = index }
        }
    }

    /// The identifiers to ask the kernel for.
    public var identifiers: [CANIdentifier] { messages.map(\.id) }

    public func index(of id: CANIdentifier) -> Int? { messages.firstIndex { $0.id == id } }

    @discardableResult
    public mutating func receive(_ frame: CANFrame, at now: Instant) -> CANDecodeOutcome {
        let outcome = Self.decode(frame, messages: messages) { quantity, value in values[quantity] = value }
        switch outcome {
        case .decoded(let message):
            counters.decoded += 1
            lastSeen[message] = now
            frameCounts[message] += 1
        case .unknownID: counters.unknownID += 1
        case .short: counters.short += 1
        case .badChecksum: counters.badChecksum += 1
        }
        return outcome
    }

    /// Decodes one frame, handing each field's value to `store`; stores nothing unless the whole
    /// frame is good.
    public static func decode(_ frame: CANFrame, messages: [CANMessageLayout],
                              store: (CANQuantity, Double) -> Void) -> CANDecodeOutcome {
        guard let index = messages.firstIndex(where: { $0.id == frame.id }) else { return .unknownID }
        let layout = messages[index]
        guard frame.length >= layout.length, layout.fields.allSatisfy({ $0.end <= frame.length }) else { return .short }
        if layout.checksum == .orionSum {
            // Over the configured length: the checksum is the layout's last byte.
            var sum = frame.id.value &+ UInt32(layout.length)
            for byte in 0..<(layout.length - 1) { sum &+= UInt32(frame[byte]) }
            guard UInt8(truncatingIfNeeded: sum) == frame[layout.length - 1] else { return .badChecksum }
        }
        for field in layout.fields { store(field.quantity, value(of: field, in: frame)) }
        return .decoded(message: index)
    }

    public static func value(of field: CANField, in frame: CANFrame) -> Double {
        var raw: UInt64 = 0
        for step in 0..<field.length {
            let byte = field.byteOrder == .bigEndian ? field.start + step : field.start + field.length - 1 - step
            raw = raw << 8 | UInt64(frame[byte])
        }
        if let bit = field.bit { return Double((raw >> UInt64(bit)) & 1) }
        let bits = UInt64(field.length * 8)
        var number = Double(raw)
        if field.signed && raw & (1 << (bits - 1)) != 0 { number -= Double(UInt64(1) << bits) }
        return number * field.scale + field.offset
    }

    /// The frame a BMS would send for `values` with this layout (the inverse of decoding, values
    /// clamped to what the field holds; missing quantities are zero): for simulated buses.
    public static func encode(_ values: [CANQuantity: Double], layout: CANMessageLayout) -> CANFrame {
        var frame = CANFrame(id: layout.id, data: Array(repeating: 0, count: layout.length))
        for field in layout.fields {
            let bits = UInt64(field.length * 8)
            var raw: UInt64 = 0
            for step in 0..<field.length {
                let byte = field.byteOrder == .bigEndian ? field.start + step : field.start + field.length - 1 - step
                raw = raw << 8 | UInt64(frame[byte])
            }
            let value = values[field.quantity] ?? 0
            if let bit = field.bit {
                if value != 0 { raw |= 1 << UInt64(bit) }
            } else {
                let scaled = ((value - field.offset) / field.scale).rounded()
                let limit = Double(UInt64(1) << bits)
                let clamped = field.signed ? min(max(scaled, -limit / 2), limit / 2 - 1) : min(max(scaled, 0), limit - 1)
                raw = field.signed && clamped < 0 ? UInt64(limit + clamped) : UInt64(clamped)
            }
            for step in 0..<field.length {
                let byte = field.byteOrder == .bigEndian ? field.start + field.length - 1 - step : field.start + step
                frame[byte] = UInt8(truncatingIfNeeded: raw >> UInt64(8 * step))
            }
        }
        if layout.checksum == .orionSum {
            frame[layout.length - 1] = CANChecksum.orionSum(id: layout.id.value, data: frame)
        }
        return frame
    }

    /// Configured messages with no frame within `staleAfter`, by name.
    public func staleMessages(now: Instant, staleAfter: Interval) -> [String] {
        messages.indices.compactMap { index in
            guard let seen = lastSeen[index], now - seen <= staleAfter else { return messages[index].id.description }
            return nil
        }
    }

    /// The latest value of a quantity, nil when its message is stale or never came.
    public func value(_ quantity: CANQuantity, now: Instant, staleAfter: Interval) -> Double? {
        guard let message = valueMessage[quantity], let seen = lastSeen[message], now - seen <= staleAfter else { return nil }
        return values[quantity]
    }

    /// What the policy gets.
    public func packValues(now: Instant, staleAfter: Interval) -> CANPackValues {
        func v(_ q: CANQuantity) -> Double? { value(q, now: now, staleAfter: staleAfter) }
        func flag(_ q: CANQuantity) -> Bool? { v(q).map { $0 != 0 } }
        // Victron's profile has no MIL bit: any alarm bit counts as a DTC.
        let dtc = flag(.dtc) ?? v(.alarms).map { $0 != 0 }
        return CANPackValues(
            packCurrentA: v(.packCurrentA), packVoltageV: v(.packVoltageV), soc: v(.soc),
            chargeLimitA: v(.chargeLimitA), dischargeLimitA: v(.dischargeLimitA),
            highTemperatureC: v(.highTemperatureC), lowTemperatureC: v(.lowTemperatureC),
            highCellV: v(.highCellV), lowCellV: v(.lowCellV),
            chargeRelay: flag(.chargeRelay), dischargeRelay: flag(.dischargeRelay), dtc: dtc,
            staleMessages: staleMessages(now: now, staleAfter: staleAfter))
    }
}
