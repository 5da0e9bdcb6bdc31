import Glibc
import PropertyBased
import Testing
@testable import PackGuardCAN
import PackGuardCore

private func frame(_ id: UInt32, _ bytes: [UInt8], extended: Bool = false) -> CANFrame {
    CANFrame(id: CANIdentifier(id, extended: extended), data: bytes)
}

private let stale = Interval.milliseconds(1000)

@Suite("CAN decoding tables")
struct DecoderTests {
    @Test func orionDefaultDecodesPackStatusAndLimits() {
        var bus = CANBus(messages: CANPreset.orionDefault.messages)
        // -12.3 A (charging), 52.4 V, SOC 55 %, relay state 0x0043: discharge, charge, ready.
        #expect(bus.receive(frame(0x6B0, [0xFF, 0x85, 0x02, 0x0C, 0x6E, 0x00, 0x43, 0xFB]), at: .zero) == .decoded(message: 0))
        // DCL 150 A, CCL 50 A, high 30 °C, low 20 °C.
        #expect(bus.receive(frame(0x6B1, [0x00, 0x96, 0x32, 0x00, 0x1E, 0x14, 0x00, 0xB3]), at: .zero) == .decoded(message: 1))
        let values = bus.packValues(now: .milliseconds(10), staleAfter: stale)
        #expect(values.packCurrentA.map { abs($0 - -12.3) < 1e-9 } == true)
        #expect(values.packVoltageV.map { abs($0 - 52.4) < 1e-9 } == true)
        #expect(values.soc == 55)
        #expect(values.dischargeRelay == true)
        #expect(values.chargeRelay == true)
        #expect(values.dtc == false)
        #expect(values.dischargeLimitA == 150)
        #expect(values.chargeLimitA == 50)
        #expect(values.highTemperatureC == 30)
        #expect(values.lowTemperatureC == 20)
        #expect(values.staleMessages.isEmpty)
    }

    @Test func orionSumMatchesPublishedCaptures() {
        // Frames from a published Orion BMS 2 capture (erikhedb/WE-EV-CAN-Dashboard CANBUS.md):
        // byte 7 = (ID + DLC + bytes 0...6) & 0xFF for both.
        #expect(CANChecksum.orionSum(id: 0x6B0, data: frame(0x6B0, [0x00, 0xA1, 0x00, 0x48, 0x6E, 0x50, 0x00, 0x5F])) == 0x5F)
        #expect(CANChecksum.orionSum(id: 0x6B1, data: frame(0x6B1, [0x00, 0x15, 0xFF, 0x92, 0x9B, 0xF3, 0x00, 0xED])) == 0xED)
    }

    @Test func aBadChecksumIsCountedAndStoresNothing() {
        var bus = CANBus(messages: CANPreset.orionDefault.messages)
        #expect(bus.receive(frame(0x6B0, [0xFF, 0x85, 0x02, 0x0C, 0x6E, 0x00, 0x43, 0xFA]), at: .zero) == .badChecksum)
        #expect(bus.counters.badChecksum == 1)
        #expect(bus.packValues(now: .zero, staleAfter: stale).soc == nil)
    }

    @Test func shortAndUnknownFramesAreCountedAndIgnored() {
        var bus = CANBus(messages: CANPreset.orionDefault.messages)
        #expect(bus.receive(frame(0x6B0, [0xFF, 0x85, 0x02]), at: .zero) == .short)
        #expect(bus.receive(frame(0x123, [1, 2, 3]), at: .zero) == .unknownID)
        // The same number as an extended identifier is another message.
        #expect(bus.receive(frame(0x6B0, [0xFF, 0x85, 0x02, 0x0C, 0x6E, 0x00, 0x43, 0xFB], extended: true), at: .zero) == .unknownID)
        #expect(bus.counters == { var c = CANCounters(); c.short = 1; c.unknownID = 2; return c }())
        #expect(bus.packValues(now: .zero, staleAfter: stale).packCurrentA == nil)
    }

    @Test func valuesGoStaleWithTheirMessage() {
        var bus = CANBus(messages: CANPreset.orionDefault.messages)
        bus.receive(frame(0x6B0, [0xFF, 0x85, 0x02, 0x0C, 0x6E, 0x00, 0x43, 0xFB]), at: .zero)
        let early = bus.packValues(now: .milliseconds(1000), staleAfter: stale)
        #expect(early.soc == 55)
        #expect(early.staleMessages == ["0x6B1"])
        let late = bus.packValues(now: .milliseconds(1001), staleAfter: stale)
        #expect(late.soc == nil)
        #expect(late.chargeRelay == nil)
        #expect(late.staleMessages == ["0x6B0", "0x6B1"])
    }

