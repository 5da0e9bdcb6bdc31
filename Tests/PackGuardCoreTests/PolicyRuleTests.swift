import Testing
@testable import PackGuardCore
import PackGuardWords

@Suite("Defaults")
struct DefaultTests {
    @Test func timingDefaultsMatchTheDocumentedValues() {
        let t = PolicyTiming()
        #expect(t.startupHoldMs == 3000)
        #expect(t.qualifyMs == 500)
        #expect(t.minOffMs == 5000)
        #expect(t.chatterLimit == 5)
        #expect(t.chatterWindowS == 60)
        #expect(t.switchDebounceMs == 50)
        #expect(t.balanceMaxHours == 12)
        #expect(t.feedbackTimeoutMs == 300)
        #expect(t.inputStaleMs == 1000)
    }

    @Test func socRulesAreOffByDefaultAndLeaveTheBmsInCharge() {
        let soc = SocRules()
        #expect(soc.enabled == false)
        #expect(soc.socHysteresis == 5)
        #expect(soc.onSocFault == .ignore)
    }
}

@Suite("Rule 1: start safe")
struct StartSafeTests {
    @Test func everyOutputIsOffAtTheFirstStepEvenWithBothEnablesAsserted() {
        var h = PolicyHarness(levels: [.chargeEnable: .active, .dischargeEnable: .active])
        let result = h.step()
        for signal in OutputSignal.allCases where signal.isRelay {
            #expect(result.outputs[signal] == .inactive, "\(signal)")
        }
        #expect(h.policy.state == .starting)
    }

    @Test func staysStartingUntilTheHoldHasPassed() {
        var h = PolicyHarness(.minimal, levels: [.chargeEnable: .active, .dischargeEnable: .active])
        h.step()
        h.advance(ms: 2990)
        #expect(h.policy.state == .starting)
        #expect(!h.isClosed(.dischargeRelay))
        h.advance(ms: 10)
        #expect(h.policy.state == .running)
    }

    @Test func staysStartingWhileAnyConfiguredInputWasNeverRead() {
        var h = PolicyHarness(.minimal, levels: [.chargeEnable: .active, .dischargeEnable: .active])
        var input = StepInput()
        input.readings[.chargeEnable] = .level(.active)
        for ms in stride(from: 0, through: 5000, by: 100) {
            _ = h.policy.step(input, now: .milliseconds(Int64(ms)))
        }
        #expect(h.policy.state == .starting)
        #expect(!h.policy.currentOutputs[.chargeRelay].isActive)
    }
}

@Suite("Rule 2: off is immediate, on is earned")
struct QualificationTests {
    @Test func relayClosesExactlyWhenQualifiedAfterStartup() {
        var h = PolicyHarness(.minimal, levels: [.dischargeEnable: .active])
        h.step()
        h.advance(ms: 3000)  // running from t=3000, eligible from then
        h.advance(ms: 490)
        #expect(!h.isClosed(.dischargeRelay))
        h.advance(ms: 10)
        #expect(h.isClosed(.dischargeRelay))
        #expect(h.reasons(containing: "discharge relay closed: Discharge Enable (BMS pin 3) asserted for 500 ms").count == 1)
    }

    @Test func aGlitchShorterThanQualifyNeverClosesTheRelay() {
        var h = PolicyHarness(.minimal)
        h.step()
        h.advance(ms: 4000)
        h.set(.dischargeEnable, .active)
        h.advance(ms: 400)
        h.set(.dischargeEnable, .inactive)
        h.step()
        h.set(.dischargeEnable, .active)
        h.step()
        h.advance(ms: 490)
        #expect(!h.isClosed(.dischargeRelay))
        h.advance(ms: 10)
        #expect(h.isClosed(.dischargeRelay))
    }

