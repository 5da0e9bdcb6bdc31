import Glibc
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import PackGuardTestSupport
import Testing
@testable import PackGuardDaemon

/// The off fast path orders the I/O of a step; the policy still decides every level.
@Suite("Off fast path")
struct OffFastPathTests {
    /// Only a rising edge after a rising one is a merged release (the falling edge between them
    /// lost); the fast path's table write and the policy's steps share this one rule.
    @Test(arguments: [
        (EdgeEvent.Edge.rising, EdgeEvent.Edge?.some(.rising), true),
        (.rising, nil, false), (.rising, .falling, false), (.falling, .rising, false), (.falling, .falling, false),
        (.falling, nil, false),
    ] as [(EdgeEvent.Edge, EdgeEvent.Edge?, Bool)])
    func aMergedReleaseIsARisingEdgeAfterARisingOne(edge: EdgeEvent.Edge, previous: EdgeEvent.Edge?, merged: Bool) {
        #expect(Controller.isMergedRelease(edge, after: previous) == merged)
    }

    static let relayLines: Set<String> = ["GPIO16", "GPIO20", "GPIO21", "GPIO26"]
    static let inputLines: Set<String> = ["GPIO17", "GPIO27", "GPIO22", "GPIO23"]

    /// Both enables asserted and both relays closed.
    func closedRig(virtualEdgeTimes: Bool = false) throws -> Rig { try Rig.closed(virtualEdgeTimes: virtualEdgeTimes) }

    /// Both enables asserted, one step short of the close (startup hold + qualify).
    func rigAboutToClose() throws -> Rig {
        let rig = try Rig()
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.step()
        try rig.run(ms: 3450)
        try #require(!rig.gpio.physicalLevel("GPIO20") && !rig.gpio.physicalLevel("GPIO16"))
        rig.clock.advance(.milliseconds(50))
        return rig
    }

    /// The control loop's step leaves its closing writes for right before it sleeps: nothing of the
    /// step runs after them, and they are written once, after every other write of the step.
    @Test func aDeferringStepClosesItsRelaysOnlyWhenTheLoopAsks() throws {
        let rig = try rigAboutToClose()
        rig.gpio.startTrace()
        let result = try rig.controller.step(now: rig.clock.now(), deferClosing: true)
        #expect(result.outputs[.dischargeRelay] == .active && result.outputs[.chargeRelay] == .active, "the policy closes both")
        #expect(!rig.gpio.physicalLevel("GPIO20") && !rig.gpio.physicalLevel("GPIO16"), "not written by the step")
        let stepTrace = rig.gpio.takeTrace()
        #expect(!rig.controller.closePendingRelays(), "no failure")
        #expect(rig.gpio.physicalLevel("GPIO20") && rig.gpio.physicalLevel("GPIO16"))
        let closeTrace = rig.gpio.takeTrace()
        #expect(Set(closeTrace) == ["write GPIO16=active", "write GPIO20=active"], "only the closing writes: \(closeTrace)")
        #expect(!stepTrace.contains { $0.hasPrefix("write GPIO16") || $0.hasPrefix("write GPIO20") }, "\(stepTrace)")
        #expect(!rig.controller.closePendingRelays())
        #expect(rig.gpio.takeTrace().isEmpty, "written once")
        try rig.run(ms: 50)
        #expect(rig.gpio.physicalLevel("GPIO20") && rig.gpio.physicalLevel("GPIO16"), "a later step keeps them closed")
    }