    @Test func victronDecodesLittleEndianWithChargingNegative() {
        var bus = CANBus(messages: CANPreset.victron.messages)
        // 0x351: charge V 58.4 V, CCL 50.0 A, DCL 100.0 A, min V 44.0 V (0.1 V / 0.1 A, little-endian).
        #expect(bus.receive(frame(0x351, [0x48, 0x02, 0xF4, 0x01, 0xE8, 0x03, 0xB8, 0x01]), at: .zero) == .decoded(message: 0))
        // 0x355: SOC 77 %, SOH 99 %.
        #expect(bus.receive(frame(0x355, [0x4D, 0x00, 0x63, 0x00, 0x02, 0x1E, 0x00, 0x00]), at: .zero) == .decoded(message: 1))
        // 0x356: 53.12 V, +25.0 A (charging, Victron sign), 21.5 °C.
        #expect(bus.receive(frame(0x356, [0xC0, 0x14, 0xFA, 0x00, 0xD7, 0x00]), at: .zero) == .decoded(message: 2))
        // 0x35A: one alarm bit set.
        #expect(bus.receive(frame(0x35A, [0x04, 0, 0, 0, 0, 0, 0, 0]), at: .zero) == .decoded(message: 3))
        let values = bus.packValues(now: .zero, staleAfter: stale)
        #expect(values.chargeLimitA.map { abs($0 - 50) < 1e-9 } == true)
        #expect(values.dischargeLimitA.map { abs($0 - 100) < 1e-9 } == true)
        #expect(values.soc == 77)
        #expect(values.packVoltageV.map { abs($0 - 53.12) < 1e-9 } == true)
        #expect(values.packCurrentA.map { abs($0 - -25) < 1e-9 } == true)
        #expect(values.highTemperatureC.map { abs($0 - 21.5) < 1e-9 } == true)
        #expect(values.dtc == true)
        #expect(values.chargeRelay == nil)  // the Victron profile has no relay bits
    }

    @Test func signedAndBitFieldsDecode() {
        let f = frame(0x100, [0x80, 0x00, 0x00, 0x01])
        #expect(CANBus.value(of: CANField(.packCurrentA, start: 0, length: 2, signed: true), in: f) == -32768)
        #expect(CANBus.value(of: CANField(.packCurrentA, start: 0, length: 2), in: f) == 32768)
        #expect(CANBus.value(of: CANField(.packCurrentA, start: 2, length: 2, byteOrder: .littleEndian), in: f) == 256)
        #expect(CANBus.value(of: CANField(.dtc, start: 2, length: 2, bit: 0), in: f) == 1)
        #expect(CANBus.value(of: CANField(.dtc, start: 2, length: 2, bit: 8), in: f) == 0)
        #expect(CANBus.value(of: CANField(.soc, start: 3, length: 1, scale: 2, offset: -1), in: f) == 1)
    }

    @Test func encodingIsTheInverseOfDecodingForBothPresets() {
        let values: [CANQuantity: Double] = [.packCurrentA: -12.3, .packVoltageV: 52.4, .soc: 55, .chargeRelay: 1,
                                             .dischargeRelay: 0, .dtc: 1, .dischargeLimitA: 150, .chargeLimitA: 50,
                                             .highTemperatureC: -5, .lowTemperatureC: -10]
        for preset in CANPreset.allCases {
            var bus = CANBus(messages: preset.messages)
            for layout in preset.messages {
                #expect(bus.receive(CANBus.encode(values, layout: layout), at: .zero) == .decoded(message: bus.index(of: layout.id)!))
            }
            for layout in preset.messages {
                for field in layout.fields where values[field.quantity] != nil {
                    let decoded = bus.value(field.quantity, now: .zero, staleAfter: stale)
                    #expect(decoded.map { abs($0 - values[field.quantity]!) < 0.06 } == true, "\(preset) \(field.quantity)")
                }
            }
        }
        // The orionDefault 0x6B0 encoding is byte for byte the documented example frame.
        let frame = CANBus.encode([.packCurrentA: -12.3, .packVoltageV: 52.4, .soc: 55, .dischargeRelay: 1, .chargeRelay: 1, .ready: 1],
                                  layout: CANPreset.orionDefault.messages[0])
        #expect(frame.data == [0xFF, 0x85, 0x02, 0x0C, 0x6E, 0x00, 0x43, 0xFB])
    }