    @Test func releasingTheEnableOpensTheRelayInTheSameStepWithAReason() {
        var h = PolicyHarness(.minimal)
        h.startAndCloseBoth()
        #expect(h.isClosed(.dischargeRelay))
        h.set(.dischargeEnable, .inactive)
        let result = h.step()
        #expect(result.outputs[.dischargeRelay] == .inactive)
        #expect(result.outputs[.chargeRelay] == .active)
        #expect(result.events.contains {
            $0.kind == .outputChanged(.dischargeRelay, .inactive)
                && $0.reason == .opened(.dischargeRelay, because: .enableReleased(.discharge))
        })
    }

    @Test func nextDeadlineIsTheQualificationInstant() {
        var h = PolicyHarness(.minimal)
        h.step()
        h.advance(ms: 4000)
        h.set(.chargeEnable, .active)
        let result = h.step()
        #expect(result.nextDeadline == h.now + .milliseconds(500))
    }
}

@Suite("Rule 3: anti-chatter")
struct ChatterTests {
    @Test func relayStaysOpenForMinOffAfterOpening() {
        var h = PolicyHarness(.minimal)
        h.startAndCloseBoth()
        h.set(.chargeEnable, .inactive)
        h.step()
        let openedAt = h.now
        h.set(.chargeEnable, .active)
        h.advance(ms: 4990)
        #expect(!h.isClosed(.chargeRelay))
        h.advance(ms: 10)
        #expect(h.isClosed(.chargeRelay))
        #expect(h.now - openedAt == .milliseconds(5000))
    }

    @Test func moreThanChatterLimitOpeningsInTheWindowLockTheRelayOutUntilReset() {
        var h = PolicyHarness(.minimal)
        h.startAndCloseBoth()
        for _ in 0..<5 {  // five openings: still allowed
            h.set(.chargeEnable, .inactive)
            h.step()
            h.set(.chargeEnable, .active)
            h.advance(ms: 5000)
            #expect(h.isClosed(.chargeRelay))
        }
        h.set(.chargeEnable, .inactive)
        h.step()  // sixth opening within ~30 s
        #expect(h.policy.faults.contains(.chatter(.charge)))
        #expect(h.policy.state == .faulted)
        h.set(.chargeEnable, .active)
        h.advance(ms: 120_000)
        #expect(!h.isClosed(.chargeRelay), "locked out until reset, even after the window")
        #expect(h.isClosed(.dischargeRelay), "chatter on charge does not affect discharge")
        h.step(commands: [.reset])
        #expect(!h.policy.faults.contains(.chatter(.charge)))
        h.advance(ms: 500)
        #expect(h.isClosed(.chargeRelay))
    }

    @Test func openingsSpreadBeyondTheWindowDoNotLockOut() {
        var timing = PolicyTiming()
        timing.chatterWindowS = 10
        var config = PolicyConfiguration.minimal
        config.timing = timing
        var h = PolicyHarness(config)
        h.startAndCloseBoth()
        for _ in 0..<8 {
            h.set(.chargeEnable, .inactive)
            h.step()
            h.set(.chargeEnable, .active)
            h.advance(ms: 6000)
        }
        #expect(h.policy.faults.isEmpty)
        #expect(h.isClosed(.chargeRelay))
    }
}

@Suite("Rule 5: SOC rules")
struct SocRuleTests {
    static func config(_ action: SocFaultAction = .ignore) -> PolicyConfiguration {
        var config = PolicyConfiguration.minimal
        config.soc.enabled = true
        config.soc.dischargeCutoffSoc = 10
        config.soc.chargeStopSoc = 95
        config.soc.socHysteresis = 5
        config.soc.onSocFault = action
        return config
    }

    @Test func dischargeCutOffWithHysteresis() {
        var h = PolicyHarness(Self.config())
        h.set(.chargeEnable, .active)
        h.set(.dischargeEnable, .active)
        h.step(soc: .percent(50))
        h.advance(ms: 3500, tick: 100, soc: .percent(50))
        #expect(h.isClosed(.dischargeRelay))
        h.now = h.now + .milliseconds(100)
        h.step(soc: .percent(10))
        #expect(!h.isClosed(.dischargeRelay))
        #expect(h.isClosed(.chargeRelay))
        #expect(h.reasons(containing: "discharge relay opened: SOC at or below discharge cut-off 10 %").count == 1)
        h.advance(ms: 10_000, tick: 100, soc: .percent(14.9))
        #expect(!h.isClosed(.dischargeRelay), "below cut-off + hysteresis")
        h.advance(ms: 600, tick: 100, soc: .percent(15))
        #expect(h.isClosed(.dischargeRelay))
    }

