import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Testing
@testable import PackGuardDaemon

/// What a step reads: a wake of the timer or of edges reads only the lines that had something to
/// read, and the reconciling read (every line's edges and every input's level) comes every
/// `loop.reconcileMs` at least, whenever the policy's own deadline has come, and for commands.
@Suite("The reconciling read")
struct ReconcilingReadTests {
    static let inputLines = ["GPIO17", "GPIO27", "GPIO22", "GPIO23"]

    func closedRig(_ configuration: PackGuardConfiguration = BuiltInConfiguration.load()) throws -> Rig {
        try Rig.closed(configuration: configuration)
    }

    /// The inputs a trace read, by what it did to them.
    func inputReads(_ trace: [String]) -> (levels: [String], edges: [String]) {
        (Self.inputLines.filter { trace.contains("read \($0)") }, Self.inputLines.filter { trace.contains("edges \($0)") })
    }

    func descriptor(of signal: InputSignal, in rig: Rig) throws -> Int32 {
        try #require(rig.controller.lines.eventDescriptorsBySignal.first { $0.signal == signal }?.fd)
    }

    @Test func aTimerWakeReadsNoInputUntilReconcileMsHasPassedThenEveryLine() throws {
        let rig = try closedRig()
        let reconcileMs = rig.configuration.loop.reconcileMs
        var elapsed = 0
        // Heartbeat wakes (every 45 ms, as the loop schedules them) before reconcileMs.
        while elapsed + 45 < reconcileMs {
            rig.clock.advance(.milliseconds(45))
            elapsed += 45
            rig.gpio.startTrace()
            let result = try rig.controller.step(now: rig.clock.now(), readableEdges: [])
            let trace = rig.gpio.takeTrace()
            #expect(inputReads(trace) == ([], []), "at \(elapsed) ms: \(trace)")
            #expect(trace.contains { $0.hasPrefix("write GPIO12=") }, "the heartbeat still toggles: \(trace)")
            #expect(result.outputs[.dischargeRelay] == .active && result.healthy)
        }
        rig.clock.advance(.milliseconds(reconcileMs - elapsed))
        rig.gpio.startTrace()
        try rig.controller.step(now: rig.clock.now(), readableEdges: [])
        let reconciling = rig.gpio.takeTrace()
        #expect(inputReads(reconciling) == (Self.inputLines, Self.inputLines), "\(reconciling)")
        // And the next heartbeat wake reads nothing again.
        rig.clock.advance(.milliseconds(45))
        rig.gpio.startTrace()
        try rig.controller.step(now: rig.clock.now(), readableEdges: [])
        #expect(inputReads(rig.gpio.takeTrace()) == ([], []))
    }

    @Test func anEdgeWakeReadsTheLineThatHadTheEdgeAndNoOther() throws {
        let rig = try closedRig()
        rig.clock.advance(.milliseconds(20))
        rig.bms("GPIO17", asserted: false)
        rig.gpio.startTrace()
        let result = try rig.controller.step(now: rig.clock.now(), readableEdges: [descriptor(of: .chargeEnable, in: rig)])
        let trace = rig.gpio.takeTrace()
        #expect(inputReads(trace) == (["GPIO17"], ["GPIO17"]), "\(trace)")
        #expect(result.outputs[.chargeRelay] == .inactive && !rig.gpio.physicalLevel("GPIO16"), "the release opened its relay")
        #expect(result.outputs[.dischargeRelay] == .active, "the levels not read again are the last ones read")
    }