    @Test func presetsAreValidLayouts() {
        for preset in CANPreset.allCases {
            for message in preset.messages { #expect(message.problems().isEmpty, "\(preset) \(message.id)") }
        }
    }

    @Test func badLayoutsAreExplained() {
        let layout = CANMessageLayout(id: CANIdentifier(0x800), length: 8, checksum: .orionSum, fields: [
            CANField(.soc, start: 7, length: 1), CANField(.dtc, start: 0, length: 1), CANField(.soh, start: 0, length: 5),
        ])
        let problems = layout.problems()
        #expect(problems.contains { $0.contains("does not fit 11 bits") })
        #expect(problems.contains { $0.contains("soc: bytes 7...7 do not fit the 7 data bytes before the checksum") })
        #expect(problems.contains { $0.contains("dtc is a flag: give its bit") })
        #expect(problems.contains { $0.contains("soh: length 5") })
    }
}

private let garbageFrame = Gen.int(in: 0...Int.max).map { seed -> CANFrame in
    var bits = UInt64(bitPattern: Int64(seed))
    func take(_ n: UInt64) -> UInt64 { defer { bits /= n }; return bits % n }
    let extended = take(2) == 0
    // Mostly the configured identifiers, so that garbage reaches the decoder's every path.
    let known: [UInt32] = [0x6B0, 0x6B1, 0x351, 0x355, 0x356, 0x35A]
    let id = take(2) == 0 ? known[Int(take(6))] : UInt32(take(extended ? 0x2000_0000 : 0x800))
    let length = Int(take(9))
    var data: [UInt8] = []
    for _ in 0..<length { data.append(UInt8(take(256))) }
    return CANFrame(id: CANIdentifier(id, extended: extended), data: data)
}

@Suite("CAN garbage", .shrinking(false))
struct GarbageTests {
    @Test(arguments: CANPreset.allCases)
    func randomFramesNeverCrashAndAreEachCountedOnce(preset: CANPreset) async {
        await propertyCheck(count: 200, input: garbageFrame.array(of: 1...200)) { frames in
            var bus = CANBus(messages: preset.messages)
            for (index, frame) in frames.enumerated() { bus.receive(frame, at: .milliseconds(Int64(index))) }
            let counted = bus.counters.decoded + bus.counters.ignored
            #expect(counted == frames.count)
            let values = bus.packValues(now: .milliseconds(Int64(frames.count)), staleAfter: stale)
            for value in [values.packCurrentA, values.packVoltageV, values.soc, values.chargeLimitA, values.dischargeLimitA] {
                if let value { #expect(value.isFinite) }
            }
        }
    }
}

@Suite("The rig's generated candump log")
struct CandumpLogTests {
    /// rig/can/orion-default.log, parsed the way canplayer reads it: "(time) iface ID#HEX".
    @Test func theReplayedLogDecodesAsTheRigExpects() throws {
        let root = String(#filePath.split(separator: "/Tests/")[0])
        let path = root + "/rig/can/orion-default.log"
        guard let file = fopen(path, "r") else { Issue.record("cannot open \(path)"); return }
        defer { fclose(file) }
        var bus = CANBus(messages: CANPreset.orionDefault.messages)
        var buffer = [CChar](repeating: 0, count: 512)
        var dtcSeen = false
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard line.hasPrefix("("), let frameText = line.split(separator: " ").last?.split(separator: "\n").first else { continue }
            let parts = frameText.split(separator: "#")
            let id = try #require(UInt32(parts[0], radix: 16))
            let hex = Array(parts.count > 1 ? parts[1] : "")
            let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { UInt8(String(hex[$0..<$0 + 2]), radix: 16) }
            bus.receive(CANFrame(id: CANIdentifier(id), data: bytes), at: .zero)
            if bus.packValues(now: .zero, staleAfter: .seconds(1)).dtc == true { dtcSeen = true }
        }
        #expect(bus.counters.decoded == 40)
        #expect(bus.counters.badChecksum == 1)
        #expect(bus.counters.short == 1)
        #expect(dtcSeen)
        #expect(bus.packValues(now: .zero, staleAfter: .seconds(1)).soc == 69.5)
    }
}