    @Test func chargeStopWithHysteresis() {
        var h = PolicyHarness(Self.config())
        h.set(.chargeEnable, .active)
        h.set(.dischargeEnable, .active)
        h.step(soc: .percent(50))
        h.advance(ms: 3500, tick: 100, soc: .percent(50))
        h.now = h.now + .milliseconds(100)
        h.step(soc: .percent(95))
        #expect(!h.isClosed(.chargeRelay))
        h.advance(ms: 10_000, tick: 100, soc: .percent(90.1))
        #expect(!h.isClosed(.chargeRelay))
        h.advance(ms: 600, tick: 100, soc: .percent(90))
        #expect(h.isClosed(.chargeRelay))
    }

    @Test(arguments: [
        (SocFaultAction.ignore, true, true),
        (.openDischarge, true, false),
        (.openAll, false, false),
    ])
    func invalidSocFollowsOnSocFault(action: SocFaultAction, chargeClosed: Bool, dischargeClosed: Bool) {
        var h = PolicyHarness(Self.config(action))
        h.set(.chargeEnable, .active)
        h.set(.dischargeEnable, .active)
        h.step(soc: .percent(50))
        h.advance(ms: 3500, tick: 100, soc: .percent(50))
        #expect(h.isClosed(.chargeRelay) && h.isClosed(.dischargeRelay))
        h.now = h.now + .milliseconds(100)
        h.step(soc: .invalid("ADC transfer failed: EIO"))
        #expect(h.isClosed(.chargeRelay) == chargeClosed)
        #expect(h.isClosed(.dischargeRelay) == dischargeClosed)
        #expect(h.policy.faults.contains(.socInvalid))
    }

    @Test func aStaleSocIsInvalid() {
        var h = PolicyHarness(Self.config(.openAll))
        h.set(.chargeEnable, .active)
        h.set(.dischargeEnable, .active)
        h.step(soc: .percent(50))
        h.advance(ms: 3500, tick: 100, soc: .percent(50))
        #expect(h.isClosed(.chargeRelay))
        h.advance(ms: 5000, tick: 100)  // no new SOC samples
        #expect(h.isClosed(.chargeRelay))
        h.advance(ms: 100, tick: 100)
        #expect(!h.isClosed(.chargeRelay))
        #expect(h.policy.faults.contains(.socInvalid))
    }

    @Test(arguments: [-0.5, 100.5, Double.nan, Double.infinity])
    func implausibleSocIsInvalid(value: Double) {
        var h = PolicyHarness(Self.config(.openAll))
        h.set(.chargeEnable, .active)
        h.set(.dischargeEnable, .active)
        h.step(soc: .percent(50))
        h.advance(ms: 3500, tick: 100, soc: .percent(50))
        h.now = h.now + .milliseconds(100)
        h.step(soc: .percent(value))
        #expect(!h.isClosed(.chargeRelay))
        #expect(h.reasons(containing: "implausible SOC").count >= 1)
    }

    @Test func socRulesDisabledIgnoreSoc() {
        var h = PolicyHarness(.minimal)
        h.set(.chargeEnable, .active)
        h.set(.dischargeEnable, .active)
        h.step(soc: .percent(1))
        h.advance(ms: 3500, soc: .percent(1))
        #expect(h.isClosed(.dischargeRelay))
        #expect(h.policy.faults.isEmpty)
    }
}

