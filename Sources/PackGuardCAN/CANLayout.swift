import PackGuardCore

/// A CAN identifier: 11-bit standard or 29-bit extended.
public struct CANIdentifier: Sendable, Hashable, CustomStringConvertible {
    public var value: UInt32
    public var extended: Bool

    public init(_ value: UInt32, extended: Bool = false) {
        self.value = value
        self.extended = extended
    }

    public static let standardRange: ClosedRange<UInt32> = 0...0x7FF
    public static let extendedRange: ClosedRange<UInt32> = 0...0x1FFF_FFFF

    public var isValid: Bool { (extended ? Self.extendedRange : Self.standardRange).contains(value) }

    /// "0x6B0", or "0x18FF50E5x" for an extended identifier (candump writes 8 hex digits for those).
    public var description: String {
        let hex = String(value, radix: 16, uppercase: true)
        return extended ? "0x\(String(repeating: "0", count: max(0, 8 - hex.count)))\(hex)x" : "0x\(hex)"
    }
}

public enum CANByteOrder: String, Sendable, Hashable, CaseIterable {
    case bigEndian
    case littleEndian
}

/// What a decoded field means to PackGuard. Each has a fixed unit; a field with `bit` set is a
/// flag (0 or 1) taken from the field's raw value.
public enum CANQuantity: String, Sendable, Hashable, CaseIterable {
    /// Positive out of the pack (discharging), as the Orion reports it.
    case packCurrentA
    case packVoltageV
    case soc
    case chargeLimitA
    case dischargeLimitA
    case highTemperatureC
    case lowTemperatureC
    case highCellV
    case lowCellV
    case soh
    case dischargeRelay
    case chargeRelay
    case chargerSafety
    case dtc
    case ready
    case charging
    /// Alarm and warning words (Victron 0x35A), shown raw.
    case alarms
    case warnings

    public var unit: String {
        switch self {
        case .packCurrentA, .chargeLimitA, .dischargeLimitA: "A"
        case .packVoltageV, .highCellV, .lowCellV: "V"
        case .soc, .soh: "%"
        case .highTemperatureC, .lowTemperatureC: "°C"
        case .dischargeRelay, .chargeRelay, .chargerSafety, .dtc, .ready, .charging, .alarms, .warnings: ""
        }
    }

    /// Flags must come from one bit.
    public var isFlag: Bool {
        switch self {
        case .dischargeRelay, .chargeRelay, .chargerSafety, .dtc, .ready, .charging: true
        default: false
        }
    }
}

/// One value in a message: bytes `start..<start+length` in `byteOrder`, optionally signed, then
/// `raw * scale + offset`; with `bit`, the value is that bit of the raw field (0 or 1).
public struct CANField: Sendable, Hashable {
    public var quantity: CANQuantity
    public var start: Int
    public var length: Int
    public var byteOrder: CANByteOrder
    public var signed: Bool
    public var scale: Double
    public var offset: Double
    public var bit: Int?

    public init(_ quantity: CANQuantity, start: Int, length: Int, byteOrder: CANByteOrder = .bigEndian,
                signed: Bool = false, scale: Double = 1, offset: Double = 0, bit: Int? = nil) {
        self.quantity = quantity
        self.start = start
        self.length = length
        self.byteOrder = byteOrder
        self.signed = signed
        self.scale = scale
        self.offset = offset
        self.bit = bit
    }

    public var unit: String { quantity.unit }
    public var end: Int { start + length }
}

public enum CANChecksum: String, Sendable, Hashable, CaseIterable {
    case none
    /// Byte 7 = (ID + DLC + bytes 0...6) & 0xFF, as in Orion captures.
    case orionSum

    /// The checksum byte a frame must carry, over its first `length - 1` bytes.
    public static func orionSum(id: UInt32, data: CANFrame) -> UInt8 {
        var sum = id &+ UInt32(data.length)
        for index in 0..<max(0, data.length - 1) { sum &+= UInt32(data[index]) }
        return UInt8(truncatingIfNeeded: sum)
    }
}

public struct CANMessageLayout: Sendable, Hashable {
    public var id: CANIdentifier
    /// The shortest data length accepted; shorter frames are counted and ignored.
    public var length: Int
    public var checksum: CANChecksum
    /// How often the BMS sends it (for `packguard can` and the stale check's documentation).
    public var periodMs: Int
    public var fields: [CANField]

    public init(id: CANIdentifier, length: Int = 8, checksum: CANChecksum = .none, periodMs: Int = 100,
                fields: [CANField]) {
        self.id = id
        self.length = length
        self.checksum = checksum
        self.periodMs = periodMs
        self.fields = fields
    }

