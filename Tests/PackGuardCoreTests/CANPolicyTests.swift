import PropertyBased
import Testing
@testable import PackGuardCore

private func canConfiguration(_ adjust: (inout CANRules) -> Void = { _ in }) -> PolicyConfiguration {
    var configuration = PolicyConfiguration.minimal
    configuration.can.enabled = true
    configuration.can.staleMs = 500
    configuration.can.openCurrentA = 5
    configuration.can.openCurrentMs = 300
    configuration.can.disagreeMs = 200
    adjust(&configuration.can)
    return configuration
}

/// The BMS agreeing with both enables asserted, no current.
private let agreeing = CANPackValues(packCurrentA: 0, packVoltageV: 52, soc: 50, chargeRelay: true, dischargeRelay: true, dtc: false)

@Suite("CAN safety uses")
struct CANPolicyTests {
    @Test func canIsOffByDefaultAndChangesNothing() {
        let rules = CANRules()
        #expect(!rules.enabled && !rules.currentWhileOpen && !rules.bmsDisagrees && rules.onStale == .ignore)
        #expect(SocRules().source == .adc)
        // CAN values with CAN disabled: a huge current with relays open raises nothing.
        var h = PolicyHarness(.minimal)
        h.can = CANPackValues(packCurrentA: 500, chargeRelay: false, dischargeRelay: false)
        h.startAndCloseBoth()
        #expect(h.isClosed(.chargeRelay) && h.isClosed(.dischargeRelay))
        #expect(h.policy.faults.isEmpty)
    }

    @Test func currentOutOfThePackWithTheDischargeRelayOpenLatchesAndOpensEverything() {
        var h = PolicyHarness(canConfiguration { $0.currentWhileOpen = true })
        h.can = agreeing
        h.set(.chargeEnable, .active)
        h.step()
        h.advance(ms: 3500)
        #expect(h.isClosed(.chargeRelay) && !h.isClosed(.dischargeRelay))
        h.can?.packCurrentA = 12  // discharging through the open (welded) discharge contactor
        h.advance(ms: 290)
        #expect(h.policy.faults.isEmpty)
        h.advance(ms: 20)
        #expect(h.policy.faults == [.currentWhileOpen])
        #expect(!h.isClosed(.chargeRelay) && !h.isClosed(.dischargeRelay))
        #expect(!h.reasons(containing: "12.0 A out of the pack with the discharge relay commanded open").isEmpty)
        // Latched: the current stopping does not clear it; a reset does.
        h.can?.packCurrentA = 0
        h.advance(ms: 1000)
        #expect(h.policy.faults == [.currentWhileOpen])
        h.step(commands: [.reset])
        #expect(h.policy.faults.isEmpty)
    }

    @Test func currentIntoThePackWithTheChargeRelayOpenLatches() {
        var h = PolicyHarness(canConfiguration { $0.currentWhileOpen = true })
        h.can = agreeing
        h.can?.packCurrentA = -6  // negative: into the pack
        h.step()
        h.advance(ms: 400)
        #expect(h.policy.faults == [.currentWhileOpen])
    }

    @Test func currentBelowTheThresholdOrThroughAClosedRelayIsNoFault() {
        var h = PolicyHarness(canConfiguration { $0.currentWhileOpen = true })
        h.can = agreeing
        h.startAndCloseBoth()
        h.can?.packCurrentA = 80  // both closed: any current is fine
        h.advance(ms: 1000)
        h.can?.packCurrentA = -4.9
        h.set(.chargeEnable, .inactive)
        h.can?.chargeRelay = false
        h.advance(ms: 1000)
        #expect(h.policy.faults.isEmpty)
        #expect(h.isClosed(.dischargeRelay))
    }

    @Test func aDisagreeingRelayBitOpensThatRelayAndNamesBothReadings() {
        var h = PolicyHarness(canConfiguration { $0.bmsDisagrees = true })
        h.can = agreeing
        h.startAndCloseBoth()
        #expect(h.isClosed(.chargeRelay) && h.isClosed(.dischargeRelay))
        h.can?.chargeRelay = false  // the BMS says charge is off; the wire still says on
        h.advance(ms: 190)
        #expect(h.isClosed(.chargeRelay))
        h.advance(ms: 20)
        #expect(h.policy.faults == [.bmsDisagrees(.charge)])
        #expect(!h.isClosed(.chargeRelay))
        #expect(h.isClosed(.dischargeRelay))
        #expect(!h.reasons(containing: "CAN says the BMS's charge relay is off, Charge Enable (BMS pin 1) reads asserted").isEmpty)
        // Agreeing again clears it; the relay re-qualifies.
        h.can?.chargeRelay = true
        h.advance(ms: 10)
        #expect(h.policy.faults.isEmpty)
    }