@Suite("Rules 6 and 7: balancing mode and shore charger")
struct BalancingTests {
    static let config = PolicyConfiguration(
        inputs: [.chargeEnable, .dischargeEnable, .chargerSafety, .balanceSwitch],
        outputs: [.chargeRelay, .dischargeRelay, .balancePowerRelay, .shoreChargerRelay])

    @Test func switchIsDebouncedAndNeverClosesAContactorByItself() {
        var h = PolicyHarness(Self.config)
        h.step()
        h.advance(ms: 3000)
        h.set(.balanceSwitch, .active)
        h.step()
        h.advance(ms: 40)
        #expect(!h.isClosed(.balancePowerRelay))
        h.advance(ms: 10)
        #expect(h.isClosed(.balancePowerRelay))
        #expect(h.policy.isBalancing)
        h.advance(ms: 10_000)
        #expect(!h.isClosed(.chargeRelay) && !h.isClosed(.dischargeRelay))
        #expect(!h.isClosed(.shoreChargerRelay))
    }

    @Test func aSwitchBounceShorterThanDebounceIsIgnored() {
        var h = PolicyHarness(Self.config)
        h.step()
        h.advance(ms: 3000)
        h.set(.balanceSwitch, .active)
        h.advance(ms: 30)
        h.set(.balanceSwitch, .inactive)
        h.advance(ms: 200)
        #expect(!h.policy.isBalancing)
        #expect(!h.isClosed(.balancePowerRelay))
    }

    @Test func balancingExpiresAfterMaxHoursAndNeedsTheSwitchCycled() {
        var h = PolicyHarness(Self.config, levels: [.balanceSwitch: .active])
        h.step()
        h.advance(ms: 3000, tick: 1000)
        #expect(h.policy.isBalancing, "balancing starts when the controller runs, at t = 3 s")
        h.advance(ms: 12 * 3_600_000 - 1000, tick: 60_000)
        #expect(h.policy.isBalancing)
        h.advance(ms: 1000, tick: 1000)
        #expect(!h.policy.isBalancing)
        #expect(!h.isClosed(.balancePowerRelay))
        #expect(h.reasons(containing: "balancing mode off: expired after 12 h").count == 1)
        h.advance(ms: 3_600_000, tick: 60_000)
        #expect(!h.isClosed(.balancePowerRelay), "stays off while the switch stays on")
        h.set(.balanceSwitch, .inactive)
        h.advance(ms: 100)
        h.set(.balanceSwitch, .active)
        h.advance(ms: 100)
        #expect(h.isClosed(.balancePowerRelay))
    }

    @Test func shoreChargerFollowsChargerSafetyOnlyWhileBalancingWithChargeRelayClosed() {
        var h = PolicyHarness(Self.config, levels: [.chargeEnable: .active, .dischargeEnable: .active])
        h.step()
        h.advance(ms: 3500)
        #expect(h.isClosed(.chargeRelay))
        h.set(.chargerSafety, .active)
        h.advance(ms: 1000)
        #expect(!h.isClosed(.shoreChargerRelay), "not balancing")
        h.set(.balanceSwitch, .active)
        h.advance(ms: 60)
        #expect(h.isClosed(.shoreChargerRelay))
        h.set(.chargerSafety, .inactive)
        h.step()
        #expect(!h.isClosed(.shoreChargerRelay), "Charger Safety released opens it in the same step")
        h.set(.chargerSafety, .active)
        h.step()
        h.advance(ms: 490)
        #expect(!h.isClosed(.shoreChargerRelay), "Charger Safety must qualify")
        h.advance(ms: 10)
        #expect(h.isClosed(.shoreChargerRelay))
        h.set(.chargeEnable, .inactive)
        h.step()
        #expect(!h.isClosed(.chargeRelay) && !h.isClosed(.shoreChargerRelay))
    }
}

@Suite("Rule 8: contactor feedback")
struct FeedbackTests {
    static let config = PolicyConfiguration(
        inputs: [.chargeEnable, .dischargeEnable, .chargeContactorFeedback, .dischargeContactorFeedback],
        outputs: [.chargeRelay, .dischargeRelay])

