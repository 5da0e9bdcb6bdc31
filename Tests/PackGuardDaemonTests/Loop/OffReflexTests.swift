import Glibc
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Synchronization
import Testing
@testable import PackGuardDaemon

/// The off reflex opens what a release always opens, on its own thread, and the control loop
/// never re-closes it before the policy has heard of the release.
@Suite("Off reflex")
struct OffReflexTests {
    func closedRig() throws -> Rig { try Rig.closed() }

    /// Waits up to 2 s of real time for `condition`.
    func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<400 {
            if condition() { return true }
            sleepMilliseconds(5)
        }
        return condition()
    }

    /// Whether `fd` is readable within `ms` milliseconds of real time.
    func readable(_ fd: Int32, withinMs ms: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, ms) == 1
    }

    func descriptor(of signal: InputSignal, in rig: Rig) throws -> Int32 {
        try #require(rig.controller.lines.eventDescriptorsBySignal.first { $0.signal == signal }?.fd)
    }

    /// The loop leaves the enables to the reflex: so the reflex must name every line it had an
    /// edge on, a release or an assert, and wake the loop once its write is done.
    @Test func theReflexHandsEveryEdgeOnToTheLoopAfterItsWrite() throws {
        let rig = try closedRig()
        let reflex = try OffReflex(lines: rig.controller.lines)
        #expect(reflex.arm())
        #expect(!reflex.forwardsEdges(now: SystemClock().now()), "not before it runs")
        #expect(reflex.start())
        defer { reflex.stop() }
        #expect(reflex.forwardsEdges(now: SystemClock().now()))
        let discharge = try descriptor(of: .dischargeEnable, in: rig)
        let charge = try descriptor(of: .chargeEnable, in: rig)
        #expect(Set(reflex.watchedDescriptors) == [discharge, charge])
        #expect(reflex.takeForwardedEdges().isEmpty)
        #expect(!readable(reflex.handOffDescriptor, withinMs: 0))

        rig.bms("GPIO27", asserted: false)
        #expect(readable(reflex.handOffDescriptor, withinMs: 2000))
        #expect(!rig.gpio.physicalLevel("GPIO20"), "written before the hand-off")
        #expect(reflex.takeForwardedEdges() == [discharge])
        #expect(!readable(reflex.handOffDescriptor, withinMs: 0), "drained by the take")
        #expect(reflex.takeForwardedEdges().isEmpty, "taken once")

        rig.bms("GPIO27", asserted: true)  // opens nothing, and the loop must hear of it all the same
        #expect(readable(reflex.handOffDescriptor, withinMs: 2000))
        #expect(reflex.takeForwardedEdges() == [discharge])
        #expect(reflex.openings == 1)
        #expect(try rig.controller.lines.readEdgeEvents(readable: [discharge]).map(\.event.edge) == [.falling, .rising],
                "the reflex consumed no event: the loop reads both")
    }

    /// A reaction that does not end (here its clock blocks after the write) must not keep the
    /// enables from the loop: past the stall limit the loop polls them itself, and says so once.
    @Test func aReactionStuckPastTheStallLimitGivesTheEnablesBackToTheLoop() throws {
        let rig = try closedRig()
        let log = RecordedLog()
        let clock = BlockingClock()
        let reflex = try OffReflex(lines: rig.controller.lines, clock: clock, logger: log.logger)
        #expect(reflex.arm())
        #expect(reflex.start())
        defer {
            clock.release()
            reflex.stop()
        }
        clock.block(afterCalls: 0)  // the end of its write blocks (its start is timed in C)
        rig.bms("GPIO27", asserted: false)
        #expect(eventually { clock.isBlocking })
        #expect(!rig.gpio.physicalLevel("GPIO20"), "it wrote before it got stuck")
        let now = SystemClock().now()
        #expect(reflex.forwardsEdges(now: now), "within the stall limit the reflex keeps the enables")
        #expect(!reflex.forwardsEdges(now: now + .milliseconds(60)))
        #expect(!reflex.forwardsEdges(now: now + .milliseconds(70)))
        let errors = log.all.filter { $0.0 == .error }.map(\.1)
        #expect(errors.count == 1, "logged once: \(errors)")
        #expect(errors.first?.contains("50 ms") == true)
        #expect(!readable(reflex.handOffDescriptor, withinMs: 0), "nothing is handed on while it is stuck")

        clock.release()
        #expect(readable(reflex.handOffDescriptor, withinMs: 2000))
        // The hand-off comes first, the end of the wake right after it (on the reflex's thread).
        #expect(eventually { reflex.forwardsEdges(now: SystemClock().now() + .milliseconds(60)) }, "once it is over")
        #expect(log.all.contains { $0 == (.notice, "the off reflex reacts again; the control loop leaves the enables to it") })
    }

    /// While epoll_wait fails the reflex is blind: the loop must poll the enables itself until a
    /// wait works again, which the reflex finds out without waiting for an edge.
    @Test func whileItsWaitsFailTheLoopPollsTheEnablesItself() throws {
        let rig = try closedRig()
        let failing = Atomic<Bool>(true)
        let calls = Atomic<Int>(0)
        let reflex = try OffReflex(lines: rig.controller.lines, logger: RecordedLog().logger, waitForEdges: { lines, epoll, wakes, timeoutMs in
            calls.add(1, ordering: .relaxed)
            if failing.load(ordering: .relaxed) {
                errno = EBADF
                return -1
            }
            return OffReflex.waitWithEpoll(lines, epoll, wakes, timeoutMs)
        })
        #expect(reflex.arm())
        #expect(reflex.start())
        defer { reflex.stop() }
        #expect(eventually { calls.load(ordering: .relaxed) > 2 })
        #expect(!reflex.forwardsEdges(now: SystemClock().now()))
        failing.store(false, ordering: .relaxed)
        #expect(eventually { reflex.forwardsEdges(now: SystemClock().now()) }, "with no edge to wake it")
    }

    /// The reflex's read-then-write: nothing is written unless the enable reads released, a read
    /// that fails writes nothing, and a relay open already is not written again.
    @Test func openRelaysIfReleasedWritesOnlyOnARelease() throws {
        let rig = try closedRig()
        let lines = rig.controller.lines
        var levels = OutputLevels(repeating: .active)
        levels[.dischargeRelay] = .inactive
        #expect(try lines.openRelays(levels, ifReleased: .dischargeEnable) == .asserted)
        #expect(rig.gpio.physicalLevel("GPIO20"), "asserted: nothing written")
        rig.bms("GPIO27", asserted: false)
        rig.gpio.failNextRead()
        #expect(try lines.openRelays(levels, ifReleased: .dischargeEnable) == .unreadable)
        #expect(rig.gpio.physicalLevel("GPIO20"), "unreadable: nothing written")
        #expect(lines.reflexOpenings == 0)
        var countWhenTold: Int?
        #expect(try lines.openRelays(levels, ifReleased: .dischargeEnable, whenReleased: { countWhenTold = lines.reflexOpenings })
                == .released(opened: 1))
        #expect(countWhenTold == 0, "told before the opening counts, so the loop's veto always finds the release")
        #expect(!rig.gpio.physicalLevel("GPIO20"))
        #expect(rig.gpio.physicalLevel("GPIO16"), "only what the levels open")
        #expect(lines.reflexOpenings == 1)
        #expect(lines.appliedOutputs[.dischargeRelay] == .inactive)
        #expect(lines.reflexReleases == 1)
        #expect(try lines.openRelays(levels, ifReleased: .dischargeEnable) == .released(opened: 0), "open already")
        #expect(lines.reflexOpenings == 1, "nothing opened")
        #expect(lines.reflexReleases == 2, "but a release all the same: it vetoes a write decided before it")
    }

    @Test func aReleaseOpensItsRelayOnTheReflexThreadWithoutAStep() throws {
        let rig = try closedRig()
        let reflex = try OffReflex(lines: rig.controller.lines)
        #expect(reflex.arm())
        #expect(reflex.start())
        defer { reflex.stop() }
        rig.bms("GPIO27", asserted: false)
        #expect(eventually { !rig.gpio.physicalLevel("GPIO20") }, "the discharge relay opens with no control step")
        #expect(rig.gpio.physicalLevel("GPIO16"), "the charge relay stays closed")
        #expect(reflex.openings == 1)
        #expect(rig.controller.lines.reflexOpenings == 1)
        let taken = reflex.takeReleases()
        #expect(taken.map(\.signal) == [.dischargeEnable])
        #expect(taken.first?.openedAt != nil, "it says when its write ended")
        #expect(reflex.takeReleases().isEmpty, "taken once")
        // The control loop's step agrees, reads the fast path's write back, and logs the reason.
        try rig.step()
        #expect(rig.controller.currentPolicy.currentOutputs[.dischargeRelay] == .inactive)
        #expect(rig.controller.lines.appliedOutputs[.dischargeRelay] == .inactive)
    }

    @Test func theReflexsOpeningIsTheOffReactionTheStepRecords() throws {
        let rig = try closedRig()  // the chip stamps edges on the real clock, which the reflex reads too
        let reflex = try OffReflex(lines: rig.controller.lines)
        #expect(reflex.arm())
        #expect(reflex.start())
        defer { reflex.stop() }
        rig.controller.reflex = reflex
        rig.bms("GPIO27", asserted: false)
        #expect(eventually { reflex.openings == 1 })
        rig.clock.advance(.milliseconds(1))
        try rig.step()
        let reaction = rig.controller.offReaction.report
        #expect(reaction.count == 1, "recorded from the reflex's write, not the step's (which found the relay open)")
        #expect(reaction.maxUs < 2_000_000)
        #expect(rig.controller.currentPolicy.currentOutputs[.dischargeRelay] == .inactive)
    }

    @Test func anAssertOrTheBalancingSwitchOpensNothing() throws {
        let rig = try Rig()
        rig.bms("GPIO17", asserted: true)
        let reflex = try OffReflex(lines: rig.controller.lines)
        #expect(reflex.arm())
        #expect(reflex.start())
        defer { reflex.stop() }
        rig.bms("GPIO27", asserted: true)
        rig.bms("GPIO23", asserted: true)  // balancing switch: not watched
        sleepMilliseconds(100)
        #expect(reflex.openings == 0)
        #expect(reflex.takeReleases().isEmpty)
    }

    /// A release too short for the step to see (its edges lost, the line asserted again by the
    /// reconciling read) that the reflex caught: the step must not re-close the relay it opened.
    @Test func aStepDecidedBeforeTheReflexOpenedDoesNotReCloseTheRelay() throws {
        let rig = try closedRig()
        let reflex = try OffReflex(lines: rig.controller.lines)  // not started: driven by hand below
        rig.controller.reflex = reflex
        rig.gpio.dropEvents(true)
        rig.clock.advance(.milliseconds(10))
        let result = try rig.controller.step(now: rig.clock.now(), handOff: {
            rig.bms("GPIO27", asserted: false)
            reflex.react(to: .dischargeEnable)  // the reflex thread, between the edges and the outputs
            rig.bms("GPIO27", asserted: true)
        })
        #expect(!rig.gpio.physicalLevel("GPIO20"), "the relay the reflex opened stays open")
        #expect(result.outputs[.dischargeRelay] == .inactive, "the policy heard of the release")
        #expect(rig.gpio.physicalLevel("GPIO16"))
        #expect(rig.controller.events.last(10).contains { $0.reason == "discharge relay opened: Discharge Enable (BMS pin 3) released" })
        // It re-closes only once the enable has qualified again.
        try rig.run(ms: 400)
        #expect(!rig.gpio.physicalLevel("GPIO20"))
        try rig.run(ms: 5000)
        #expect(rig.gpio.physicalLevel("GPIO20"))
    }

    @Test func aReleaseWhileTheRelaysAreAlreadyOpenIsStillToldToTheLoop() throws {
        let rig = try Rig()
        let reflex = try OffReflex(lines: rig.controller.lines)
        rig.bms("GPIO17", asserted: false)
        reflex.react(to: .chargeEnable)
        #expect(reflex.openings == 0)
        let taken = reflex.takeReleases()
        #expect(taken.map(\.signal) == [.chargeEnable])
        #expect(taken.first?.openedAt == nil, "it opened nothing")
        rig.bms("GPIO17", asserted: true)
        reflex.react(to: .chargeEnable)
        #expect(reflex.takeReleases().isEmpty, "an asserted enable is no release")
    }

    /// A reflex that cannot write is a slower controller: the user hears of it once, and once more
    /// when it writes again, never at every edge.
    @Test func aFailingReflexWriteIsLoggedWhenItStartsAndWhenItWorksAgain() throws {
        let rig = try closedRig()
        let log = RecordedLog()
        let reflex = try OffReflex(lines: rig.controller.lines, logger: log.logger)  // driven by hand
        rig.bms("GPIO27", asserted: false)
        for _ in 0..<3 {
            rig.gpio.failNextSet(lines: ["GPIO20": EIO])
            reflex.react(to: .dischargeEnable)
        }
        #expect(rig.gpio.physicalLevel("GPIO20"), "the write failed: only the control loop can open it now")
        #expect(reflex.openings == 0)
        let errors = log.all.filter { $0.0 == .error }.map(\.1)
        #expect(errors.count == 1, "logged once, not at every edge: \(errors)")
        #expect(errors.first?.contains("Discharge Enable (BMS pin 3)") == true)
        #expect(errors.first?.contains("GPIO20") == true, "it names the line: \(errors)")
        #expect(reflex.takeReleases().map(\.signal) == [.dischargeEnable], "the loop still hears of the release")

        reflex.react(to: .dischargeEnable)
        #expect(!rig.gpio.physicalLevel("GPIO20"))
        reflex.react(to: .dischargeEnable)
        let notices = log.all.filter { $0.0 == .notice }.map(\.1)
        #expect(notices == ["the off reflex opens relays again"])
        #expect(log.all.filter { $0.0 == .error }.count == 1)
    }

    /// epoll_wait cannot fail on a valid epoll fd, but if it did the reflex must neither spin nor
    /// stay silent, and must react again once its waits work.
    @Test func aFailingWaitIsLoggedOnceAndTheReflexReactsOnceItWorks() throws {
        let rig = try closedRig()
        let log = RecordedLog()
        let failures = Atomic<Int>(3)
        let reflex = try OffReflex(lines: rig.controller.lines, logger: log.logger, waitForEdges: { lines, epoll, wakes, timeoutMs in
            if failures.subtract(1, ordering: .relaxed).oldValue > 0 {
                errno = EBADF
                return -1
            }
            return OffReflex.waitWithEpoll(lines, epoll, wakes, timeoutMs)
        })
        #expect(reflex.arm())
        #expect(reflex.start())
        defer { reflex.stop() }
        rig.bms("GPIO27", asserted: false)
        #expect(eventually { !rig.gpio.physicalLevel("GPIO20") }, "the reflex reacts once its waits work")
        let errors = log.all.filter { $0.0 == .error }.map(\.1)
        #expect(errors.count == 1, "three failed waits, one line: \(errors)")
        #expect(errors.first?.contains("errno \(EBADF)") == true)
        #expect(eventually { log.all.contains { $0 == (.notice, "the off reflex waits for edges again") } })
    }
}

/// The system clock, except that once `block(afterCalls:)` is set it holds the caller of the
/// call after that many until `release()`: a reflex reaction that does not end.
final class BlockingClock: DaemonClock, Sendable {
    private struct Gate {
        var callsLeft: Int?
        var blocking = false
        var released = false
    }
    private let gate = Mutex(Gate())

    func block(afterCalls calls: Int) { gate.withLock { $0.callsLeft = calls } }

    var isBlocking: Bool { gate.withLock { $0.blocking } }

    func release() { gate.withLock { $0.released = true } }

    func now() -> Instant {
        let blocks = gate.withLock { gate -> Bool in
            guard let left = gate.callsLeft, !gate.released else { return false }
            if left > 0 {
                gate.callsLeft = left - 1
                return false
            }
            gate.blocking = true
            return true
        }
        if blocks {
            while !gate.withLock({ $0.released }) { sleepMilliseconds(1) }
            gate.withLock { $0.blocking = false }
        }
        return SystemClock().now()
    }
}
