import CLinuxEvents
import Glibc
import Logging
import PackGuardCore
import PackGuardGPIO
import Synchronization

/// The off reflex: a thread of its own that waits on the enables' edge descriptors and, when an
/// enable reads released, opens the relays the policy's table says a release always opens
/// (`SafetyPolicy.relaysOpened(byReleaseOf:)`), before the control loop has even woken. It only
/// ever opens; it consumes no edge event (edge-triggered epoll, then a level read), so the control
/// loop still steps the policy on every edge. What it saw is handed to the control loop
/// (`takeReleases`), and each opening vetoes a `setOutputs` decided before it, so the loop never
/// re-closes what the reflex opened without the policy having heard of the release.
///
/// Why a thread: the control loop's wake is also where it logs, samples, publishes and reads back;
/// a release that arrives meanwhile would wait for all of that.
///
/// Why C: with libgpiod lines the wait and the reactions are one C call (`SignalLines.reflexWait`),
/// so that between the wake-up and the relay write there is no Swift at all (in the rig's emulated
/// guest the Swift path from the wake to the level read took 70 to 690 µs; the C reflex's, 15 to
/// 30). What the reflex does after the write (logging, the hand-off) stays here. On the mocked
/// chip the same loop reacts in Swift, through `SignalLines.openRelays(_:ifReleased:)`.
///
/// The hand-off: while the reflex works (`forwardsEdges`), the control loop does not poll the
/// descriptors the reflex watches. After its reaction the reflex names the lines that had an edge
/// (`takeForwardedEdges`) and wakes the loop through `handOffDescriptor`, so that a release wakes
/// one thread, not two competing for the CPU the write needs. When its waits fail, or a reaction
/// has run for over `stallLimit`, the loop polls those descriptors itself again.
final class OffReflex: @unchecked Sendable {
    // @unchecked: `epoll` and the wake pipe are fixed at init and used through thread-safe system
    // calls; `thread` is touched by start/stop on the control thread only; the rest is Mutex/Atomic.
    private let lines: SignalLines
    private let clock: any DaemonClock
    private let logger: Logger
    /// How the reflex waits for edges: epoll_wait(2), or a test's stand-in that fails.
    private let waitForEdges: EdgeWait
    /// Whether the last write (or wait) failed: each is logged when it starts failing and when it
    /// works again, never at every edge. The reflex thread's own (or the test's that drives `react`).
    private var writesFailing = false
    private var waitsFailing = false
    private let epoll: Int32
    private let wake: WakePipe
    private let running = Atomic<Bool>(false)
    /// Per enable: seen released since the last `takeReleases`, and when the reflex's write
    /// that opened its relays ended (nil when they were open already). Reactions in Swift only;
    /// those in C are kept by `SignalLines` (`takeReflexReleases`).
    private let seen = Mutex(PerInput<Sighting?>(repeating: nil))
    /// `lines.reflexOpenings` when this reflex was made (the lines may outlive it).
    private let openingsBefore: Int
    /// The last outcome of each enable's C reactions that failed (nil: none failing), so that a
    /// failure is logged when it starts and when it ends. Reflex thread only.
    private var failingInC = PerInput<String?>(repeating: nil)
    private var thread: pthread_t?
    private var armed: [Int32] = []
    /// The descriptor of each watched enable, for the loop's hand-off (control thread only, like `arm`).
    private var armedBySignal = PerInput<Int32?>(repeating: nil)
    /// Wakes the control loop once a reaction is over; the lines it concerned are `forwardedKeys`.
    private let handOff: WakePipe
    /// One bit per input (its index in `signals`): an edge the loop has not read yet.
    private let forwardedKeys = Atomic<UInt32>(0)
    /// False while the reflex's waits fail: the loop then polls the enables itself.
    private let waiting = Atomic<Bool>(true)
    private let armings = Atomic<Int>(0)
    /// Whether the loop was last told that a reaction is stuck (control thread only).
    private var stallReported = false
    /// Per enable, the levels that open what its release opens (the rest left as they are): the
    /// policy's table, worked out once so that a reaction allocates nothing.
    private let opens: PerInput<OutputLevels?> = {
        var table = PerInput<OutputLevels?>(repeating: nil)
        for signal in InputSignal.allCases {
            let relays = SafetyPolicy.relaysOpened(byReleaseOf: signal)
            guard !relays.isEmpty else { continue }
            var levels = OutputLevels(repeating: .active)
            for relay in relays { levels[relay] = .inactive }
            table[signal] = levels
        }
        return table
    }()

    /// The inputs in epoll key order, made once: `allCases` builds a new array at every use, and the
    /// reflex's wake and the control loop's every step would each pay for one.
    private static let signals = InputSignal.allCases

    /// Waits for ready descriptors, filling `wakes` (each ready key, and what C did for it);
    /// -1 waits without a timeout.
    typealias EdgeWait = @Sendable (_ lines: SignalLines, _ epoll: Int32, _ wakes: UnsafeMutableBufferPointer<ReflexWake>,
                                    _ timeoutMs: Int32) -> Int32