    /// A close decided before the watchdog monitor tripped, or before the off reflex found a
    /// release, is never written: the loop steps at once and decides again.
    @Test func aPendingCloseIsVetoedByATripOrAReflexOpening() throws {
        let tripped = try rigAboutToClose()
        try tripped.controller.step(now: tripped.clock.now(), deferClosing: true)
        tripped.controller.health.withLock { $0.tripped = true }
        #expect(tripped.controller.closePendingRelays(), "vetoed: the loop steps at once")
        #expect(!tripped.gpio.physicalLevel("GPIO20") && !tripped.gpio.physicalLevel("GPIO16"))

        let released = try rigAboutToClose()
        try released.controller.step(now: released.clock.now(), deferClosing: true)
        // Between the step and the loop's close, Charge Enable is released and the reflex reacts:
        // nothing is closed yet, so it opens nothing, but the release counts.
        released.bms("GPIO17", asserted: false)
        var levels = OutputLevels(repeating: .active)
        levels[.chargeRelay] = .inactive
        let before = released.controller.lines.reflexReleases
        #expect(try released.controller.lines.openRelays(levels, ifReleased: .chargeEnable) == .released(opened: 0))
        #expect(released.controller.lines.reflexReleases == before + 1)
        #expect(released.controller.closePendingRelays(), "vetoed: the loop steps at once")
        #expect(!released.controller.closePendingRelays(), "nothing pending any more")
        #expect(!released.gpio.physicalLevel("GPIO20") && !released.gpio.physicalLevel("GPIO16"), "neither relay re-closed")
        try released.run(ms: 50)
        #expect(!released.gpio.physicalLevel("GPIO16"), "the policy heard of the release")
        #expect(released.gpio.physicalLevel("GPIO20"), "and closes the discharge relay again on its own decision")
    }

