import PackGuardCAN
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Testing
@testable import PackGuardDaemon

/// An orionDefault 0x6B0 frame with its checksum.
func orionPackFrame(currentA: Double, soc: Double, charge: Bool, discharge: Bool, dtc: Bool = false) -> CANFrame {
    let current = UInt16(bitPattern: Int16((currentA * 10).rounded()))
    let relay = UInt8((discharge ? 1 : 0) | (charge ? 2 : 0) | (dtc ? 8 : 0))
    var bytes: [UInt8] = [UInt8(current >> 8), UInt8(current & 0xFF), 0x02, 0x0C, UInt8((soc * 2).rounded()), 0x00, relay, 0]
    var frame = CANFrame(id: CANIdentifier(0x6B0), data: bytes)
    bytes[7] = CANChecksum.orionSum(id: 0x6B0, data: frame)
    frame = CANFrame(id: CANIdentifier(0x6B0), data: bytes)
    return frame
}

let orionLimitsFrame: CANFrame = {
    var bytes: [UInt8] = [0x00, 0x96, 0x32, 0x00, 0x1E, 0x14, 0x00, 0x00]
    bytes[7] = CANChecksum.orionSum(id: 0x6B1, data: CANFrame(id: CANIdentifier(0x6B1), data: bytes))
    return CANFrame(id: CANIdentifier(0x6B1), data: bytes)
}()

@Suite("Controller with CAN")
struct CANControllerTests {
    private func canRig(_ adjust: (inout CANRules) -> Void) throws -> Rig {
        var configuration = BuiltInConfiguration.load()
        var can = configuration.can
        can.rules.enabled = true
        adjust(&can.rules)
        configuration.can = can
        return try Rig(configuration: configuration)
    }

    @Test func decodedValuesReachStatusAndADisagreeingBitOpensItsRelay() throws {
        let rig = try canRig { $0.bmsDisagrees = true; $0.disagreeMs = 300 }
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        func feed(charge: Bool, dtc: Bool = false) {
            rig.controller.receiveCAN(orionPackFrame(currentA: -12.3, soc: 55, charge: charge, discharge: true, dtc: dtc), at: rig.clock.now())
            rig.controller.receiveCAN(orionLimitsFrame, at: rig.clock.now())
        }
        for _ in 0..<80 { feed(charge: true); try rig.run(ms: 50) }
        #expect(rig.controller.currentPolicy.currentOutputs[.chargeRelay] == .active)
        let status = try #require(rig.controller.statusReport?.can)
        #expect(status.values["soc"] == 55)
        #expect(status.values["chargeRelay"] == 1)
        #expect(status.values["packCurrentA"].map { abs($0 + 12.3) < 1e-9 } == true)
        #expect(status.staleMessages.isEmpty && status.decoded >= 160)
        #expect(status.summary.contains("packCurrentA -12.3 A"))

        for _ in 0..<10 { feed(charge: false, dtc: true); try rig.run(ms: 50) }
        #expect(rig.controller.currentPolicy.currentOutputs[.chargeRelay] == .inactive)
        #expect(rig.controller.currentPolicy.currentOutputs[.dischargeRelay] == .active)
        let events = rig.controller.events.last(40)
        #expect(events.contains { $0.kind == "can.dtc.set" })
        #expect(events.contains { $0.kind == "fault.raised.bmsDisagrees:charge" && $0.reason.contains("reads asserted") })
        for _ in 0..<2 { feed(charge: true); try rig.run(ms: 50) }
        #expect(rig.controller.events.last(10).contains { $0.kind == "can.dtc.cleared" })
    }

    @Test func silenceMakesTheMessagesStaleAndOpenAllOpensEverything() throws {
        let rig = try canRig { $0.onStale = .openAll; $0.staleMs = 500 }
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        for _ in 0..<80 {
            rig.controller.receiveCAN(orionPackFrame(currentA: 0, soc: 50, charge: true, discharge: true), at: rig.clock.now())
            rig.controller.receiveCAN(orionLimitsFrame, at: rig.clock.now())
            try rig.run(ms: 50)
        }
        #expect(rig.controller.currentPolicy.currentOutputs[.dischargeRelay] == .active)
        // The controller wakes itself for the staleness: no step is needed from outside.
        let wake = rig.controller.nextWake(after: rig.clock.now())
        #expect(wake <= rig.clock.now() + .milliseconds(501))
        try rig.run(ms: 600)
        #expect(rig.controller.currentPolicy.faults.contains(.canStale))
        #expect(rig.controller.currentPolicy.currentOutputs[.dischargeRelay] == .inactive)
        #expect(rig.controller.statusReport?.can?.staleMessages == ["0x6B0", "0x6B1"])
    }

    @Test func withCanDisabledThereIsNoBusAndNoStatusSection() throws {
        let rig = try Rig()
        #expect(rig.controller.receiveCAN(orionLimitsFrame, at: rig.clock.now()) == nil)
        try rig.step()
        #expect(rig.controller.statusReport?.can == nil)
    }
}