    /// Problems that make the layout unusable, in words (the configuration loader locates them).
    public func problems() -> [String] {
        var problems: [String] = []
        if !id.isValid { problems.append("id \(id) does not fit \(id.extended ? "29" : "11") bits") }
        if !(1...8).contains(length) { problems.append("length \(length) is outside 1...8 bytes") }
        let dataEnd = checksum == .orionSum ? length - 1 : length
        if checksum == .orionSum && length < 2 { problems.append("an orionSum checksum needs at least 2 bytes") }
        for field in fields {
            if !(1...4).contains(field.length) { problems.append("\(field.quantity.rawValue): length \(field.length) is outside 1...4 bytes") }
            if field.start < 0 || field.end > dataEnd {
                problems.append("\(field.quantity.rawValue): bytes \(field.start)...\(field.end - 1) do not fit the \(dataEnd) data bytes\(checksum == .orionSum ? " before the checksum" : "")")
            }
            if let bit = field.bit, !(0..<(field.length * 8)).contains(bit) {
                problems.append("\(field.quantity.rawValue): bit \(bit) is outside the field's \(field.length * 8) bits")
            }
            if field.quantity.isFlag && field.bit == nil { problems.append("\(field.quantity.rawValue) is a flag: give its bit") }
            if !field.scale.isFinite || field.scale == 0 { problems.append("\(field.quantity.rawValue): scale must be a non-zero number") }
            if !field.offset.isFinite { problems.append("\(field.quantity.rawValue): offset must be a number") }
        }
        return problems
    }
}

/// The built-in decoding tables. Byte positions as confirmed against public decoders (see the
/// README's CAN section for which source confirmed which byte).
public enum CANPreset: String, Sendable, Hashable, CaseIterable {
    /// Orion's "default" messages 0x6B0/0x6B1 (and 0x6B2 cell extremes), big-endian.
    case orionDefault
    /// Orion's Victron profile 0x351/0x355/0x356/0x35A, little-endian.
    case victron

    public var messages: [CANMessageLayout] {
        switch self {
        case .orionDefault:
            [
                CANMessageLayout(id: CANIdentifier(0x6B0), checksum: .orionSum, periodMs: 8, fields: [
                    CANField(.packCurrentA, start: 0, length: 2, signed: true, scale: 0.1),
                    CANField(.packVoltageV, start: 2, length: 2, scale: 0.1),
                    CANField(.soc, start: 4, length: 1, scale: 0.5),
                    // Relay state, a 16-bit word in bytes 5-6: bit 0 is the low bit of byte 6.
                    CANField(.dischargeRelay, start: 5, length: 2, bit: 0),
                    CANField(.chargeRelay, start: 5, length: 2, bit: 1),
                    CANField(.chargerSafety, start: 5, length: 2, bit: 2),
                    CANField(.dtc, start: 5, length: 2, bit: 3),
                    CANField(.ready, start: 5, length: 2, bit: 6),
                    CANField(.charging, start: 5, length: 2, bit: 7),
                ]),
                CANMessageLayout(id: CANIdentifier(0x6B1), checksum: .orionSum, periodMs: 8, fields: [
                    CANField(.dischargeLimitA, start: 0, length: 2),
                    CANField(.chargeLimitA, start: 2, length: 1),
                    CANField(.highTemperatureC, start: 4, length: 1, signed: true),
                    CANField(.lowTemperatureC, start: 5, length: 1, signed: true),
                ]),
            ]
        case .victron:
            [
                CANMessageLayout(id: CANIdentifier(0x351), periodMs: 1000, fields: [
                    CANField(.chargeLimitA, start: 2, length: 2, byteOrder: .littleEndian, signed: true, scale: 0.1),
                    CANField(.dischargeLimitA, start: 4, length: 2, byteOrder: .littleEndian, signed: true, scale: 0.1),
                ]),
                CANMessageLayout(id: CANIdentifier(0x355), length: 4, periodMs: 1000, fields: [
                    CANField(.soc, start: 0, length: 2, byteOrder: .littleEndian),
                    CANField(.soh, start: 2, length: 2, byteOrder: .littleEndian),
                ]),
                CANMessageLayout(id: CANIdentifier(0x356), length: 6, periodMs: 1000, fields: [
                    CANField(.packVoltageV, start: 0, length: 2, byteOrder: .littleEndian, signed: true, scale: 0.01),
                    // Victron counts charging current positive; PackGuard counts it negative.
                    CANField(.packCurrentA, start: 2, length: 2, byteOrder: .littleEndian, signed: true, scale: -0.1),
                    CANField(.highTemperatureC, start: 4, length: 2, byteOrder: .littleEndian, signed: true, scale: 0.1),
                ]),
                CANMessageLayout(id: CANIdentifier(0x35A), periodMs: 1000, fields: [
                    CANField(.alarms, start: 0, length: 4, byteOrder: .littleEndian),
                    CANField(.warnings, start: 4, length: 4, byteOrder: .littleEndian),
                ]),
            ]
        }
    }
}
