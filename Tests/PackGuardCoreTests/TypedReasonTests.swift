import Testing
@testable import PackGuardCore
import PackGuardWords

@Suite("Typed reasons: the core hands over values, PackGuardWords renders them")
struct TypedReasonTests {
    @Test func aReleasedEnableOpensItsRelayWithATypedReason() {
        var h = PolicyHarness(.minimal)
        h.startAndCloseBoth()
        h.set(.dischargeEnable, .inactive)
        let result = h.step()
        let event = result.events.first { $0.kind == .outputChanged(.dischargeRelay, .inactive) }
        #expect(event?.reason == .opened(.dischargeRelay, because: .enableReleased(.discharge)))
        #expect(event?.reason.words == "discharge relay opened: Discharge Enable (BMS pin 3) released")
    }

    @Test func socRulesAreNamedByValueNotByText() {
        var h = PolicyHarness(SocRuleTests.config())
        h.set(.chargeEnable, .active)
        h.set(.dischargeEnable, .active)
        h.step(soc: .percent(50))
        h.advance(ms: 3500, tick: 100, soc: .percent(50))
        h.now = h.now + .milliseconds(100)
        let result = h.step(soc: .percent(8))
        #expect(result.events.contains { $0.kind == .socRule(.dischargeCutoff) })
        let reason = result.events.first { $0.kind == .socRule(.dischargeCutoff) }?.reason
        #expect(reason == .socRule(.dischargeCutoff, socPercent: 8, thresholdPercent: 10))
        #expect(reason?.words == "discharge cut-off: SOC 8 % at or below 10 %")
    }

    @Test func nestedReasonsRenderAsOneSentence() {
        let reason = Reason.opened(.chargeRelay, because: .socInvalid(.stale(age: .milliseconds(6000)), onSocFault: .openAll))
        #expect(reason.words == "charge relay opened: SOC invalid (last reading 6 s old (stale)), onSocFault: openAll")
        let failure = Reason.prechargeFailed(.notComplete(after: .milliseconds(3000), .busBelowTarget(
            busVolts: 30, percentOfPack: 58.6, packVolts: 51.2, targetPercent: 95)))
        #expect(failure.words.hasPrefix("precharge failed: not complete after 3 s: bus at 30.0 V = 58.6 % of pack 51.2 V, target 95 %"))
        #expect(Reason.resetCleared([]).words == "reset: cleared no latched faults")
        #expect(Reason.resetRefused(stillClosed: [.charge, .discharge]).words.components(separatedBy: "still reads closed").count == 3)
    }
}