    @Test func staleCanFollowsOnStale() {
        for action in CANStaleAction.allCases {
            var h = PolicyHarness(canConfiguration { $0.onStale = action })
            h.can = agreeing
            h.startAndCloseBoth()
            h.can?.staleMessages = ["0x6B1"]
            h.advance(ms: 10)
            #expect(h.policy.faults == [.canStale], "\(action)")
            #expect(h.isClosed(.dischargeRelay) == (action == .ignore), "\(action)")
        }
    }

    @Test func noCanInputAtAllIsStaleToo() {
        var h = PolicyHarness(canConfiguration { $0.onStale = .openAll })
        h.startAndCloseBoth()
        #expect(h.policy.faults == [.canStale])
        #expect(!h.isClosed(.chargeRelay))
        #expect(!h.reasons(containing: "no CAN data yet").isEmpty)
    }

    @Test func theSocRulesJudgeTheCanSocWhenSourceIsCan() {
        var configuration = canConfiguration()
        configuration.soc.enabled = true
        configuration.soc.source = .can
        configuration.soc.onSocFault = .openAll
        var h = PolicyHarness(configuration)
        h.can = agreeing
        h.can?.soc = 5  // below the 10 % cut-off
        h.startAndCloseBoth()
        h.advance(ms: 100, soc: .percent(50))  // an ADC sample is not the source
        #expect(!h.isClosed(.dischargeRelay))
        #expect(h.isClosed(.chargeRelay))
        h.can?.soc = nil
        h.advance(ms: 10)
        #expect(h.policy.faults.contains(.socInvalid))
        #expect(!h.isClosed(.chargeRelay))
    }
}

/// A random step for the CAN invariants.
private struct CANStep: Sendable, CustomStringConvertible {
    var advanceMs: Int
    var flip: InputSignal?
    var current: Double?
    var chargeBit: Bool?
    var dischargeBit: Bool?
    var stale: Bool
    var reset: Bool

    init(_ seed: Int) {
        var bits = UInt64(bitPattern: Int64(seed))
        func take(_ n: UInt64) -> Int { defer { bits /= n }; return Int(bits % n) }
        advanceMs = [0, 5, 10, 50, 100, 199, 200, 201, 299, 300, 301, 600][take(12)]
        flip = [nil, nil, nil, .chargeEnable, .dischargeEnable][take(5)]
        current = [nil, 0, 3, -3, 8, -8, 40, -40][take(8)]
        chargeBit = [nil, true, false][take(3)]
        dischargeBit = [nil, true, false][take(3)]
        stale = take(15) == 0
        reset = take(25) == 0
    }

    var description: String { "+\(advanceMs) flip=\(String(describing: flip)) I=\(String(describing: current)) c=\(String(describing: chargeBit)) d=\(String(describing: dischargeBit)) stale=\(stale) reset=\(reset)" }
}

@Suite("CAN invariants", .shrinking(false))
struct CANPropertyTests {
    @Test func disagreementAndCurrentFaultsAlwaysHoldTheirRelaysOpen() async {
        let configuration = canConfiguration { $0.currentWhileOpen = true; $0.bmsDisagrees = true }
        let steps = Gen.int(in: 0...Int.max).map { CANStep($0) }.array(of: 20...300)
        await propertyCheck(count: 150, input: steps) { steps in
            var policy = SafetyPolicy(configuration: configuration)
            var levels: [InputSignal: Level] = [.chargeEnable: .inactive, .dischargeEnable: .inactive]
            var now = Instant.zero
            for (number, step) in steps.enumerated() {
                now = now + .milliseconds(step.advanceMs)
                if let flip = step.flip { levels[flip] = levels[flip] == .active ? .inactive : .active }
                var input = StepInput.levels(levels)
                input.can = CANPackValues(packCurrentA: step.current, chargeRelay: step.chargeBit, dischargeRelay: step.dischargeBit,
                                          staleMessages: step.stale ? ["0x6B0"] : [])
                if step.reset { input.commands = [.reset] }
                let before = policy.faults
                let result = policy.step(input, now: now)
                for contactor in Contactor.allCases where policy.faults.contains(.bmsDisagrees(contactor)) {
                    if result.outputs[contactor.relay].isActive {
                        Issue.record("step \(number): \(contactor.relay) closed while \(Fault.bmsDisagrees(contactor)) is active")
                        return
                    }
                }
                if policy.faults.contains(.currentWhileOpen) {
                    if let relay = OutputSignal.allCases.first(where: { $0.isRelay && result.outputs[$0].isActive }) {
                        Issue.record("step \(number): \(relay) closed while currentWhileOpen is latched (raised now: \(!before.contains(.currentWhileOpen)))")
                        return
                    }
                }
            }
        }
    }
}