    @Test func feedbackThatNeverClosesLatchesFailedToCloseAndOpensOnlyThatRelay() {
        var h = PolicyHarness(Self.config)
        h.startAndCloseBoth()
        h.set(.dischargeContactorFeedback, .active)
        h.advance(ms: 290)
        #expect(h.isClosed(.chargeRelay))
        h.advance(ms: 20)
        #expect(!h.isClosed(.chargeRelay))
        #expect(h.isClosed(.dischargeRelay))
        #expect(h.policy.faults.contains(.failedToClose(.charge)))
        h.advance(ms: 60_000)
        #expect(!h.isClosed(.chargeRelay), "latched")
    }

    @Test func feedbackClosedWhileCommandedOpenIsWeldedAndOpensEveryRelay() {
        var h = PolicyHarness(Self.config)
        h.startAndCloseBoth()
        h.set(.chargeContactorFeedback, .active)
        h.set(.dischargeContactorFeedback, .active)
        h.advance(ms: 100)
        h.set(.chargeEnable, .inactive)  // charge relay opens, its contactor stays closed
        h.step()
        h.advance(ms: 300)
        #expect(h.policy.faults.contains(.welded(.charge)))
        #expect(!h.isClosed(.dischargeRelay))
        #expect(h.reasons(containing: "welded").count >= 1)
    }

    @Test func resetIsRefusedWhileTheWeldedContactorStillReadsClosed() {
        var h = PolicyHarness(Self.config, levels: [.chargeContactorFeedback: .active])
        h.step()
        h.advance(ms: 3500)
        #expect(h.policy.faults.contains(.welded(.charge)))
        let refused = h.step(commands: [.reset])
        #expect(refused.events.contains { $0.kind == .commandRefused(.reset) && $0.reason == .resetRefused(stillClosed: [.charge]) })
        #expect(h.policy.faults.contains(.welded(.charge)))
        h.set(.chargeContactorFeedback, .inactive)
        h.step(commands: [.reset])
        #expect(!h.policy.faults.contains(.welded(.charge)))
    }
}

@Suite("Rule 9: faults")
struct FaultTests {
    @Test func aReadErrorOpensEveryRelayInTheSameStepAndRelaysRequalifyAfter() {
        var h = PolicyHarness(BalancingTests.config, levels: [.balanceSwitch: .active])
        h.startAndCloseBoth()
        #expect(h.isClosed(.chargeRelay) && h.isClosed(.balancePowerRelay))
        let result = h.step(failures: [.chargerSafety: "read GPIO22: EIO"])
        for relay in [OutputSignal.chargeRelay, .dischargeRelay, .balancePowerRelay, .shoreChargerRelay] {
            #expect(result.outputs[relay] == .inactive, "\(relay)")
        }
        #expect(result.events.contains { $0.reason.words.contains("read GPIO22: EIO") })
        #expect(!result.healthy)
        h.advance(ms: 10)  // cause cleared
        #expect(!h.policy.faults.contains(.inputReadError(.chargerSafety)))
        h.advance(ms: 4980)
        #expect(!h.isClosed(.chargeRelay), "minOff and re-qualification still apply")
        h.advance(ms: 20)
        #expect(h.isClosed(.chargeRelay))
    }

    @Test func anInputNotReadForInputStaleMsIsAFault() {
        var h = PolicyHarness(.minimal)
        h.startAndCloseBoth()
        var input = StepInput()
        input.readings[.chargeEnable] = .level(.active)  // discharge enable no longer read
        h.now = h.now + .milliseconds(1001)
        let result = h.policy.step(input, now: h.now)
        #expect(result.outputs[.chargeRelay] == .inactive)
        #expect(h.policy.faults.contains(.inputStale(.dischargeEnable)))
    }