    /// A relay closes only on levels just read: the step at the policy's deadline (here the end of
    /// the minimum off time, long before reconcileMs) reads every line.
    @Test func theStepAtThePolicysDeadlineReadsEveryLineBeforeARelayCloses() throws {
        var configuration = BuiltInConfiguration.load()
        configuration.loop.reconcileMs = 5000
        configuration.policy.timing.inputStaleMs = 10_000
        configuration.policy.timing.minOffMs = 600
        let rig = try closedRig(configuration)
        let discharge = try descriptor(of: .dischargeEnable, in: rig)
        rig.clock.advance(.milliseconds(10))
        rig.bms("GPIO27", asserted: false)
        try rig.controller.step(now: rig.clock.now(), readableEdges: [discharge])
        rig.clock.advance(.milliseconds(10))
        rig.bms("GPIO27", asserted: true)
        let reasserted = try rig.controller.step(now: rig.clock.now(), readableEdges: [discharge])
        #expect(reasserted.outputs[.dischargeRelay] == .inactive)
        // Wake as the loop does: at the heartbeat's 45 ms, or at the policy's deadline when sooner.
        var deadline = reasserted.nextDeadline
        var closedBy: [String]?
        let giveUp = rig.clock.now() + .milliseconds(2000)
        while closedBy == nil && rig.clock.now() < giveUp {
            var wake = rig.clock.now() + .milliseconds(45)
            if let deadline, deadline < wake { wake = deadline }
            let atDeadline = deadline == wake
            rig.clock.advance(wake - rig.clock.now())
            rig.gpio.startTrace()
            let result = try rig.controller.step(now: rig.clock.now(), readableEdges: [])
            let trace = rig.gpio.takeTrace()
            #expect(atDeadline == (inputReads(trace) == (Self.inputLines, Self.inputLines)),
                    "every line is read at the policy's deadlines and only then: \(trace)")
            if result.outputs[.dischargeRelay] == .active { closedBy = trace }
            deadline = result.nextDeadline
        }
        let trace = try #require(closedBy, "the discharge relay closes once its minimum off time is over")
        #expect(inputReads(trace) == (Self.inputLines, Self.inputLines), "\(trace)")
        #expect(rig.gpio.physicalLevel("GPIO20"))
    }

    /// When the edges of a wake cannot be read, the same step reads every input's level: a release
    /// among those edges opens its relay now, not at the next wake.
    @Test func anEdgeWakeWhoseEdgesCannotBeReadReadsEveryLevel() throws {
        let rig = try closedRig()
        rig.clock.advance(.milliseconds(20))
        rig.bms("GPIO27", asserted: false)
        rig.gpio.failNextEdgeRead()
        rig.gpio.startTrace()
        let result = try rig.controller.step(now: rig.clock.now(), readableEdges: [descriptor(of: .dischargeEnable, in: rig)])
        let trace = rig.gpio.takeTrace()
        #expect(inputReads(trace).levels == Self.inputLines, "\(trace)")
        #expect(result.outputs[.dischargeRelay] == .inactive && !rig.gpio.physicalLevel("GPIO20"), "the release opened its relay")
        #expect(rig.controller.edgeReadsFailing)
    }

    @Test func aCommandMakesTheStepReadEveryLine() throws {
        let rig = try closedRig()
        rig.clock.advance(.milliseconds(45))
        rig.controller.submit(.reset)
        rig.gpio.startTrace()
        try rig.controller.step(now: rig.clock.now(), readableEdges: [])
        #expect(inputReads(rig.gpio.takeTrace()) == (Self.inputLines, Self.inputLines))
    }

    /// Status shows every input's last level read, also after steps that read only some.
    @Test func statusKeepsTheLevelsOfInputsNotReadInThisStep() throws {
        let rig = try closedRig()
        rig.clock.advance(.milliseconds(45))
        try rig.controller.step(now: rig.clock.now(), readableEdges: [])
        rig.clock.advance(.milliseconds(5))
        rig.bms("GPIO17", asserted: false)
        try rig.controller.step(now: rig.clock.now(), readableEdges: [descriptor(of: .chargeEnable, in: rig)])
        let inputs = try #require(rig.controller.statusReport?.inputs)
        #expect(inputs["chargeEnable"]?.logical == "inactive")
        #expect(inputs["dischargeEnable"]?.logical == "active")
        #expect(inputs["chargerSafety"]?.logical == "inactive" && inputs["balanceSwitch"]?.logical == "inactive")
    }
}