    /// A closing write that fails opens every relay, and the loop steps at once so that the
    /// policy faults.
    /// Whichever relay fails, the first written or the second (none is closed after a failure).
    @Test(arguments: ["GPIO16", "GPIO20"])
    func aFailingPendingCloseOpensEveryRelayAndFaults(failing: String) throws {
        let rig = try rigAboutToClose()
        try rig.controller.step(now: rig.clock.now(), deferClosing: true)
        rig.gpio.failNextSet(lines: [failing: EIO])
        #expect(rig.controller.closePendingRelays(), "the loop must step now")
        #expect(!rig.gpio.physicalLevel("GPIO20") && !rig.gpio.physicalLevel("GPIO16"))
        #expect(rig.controller.lines.appliedOutputs[.chargeRelay] == .inactive && rig.controller.lines.appliedOutputs[.dischargeRelay] == .inactive,
                "every relay applied open again")
        rig.clock.advance(.milliseconds(1))
        try rig.step()
        #expect(rig.controller.currentPolicy.faults.contains(.outputWriteError))
        #expect(!rig.gpio.physicalLevel("GPIO20") && !rig.gpio.physicalLevel("GPIO16"))
    }

    @Test func aReleasedEnableIsWrittenOffBeforeAnyReadTheHandOffOrTheLog() throws {
        let rig = try closedRig()
        let eventsBefore = rig.controller.events.last(1000).count
        rig.bms("GPIO27", asserted: false)
        rig.gpio.startTrace()
        var atHandOff: [String] = []
        var loggedAtHandOff = -1
        rig.clock.advance(.milliseconds(1))
        let result = try rig.controller.step(now: rig.clock.now(), handOff: {
            atHandOff = rig.gpio.takeTrace()
            loggedAtHandOff = rig.controller.events.last(1000).count
        })
        let after = rig.gpio.takeTrace()
        // Before the hand-off: the edge reads, then the discharge relay's off write; nothing else.
        #expect(atHandOff.last == "write GPIO20=inactive")
        #expect(atHandOff.dropLast().allSatisfy { $0.hasPrefix("edges ") }, "\(atHandOff)")
        #expect(loggedAtHandOff == eventsBefore, "the relay change is logged after the write and the hand-off")
        // After it: the reconciling read of every input, and the relay's read-back; no second write.
        #expect(Self.inputLines.allSatisfy { after.contains("read \($0)") }, "\(after)")
        #expect(after.contains("read GPIO20"), "the fast path's write is read back with the step")
        #expect(!after.contains("write GPIO20=inactive"))
        #expect(!rig.gpio.physicalLevel("GPIO20"))
        #expect(rig.gpio.physicalLevel("GPIO16"), "the charge relay stays closed")
        #expect(rig.controller.lines.appliedOutputs[.dischargeRelay] == result.outputs[.dischargeRelay])
        #expect(rig.controller.events.last(10).contains { $0.reason == "discharge relay opened: Discharge Enable (BMS pin 3) released" })
    }

    @Test func aMergedReleaseTwoRisingEdgesIsWrittenOffByTheReflexBeforeTheHandOff() throws {
        let rig = try closedRig()
        // The kernel lost the falling edge of a short release: "rising, rising" on a line that
        // reads asserted again by the time the step reads it.
        rig.gpio.emitEdge("GPIO27", .rising)
        rig.gpio.startTrace()
        var atHandOff: [String] = []
        rig.clock.advance(.milliseconds(1))
        let result = try rig.controller.step(now: rig.clock.now(), handOff: { atHandOff = rig.gpio.takeTrace() })
        #expect(atHandOff.last == "write GPIO20=inactive", "\(atHandOff)")
        #expect(!rig.gpio.physicalLevel("GPIO20"))
        #expect(result.outputs[.dischargeRelay] == .inactive, "the policy agrees: the release happened")
        #expect(rig.controller.offReaction.count == 1)
    }

    @Test func theOffReactionCountsReleasesThatOpenedARelayAndNothingElse() throws {
        let rig = try closedRig(virtualEdgeTimes: true)
        #expect(rig.controller.offReaction.count == 0, "closing relays is no off-reaction")
        rig.bms("GPIO23", asserted: true)  // the balancing switch: an edge, no relay opened by the reflex
        rig.clock.advance(.milliseconds(1))
        try rig.step()
        #expect(rig.controller.offReaction.count == 0)
        rig.clock.advance(.milliseconds(2))
        rig.bms("GPIO27", asserted: false)
        rig.clock.advance(.milliseconds(3))
        try rig.step()
        let report = rig.controller.offReaction.report
        #expect(report.count == 1)
        // On the virtual clock: from the edge's timestamp (3 ms before the step) to the write.
        #expect(report.maxUs == 3000)
        rig.bms("GPIO27", asserted: true)
        rig.bms("GPIO27", asserted: false)  // released again while its relay is already open
        rig.clock.advance(.milliseconds(1))
        try rig.step()
        #expect(rig.controller.offReaction.count == 1, "no relay was closed, so nothing was opened")
    }

    @Test func aStepWithoutEdgesWritesEveryOpeningBeforeAnyReadBackOrClosing() throws {
        let rig = try closedRig()
        // Both enables lost without edges: only the reconciling read sees it.
        rig.gpio.dropEvents(true)
        rig.bms("GPIO17", asserted: false)
        rig.bms("GPIO27", asserted: false)
        rig.gpio.startTrace()
        rig.clock.advance(.milliseconds(250))
        try rig.step()
        let trace = rig.gpio.takeTrace().filter { !$0.hasPrefix("read GPIO1") || $0 == "read GPIO16" }
        let writes = trace.enumerated().filter { $0.element.hasPrefix("write GPIO16") || $0.element.hasPrefix("write GPIO20") }
        let readBacks = trace.enumerated().filter { $0.element == "read GPIO16" || $0.element == "read GPIO20" }
        #expect(writes.count == 2 && readBacks.count == 2, "\(trace)")
        #expect(writes.allSatisfy { write in readBacks.allSatisfy { write.offset < $0.offset } }, "both written before either is read back: \(trace)")
        #expect(!rig.gpio.physicalLevel("GPIO16") && !rig.gpio.physicalLevel("GPIO20"))
    }

    @Test func aFastPathWriteThatFailsIsAnOutputFailureEvenWhenTheRetryWorks() throws {
        let rig = try closedRig()
        rig.gpio.failNextSet(lines: ["GPIO20": EIO])
        rig.bms("GPIO27", asserted: false)
        rig.clock.advance(.milliseconds(1))
        let result = try rig.step()
        #expect(!rig.gpio.physicalLevel("GPIO20"))
        #expect(!rig.gpio.physicalLevel("GPIO16"), "an output failure opens every relay")
        #expect(!result.healthy)
        #expect(rig.controller.currentPolicy.faults.contains { $0.code == "outputWriteError" }, "\(rig.controller.currentPolicy.faults)")
    }

    @Test func onlyTheLinesPollReportedAreReadAndTheOthersKeepTheirEvents() throws {
        let rig = try closedRig()
        let fds = rig.controller.lines.eventFileDescriptors
        try #require(fds.count == 4)
        rig.bms("GPIO27", asserted: false)
        rig.bms("GPIO17", asserted: false)
        rig.gpio.startTrace()
        #expect(try rig.controller.lines.readEdgeEvents(readable: []).isEmpty)
        #expect(rig.gpio.takeTrace().isEmpty, "no line is read")
        // In signal order: chargeEnable (GPIO17) first, dischargeEnable (GPIO27) second.
        let discharge = try rig.controller.lines.readEdgeEvents(readable: [fds[1]])
        #expect(discharge.map(\.signal) == [.dischargeEnable])
        #expect(rig.gpio.takeTrace() == ["edges GPIO27"])
        let rest = try rig.controller.lines.readEdgeEvents()
        #expect(rest.map(\.signal) == [.chargeEnable], "the line not reported keeps its event for the next full read")
    }


    /// Random BMS behaviour (levels, short pulses, lost edges, failed writes, any step timing):
    /// after every step the applied outputs and the lines are exactly the policy's outputs, and
    /// nothing is ever switched on before the reconciling read.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func appliedOutputsAlwaysEqualThePolicysAndNothingClosesEarly(seed: UInt64) throws {
        var random = SeededGenerator(state: seed)
        let rig = try Rig()
        let inputs = ["GPIO17", "GPIO27", "GPIO22", "GPIO23"]
        let outputs: [(OutputSignal, String)] = [(.chargeRelay, "GPIO16"), (.dischargeRelay, "GPIO20"),
                                                 (.balancePowerRelay, "GPIO21"), (.shoreChargerRelay, "GPIO26"),
                                                 (.statusLed, "GPIO13"), (.heartbeat, "GPIO12")]
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        rig.gpio.startTrace()
        for iteration in 0..<600 {
            var failureInjected = false
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4:
                rig.bms(inputs.randomElement(using: &random)!, asserted: Bool.random(using: &random))
            case 4:
                let line = inputs.randomElement(using: &random)!  // a pulse over before the step
                rig.bms(line, asserted: false)
                rig.bms(line, asserted: true)
            case 5:
                rig.gpio.dropEvents(Bool.random(using: &random))
            case 6 where Int.random(in: 0..<8, using: &random) == 0:
                rig.gpio.failNextSet(errno: EIO)  // the next write fails, whichever line it is
                failureInjected = true
            default:
                break
            }
            rig.clock.advance(.milliseconds(Int.random(in: 0...700, using: &random)))
            let result: StepResult
            do {
                result = try rig.step()
            } catch {
                Issue.record("the simulated chip can always drive off: \(error)")
                return
            }
            let applied = rig.controller.lines.appliedOutputs
            for (signal, line) in outputs {
                // A failed write opens everything (forceAllOff) in the same step: the indicators
                // then stay off until the next step, the relays agree with the policy regardless.
                let forcedOff = failureInjected && !signal.isRelay && applied[signal] == .inactive
                #expect(applied[signal] == result.outputs[signal] || forcedOff,
                        "\(signal) applied as the policy says (step \(iteration), failure injected: \(failureInjected))")
                #expect(rig.gpio.physicalLevel(line) == applied[signal]?.isActive, "\(line) drives the applied level")
            }
            let trace = rig.gpio.takeTrace()
            let firstRead = trace.firstIndex { op in Self.inputLines.contains { op == "read \($0)" } } ?? trace.count
            #expect(trace[..<firstRead].allSatisfy { !$0.hasSuffix("=active") }, "nothing closes before the inputs are read: \(trace)")
        }
    }
}
