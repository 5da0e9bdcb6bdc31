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
final class OffReflex: @unchecked Sendable {
    // @unchecked: `epoll` and the wake pipe are fixed at init and used through thread-safe system
    // calls; `thread` is touched by start/stop on the control thread only; the rest is Mutex/Atomic.
    private let lines: SignalLines
    private let clock: any DaemonClock
    private let logger: Logger
    /// How the reflex waits for edges: epoll_wait(2), or a test's stand-in that fails.
    private let waitForEdges: @Sendable (_ epoll: Int32, _ keys: UnsafeMutablePointer<UInt64>, _ capacity: Int32) -> Int32
    /// Whether the last write (or wait) failed: each is logged when it starts failing and when it
    /// works again, never at every edge. The reflex thread's own (or the test's that drives `react`).
    private var writesFailing = false
    private var waitsFailing = false
    private let epoll: Int32
    private let wake: WakePipe
    private let running = Atomic<Bool>(false)
    /// Per enable: seen released since the last `takeReleases`, and when the reflex's write
    /// that opened its relays ended (nil when they were open already).
    private let seen = Mutex(PerInput<Sighting?>(repeating: nil))
    private let openingCount = Atomic<Int>(0)
    private var thread: pthread_t?
    private var armed: [Int32] = []
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

    /// epoll_wait(2) without a timeout, filling `keys` with the ready descriptors' keys.
    static let waitWithEpoll: @Sendable (_ epoll: Int32, _ keys: UnsafeMutablePointer<UInt64>, _ capacity: Int32) -> Int32 = {
        pg_epoll_wait($0, $1, $2, -1)
    }

    /// The reflex's thread while it runs (for its scheduling).
    var threadHandle: pthread_t? { thread }

    /// Relays the reflex opened, since start.
    var openings: Int { openingCount.load(ordering: .relaxed) }

    /// A release the reflex saw.
    struct Sighting: Equatable {
        var openedAt: Instant?
    }

    init(lines: SignalLines, clock: any DaemonClock = SystemClock(), logger: Logger = Logger(label: "packguard.reflex"),
         waitForEdges: @escaping @Sendable (Int32, UnsafeMutablePointer<UInt64>, Int32) -> Int32 = OffReflex.waitWithEpoll)
        throws(ControllerFatalError) {
        self.lines = lines
        self.clock = clock
        self.logger = logger
        self.waitForEdges = waitForEdges
        epoll = pg_epoll_create()
        guard epoll >= 0 else { throw ControllerFatalError(description: "cannot create the off reflex's epoll: errno \(errno)") }
        do {
            wake = try WakePipe()
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
        var complete = true
        for (signal, fd) in lines.eventDescriptorsBySignal where opens[signal] != nil {
            // Edge-triggered: one wake per new event, without reading (consuming) it.
            let key = UInt64(Self.signals.firstIndex(of: signal) ?? 0)
            if pg_epoll_watch(epoll, fd, key, true) == 0 { armed.append(fd) } else { complete = false }
        }
        return complete
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
        seen.withLock { seen in
            var released: [(signal: InputSignal, openedAt: Instant?)] = []
            for signal in Self.signals {
                guard let sighting = seen[signal] else { continue }
                released.append((signal, sighting.openedAt))
                seen[signal] = nil
            }
            return released
        }
    }

    private func run() {
        var keys = [UInt64](repeating: 0, count: 8)
        while running.load(ordering: .acquiring) {
            let ready = keys.withUnsafeMutableBufferPointer { waitForEdges(epoll, $0.baseAddress!, Int32($0.count)) }
            if ready < 0 {
                let code = errno
                if code == EINTR { continue }
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
                logger.notice("the off reflex waits for edges again")
            }
            for index in 0..<Int(ready) {
                let key = keys[index]
                if key == UInt64.max {
                    wake.drain()
                    continue
                }
                guard key < UInt64(Self.signals.count) else { continue }
                react(to: Self.signals[Int(key)])
            }
        }
    }

    /// An edge on `signal`: if it reads released now, its relays open. A level that cannot be read
    /// leaves everything to the control loop, which reports the failure.
    func react(to signal: InputSignal) {
        guard let levels = opens[signal], lines.readLevel(of: signal) == .inactive else { return }
        // Told before the write: once an opening is counted, the release is there to be taken.
        seen.withLock { $0[signal] = $0[signal] ?? Sighting(openedAt: nil) }
        do throws(GPIOError) {
            let opened = try lines.openRelaysAtOnce(levels, byReflex: true)
            if writesFailing {
                writesFailing = false
                logger.notice("the off reflex opens relays again")
            }
            if opened > 0 {
                let now = clock.now()
                seen.withLock { $0[signal] = Sighting(openedAt: now) }
                openingCount.add(opened, ordering: .relaxed)
            }
        } catch {
            // The control loop writes the same relays in the wake this edge causes; a failure
            // there opens every relay and faults the policy. Logged here too, once: a reflex that
            // cannot write is a slower controller, which the user should know about.
            if !writesFailing {
                writesFailing = true
                logger.error("the off reflex could not open a relay on a release of \(signal): \(error); the control loop opens it (logged again when the reflex's writes work)")
            }
        }
    }
}