    @Test func anOutputFailureOrMissedDeadlineOpensEveryRelay() {
        for (failure, missed) in [("set GPIO16: EIO", false), (nil, true)] as [(String?, Bool)] {
            var h = PolicyHarness(.minimal)
            h.startAndCloseBoth()
            let result = h.step(outputFailure: failure, loopDeadlineMissed: missed)
            #expect(result.outputs[.chargeRelay] == .inactive && result.outputs[.dischargeRelay] == .inactive)
            #expect(!result.healthy)
            #expect(h.policy.state == .faulted)
        }
    }

    @Test func forceOffHoldsEveryRelayOpenUntilReleasedThenRequalifies() {
        var h = PolicyHarness(.minimal)
        h.startAndCloseBoth()
        let result = h.step(commands: [.forceOff(true)])
        #expect(result.outputs[.chargeRelay] == .inactive && result.outputs[.dischargeRelay] == .inactive)
        #expect(h.policy.state == .forcedOff)
        h.advance(ms: 20_000)
        #expect(!h.isClosed(.chargeRelay))
        h.step(commands: [.forceOff(false)])
        h.advance(ms: 490)
        #expect(!h.isClosed(.chargeRelay))
        h.advance(ms: 10)
        #expect(h.isClosed(.chargeRelay))
    }
}

@Suite("Rules 10 and 11: indicators and reasons")
struct IndicatorTests {
    @Test func heartbeatTogglesOncePerHealthyStepOnly() {
        var h = PolicyHarness()
        h.step()
        let first = h.outputs[.heartbeat]
        h.step()
        #expect(h.outputs[.heartbeat] != first)
        let before = h.outputs[.heartbeat]
        h.step(failures: [.chargeEnable: "EIO"])
        #expect(h.outputs[.heartbeat] == before, "no toggle on an unhealthy step")
    }

    @Test func statusLedIsOnWhenRunningBlinksSlowWhenBalancingFastOnFaultAndOffWhenStopped() {
        var h = PolicyHarness(BalancingTests.config.with(outputs: [.statusLed]))
        h.step()
        h.advance(ms: 3000)
        #expect(h.outputs[.statusLed] == .active)
        h.set(.balanceSwitch, .active)
        h.advance(ms: 100)
        var seen = Set<Bool>()
        for _ in 0..<10 { h.advance(ms: 250); seen.insert(h.outputs[.statusLed].isActive) }
        #expect(seen == [true, false], "slow blink")
        #expect(h.lastResult?.nextDeadline.map { $0 - h.now <= .milliseconds(500) } == true)
        h.step(failures: [.chargeEnable: "EIO"])
        let deadline = h.lastResult?.nextDeadline
        #expect(deadline.map { $0 - h.now <= .milliseconds(125) } == true, "fast blink")
        _ = h.policy.shutdown(now: h.now, reason: "SIGTERM")
        #expect(h.outputs[.statusLed] == .inactive)
        #expect(h.policy.state == .stopped)
    }

    @Test func everyRelayChangeCarriesAReasonNamingRuleAndSignal() {
        var h = PolicyHarness(.minimal)
        h.startAndCloseBoth()
        h.set(.chargeEnable, .inactive)
        h.step()
        let changes = h.events.filter { if case .outputChanged = $0.kind { true } else { false } }
        #expect(changes.count == 3)
        #expect(changes.allSatisfy { $0.reason.words.contains("relay") && $0.reason.words.contains("BMS pin") })
    }

    @Test func shutdownOpensEveryRelayAndFurtherStepsChangeNothing() {
        var h = PolicyHarness(.minimal)
        h.startAndCloseBoth()
        let result = h.policy.shutdown(now: h.now, reason: "SIGTERM")
        #expect(!result.outputs[.chargeRelay].isActive && !result.outputs[.dischargeRelay].isActive)
        #expect(result.events.contains { $0.reason == .opened(.chargeRelay, because: .shutdown("SIGTERM")) })
        h.advance(ms: 10_000)
        #expect(!h.isClosed(.chargeRelay))
    }
}

extension PolicyConfiguration {
    func with(outputs extra: OutputSignals) -> PolicyConfiguration {
        var copy = self
        copy.outputs.formUnion(extra)
        return copy
    }
}