    /// epoll_wait(2) with the reactions in C (`SignalLines.reflexWait`).
    static let waitWithEpoll: EdgeWait = { lines, epoll, wakes, timeoutMs in lines.reflexWait(epoll: epoll, into: wakes, timeoutMs: timeoutMs) }

    /// The reflex's thread while it runs (for its scheduling).
    var threadHandle: pthread_t? { thread }

    /// How long one reaction may run before the control loop stops relying on the reflex's
    /// hand-off and polls the enables itself (a write stuck in the kernel, a starved thread).
    static let stallLimit = Interval.milliseconds(50)

    /// Reactions of the reflex that opened a relay, since it was made (in Swift and in C).
    var openings: Int { lines.reflexOpenings - openingsBefore }

    /// A release the reflex saw.
    struct Sighting: Equatable {
        var openedAt: Instant?
    }

    init(lines: SignalLines, clock: any DaemonClock = SystemClock(), logger: Logger = Logger(label: "packguard.reflex"),
         waitForEdges: @escaping EdgeWait = OffReflex.waitWithEpoll)
        throws(ControllerFatalError) {
        self.lines = lines
        self.openingsBefore = lines.reflexOpenings
        self.clock = clock
        self.logger = logger
        self.waitForEdges = waitForEdges
        epoll = pg_epoll_create()
        guard epoll >= 0 else { throw ControllerFatalError(description: "cannot create the off reflex's epoll: errno \(errno)") }
        do {
            wake = try WakePipe()
            handOff = try WakePipe()
        } catch {
            close(epoll)
            throw error
        }
        guard pg_epoll_watch(epoll, wake.readEnd, UInt64.max, false) == 0 else {
            let code = errno
            close(epoll)
            throw ControllerFatalError(description: "cannot add the off reflex's wake pipe to its epoll: errno \(code)")
        }
    }

    deinit {
        stop()
        close(epoll)
    }

    /// Watches the current enable lines (again, after a reload moved one). Control thread only.
    /// Returns false when a descriptor could not be watched: the control loop still reacts to it.
    @discardableResult
    func arm() -> Bool {
        for fd in armed { _ = pg_epoll_unwatch(epoll, fd) }  // ENOENT or EBADF: closed by a reload, so unwatched already
        armed = []
        armedBySignal = PerInput(repeating: nil)
        defer { armings.add(1, ordering: .releasing) }
        var complete = true
        for (signal, fd) in lines.eventDescriptorsBySignal where opens[signal] != nil {
            // Edge-triggered: one wake per new event, without reading (consuming) it.
            let key = UInt64(Self.signals.firstIndex(of: signal) ?? 0)
            if pg_epoll_watch(epoll, fd, key, true) == 0 {
                armed.append(fd)
                armedBySignal[signal] = fd
            } else {
                complete = false
            }
        }
        return complete
    }

    /// Changes at every `arm`: the loop's poll set depends on what the reflex watches.
    var armGeneration: Int { armings.load(ordering: .acquiring) }

    /// The event descriptors the reflex watches (and hands on while `forwardsEdges`).
    var watchedDescriptors: [Int32] { armed }

    /// What the control loop polls for the reflex's hand-off.
    var handOffDescriptor: Int32 { handOff.readEnd }

    /// Whether the loop may leave the watched descriptors to the reflex now: it runs, its waits
    /// work, and no reaction has run for longer than `stallLimit`. Control thread only (it logs a
    /// stall once when it starts, and once when it is over).
    func forwardsEdges(now: Instant) -> Bool {
        guard thread != nil, running.load(ordering: .acquiring), waiting.load(ordering: .acquiring) else { return false }
        let wakes = lines.reflexWakes
        let stuck = wakes.begun != wakes.handled && now.nanoseconds - wakes.latest.nanoseconds > Self.stallLimit.nanoseconds
        if stuck != stallReported {
            stallReported = stuck
            if stuck {
                logger.error("the off reflex has been reacting to one edge for over \(Self.stallLimit); the control loop polls the enables itself until it is done")
            } else {
                logger.notice("the off reflex reacts again; the control loop leaves the enables to it")
            }
        }
        return !stuck
    }

    /// The descriptors of the lines that had an edge since the last call, the hand-off pipe drained
    /// first (so that an edge told after it wakes the loop again). Control thread only.
    func takeForwardedEdges() -> [Int32] {
        handOff.drain()
        let bits = forwardedKeys.exchange(0, ordering: .acquiringAndReleasing)
        guard bits != 0 else { return [] }
        var descriptors: [Int32] = []
        for (index, signal) in Self.signals.enumerated() where bits & (1 << UInt32(index)) != 0 {
            if let fd = armedBySignal[signal] { descriptors.append(fd) }
        }
        return descriptors
    }

    func start() -> Bool {
        running.store(true, ordering: .releasing)
        thread = startThread { [self] in run() }
        return thread != nil
    }

    func stop() {
        guard let thread else { return }
        running.store(false, ordering: .releasing)
        wake.wake()
        pthread_join(thread, nil)
        self.thread = nil
    }

    /// The enables the reflex saw released since the last call (the control loop steps the
    /// policy on them before anything else), each with when its write ended, if it opened one.
    func takeReleases() -> [(signal: InputSignal, openedAt: Instant?)] {
        var released = lines.takeReflexReleases()
        seen.withLock { seen in
            for signal in Self.signals {
                guard let sighting = seen[signal] else { continue }
                released.append((signal, sighting.openedAt))
                seen[signal] = nil
            }
        }
        return released
    }

    private func run() {
        // At most 16 per wake (pg_reflex_wait's limit): the enables and the wake pipe are fewer.
        var wakes = [ReflexWake](repeating: ReflexWake(key: 0, outcome: .notReacted), count: 8)
        while running.load(ordering: .acquiring) {
            // After a failed wait, a look without waiting: if it works, the reflex has its edges
            // back (and says so) before the next one arrives.
            let timeoutMs: Int32 = waitsFailing ? 0 : -1
            let ready = wakes.withUnsafeMutableBufferPointer { waitForEdges(lines, epoll, $0, timeoutMs) }
            if ready < 0 {
                let code = errno
                if code == EINTR { continue }
                waiting.store(false, ordering: .releasing)
                // Cannot happen with a valid epoll fd. Safe meanwhile: the control loop still reacts to every edge.
                if !waitsFailing {
                    waitsFailing = true
                    logger.error("the off reflex cannot wait for edges: epoll_wait failed, errno \(code) (\(String(cString: strerror(code)))); retried every 10 ms, the control loop still reacts to every edge (logged again when it works)")
                }
                sleepMilliseconds(10)  // never spin
                continue
            }
            if waitsFailing {
                waitsFailing = false
                waiting.store(true, ordering: .releasing)
                logger.notice("the off reflex waits for edges again")
            }
            var forwarded: UInt32 = 0
            var begun = false  // pg_reflex_wait began this wake (any key but the wake pipe's)
            for index in 0..<Int(ready) {
                let wake = wakes[index]
                if wake.key == UInt64.max {
                    self.wake.drain()
                    continue
                }
                begun = true
                guard wake.key < UInt64(Self.signals.count) else { continue }
                let signal = Self.signals[Int(wake.key)]
                switch wake.outcome {
                case .notReacted: react(to: signal)  // another backend: the same reaction, in Swift
                case .asserted, .unreadable: noteCReaction(signal, failure: nil)  // a read the loop reports itself
                case .released(let failedBits, let code):
                    noteCReaction(signal, failure: failedBits == 0 ? nil : "set line values failed for \(Self.describe(failedBits)): errno \(code) (\(String(cString: strerror(code))))")
                }
                forwarded |= 1 << UInt32(wake.key)
            }
            if forwarded != 0 {
                // The bits before the pipe: the loop drains the pipe before it takes the bits.
                forwardedKeys.bitwiseOr(forwarded, ordering: .acquiringAndReleasing)
                handOff.wake()
            }
            if begun { lines.endReflexWake() }
        }
    }

    /// The relays of `bits` (bits of `OutputSignal` indices), by name.
    private static func describe(_ bits: UInt32) -> String {
        OutputSignal.allCases.enumerated().filter { bits & (1 << UInt32($0.offset)) != 0 }.map(\.element.rawValue).joined(separator: ", ")
    }

    /// A reaction done in C: a failed write is logged when it starts and when the writes work
    /// again, as in Swift (`react`).
    private func noteCReaction(_ signal: InputSignal, failure: String?) {
        if let failure {
            if failingInC[signal] == nil {
                logger.error("the off reflex could not open a relay on a release of \(signal): \(failure); the control loop opens it (logged again when the reflex's writes work)")
            }
        } else if failingInC[signal] != nil {
            logger.notice("the off reflex opens relays again")
        }
        failingInC[signal] = failure
    }

    /// An edge on `signal`: if it reads released now, its relays open (the read and the write in
    /// one call, `SignalLines.openRelays(_:ifReleased:)`). A level that cannot be read leaves
    /// everything to the control loop, which reports the failure.
    func react(to signal: InputSignal) {
        guard let levels = opens[signal] else { return }
        let reaction: SignalLines.ReleaseReaction
        do throws(GPIOError) {
            // Told under the outputs lock, before the opening counts (see `openRelays`).
            reaction = try lines.openRelays(levels, ifReleased: signal, whenReleased: {
                seen.withLock { $0[signal] = $0[signal] ?? Sighting(openedAt: nil) }
            })
            if writesFailing {
                writesFailing = false
                logger.notice("the off reflex opens relays again")
            }
        } catch {
            // The control loop writes the same relays in the wake this edge causes; a failure
            // there opens every relay and faults the policy. Logged here too, once: a reflex that
            // cannot write is a slower controller, which the user should know about.
            if !writesFailing {
                writesFailing = true
                logger.error("the off reflex could not open a relay on a release of \(signal): \(error); the control loop opens it (logged again when the reflex's writes work)")
            }
            return
        }
        guard case .released(let opened) = reaction else { return }
        if opened > 0 {
            let now = clock.now()
            seen.withLock { $0[signal] = Sighting(openedAt: now) }
        }
    }
}
