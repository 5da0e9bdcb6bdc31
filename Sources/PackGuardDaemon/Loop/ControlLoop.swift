import CLinuxEvents
import Glibc
import Logging
import PackGuardConfig
import PackGuardCore
import Synchronization

/// Something else the control thread waits on in poll(2): the control socket and its clients.
public protocol PollableEndpoint: AnyObject {
    /// Changes whenever the descriptors to watch (or their events) change; the loop rebuilds its
    /// poll set only then, so an idle wake allocates nothing.
    var pollGeneration: Int { get }
    /// Appends the descriptors to watch, with their events.
    func appendPollDescriptors(to set: inout [pollfd])
    /// When `service` must run even if no descriptor is ready (a client's time limit), or nil.
    var nextDeadline: Instant? { get }
    /// Called on the control thread when one of its descriptors is ready or `nextDeadline` has
    /// passed. `ready` is its part of the poll set, in the order appended. Must never wait, and
    /// should leave what is left over for the next call once `stepDue` (the next step) has come.
    func service(ready: ArraySlice<pollfd>, loop: ControlLoop, now: Instant, stepDue: Instant)
}

/// The control thread: blocks in epoll_wait(2) (poll(2) if epoll fails) on the input lines' event fds, a wake-up pipe and the
/// control socket, with a timeout at the policy's next deadline (qualification, reconciliation,
/// ADC sample). No busy polling. A monitor thread forces every relay off if a step is late.
public final class ControlLoop: @unchecked Sendable {
    // @unchecked: `endpoints` and the poll set are used only on the control thread; `requests`
    // is a Mutex and `wakePipe` is written from other threads through write(2) only. The
    // controller is never replaced (a reload changes it in place), so the monitor thread's
    // reference stays valid.

    public let controller: Controller
    private var endpoints: [any PollableEndpoint] = []
    /// The poll(2) set, rebuilt only when what it watches changes: an idle wake allocates nothing.
    private var pollSet: [pollfd] = []
    private var pollSetKey: PollSetKey?
    /// Where each endpoint's descriptors are in `pollSet`.
    private var endpointRanges: [Range<Int>] = []
    /// How many of `pollSet`'s first entries are edge descriptors; the off reflex's hand-off pipe
    /// (when there is a reflex) follows them, then the wake pipe, then the endpoints.
    private var edgeEntries = 0
    /// `pollSet` registered in an epoll(7) instance (key: the entry's index), made again whenever
    /// the poll set is: the loop's wait then costs the same for any number of descriptors, and its
    /// way from the step's last write into sleep is short (a release that follows a close at once
    /// finds the CPU idle). -1 (poll(2) on `pollSet`) if it could not be made.
    private var epoll: Int32 = -1
    private var epollKeys: [UInt64] = []
    private var epollEvents: [UInt32] = []
    /// Above this many descriptors the loop waits with poll(2) (see `registerPollSet`).
    static let epollLimit = 32
    /// Whether poll(2) stands in for epoll because epoll failed (logged once when it starts).
    private var pollFallback = false

    /// What the poll set is made from: it is rebuilt when any of this changes.
    private struct PollSetKey: Equatable {
        var lines: Int
        var edgesFailing: Bool
        var endpoints: Int
        var reflex: ObjectIdentifier?
        var reflexArmings: Int
        var reflexForwards: Bool
    }
    private var monitor: DeadlineMonitor?
    private let wakePipe: WakePipe
    private let requests = Mutex(Requests())
    private let logger: Logger
    /// Applied once the monitor thread runs; nil leaves scheduling and memory as they are (tests).
    private let realtime: RealtimeSettings?

    struct Requests {
        var stopReason: String?
        var beforeStep: [@Sendable (Controller) -> Void] = []
    }

    public init(controller: Controller, logger: Logger, realtime: RealtimeSettings? = nil) throws(ControllerFatalError) {
        self.controller = controller
        self.logger = logger
        self.realtime = realtime
        self.wakePipe = try WakePipe()
    }

    deinit { if epoll >= 0 { close(epoll) } }

    public func add(_ endpoint: any PollableEndpoint) { endpoints.append(endpoint) }

    /// Drops the endpoints (closing the control socket and removing its file) after `run`.
    public func removeEndpoints() { endpoints.removeAll() }

    /// From any thread: stop at the next wake (immediately: the wake pipe interrupts poll).
    public func requestStop(reason: String) {
        requests.withLock { if $0.stopReason == nil { $0.stopReason = reason } }
        wakePipe.wake()
    }

    /// Runs `action` on the control thread right before the next step, which happens now
    /// (e.g. to submit an operator command from the simulator panel).
    public func perform(_ action: @escaping @Sendable (Controller) -> Void) {
        requests.withLock { $0.beforeStep.append(action) }
        wakePipe.wake()
    }

    /// Runs until a stop is requested; returns the stop reason. Throws when outputs cannot be
    /// driven off (the caller exits non-zero).
    public func run() throws(ControllerFatalError) -> String {
        let monitor: DeadlineMonitor
        do {
            monitor = try DeadlineMonitor(loop: self)
        } catch {
            controller.shutdown(reason: "cannot start the internal watchdog")
            throw error
        }
        self.monitor = monitor
        guard monitor.start() else {
            controller.shutdown(reason: "cannot start the internal watchdog thread")
            throw ControllerFatalError(description: "cannot start the internal watchdog thread: errno \(errno)")
        }
        defer { monitor.stop() }
        // The off reflex: without it the daemon is as safe, only slower to open on a release.
        let reflex: OffReflex?
        do {
            let candidate = try OffReflex(lines: controller.lines, clock: controller.clock, logger: logger)
            if !candidate.arm() { logger.warning("the off reflex cannot watch every enable line; the control loop still reacts to each") }
            reflex = candidate.start() ? candidate : nil
            if reflex == nil { logger.warning("cannot start the off reflex thread (errno \(errno)); the control loop still reacts to every edge") }
        } catch {
            logger.warning("\(error); the control loop still reacts to every edge")
            reflex = nil
        }
        controller.reflex = reflex
        defer {
            reflex?.stop()
            controller.reflex = nil
        }
        if let realtime { RealtimeSetup.apply(realtime, monitor: monitor.threadHandle, reflex: reflex?.threadHandle, logger: logger) }
        controller.restorePersistentState()
        var stopReason: String?
        var readableEdges: [Int32]?  // nil: read every line (the first step, commands)
        while stopReason == nil {
            let actions = requests.withLock { r -> [@Sendable (Controller) -> Void] in
                defer { r.beforeStep.removeAll() }
                return r.beforeStep
            }
            for action in actions { action(controller) }
            if !actions.isEmpty { readableEdges = nil }
            let now = controller.clock.now()
            let deadline = now + .milliseconds(controller.configuration.loop.loopDeadlineMs)
            do {
                // The step's deadline may be earlier than the one the monitor sleeps towards: it
                // is told right after the off fast path, which must wait for nothing.
                try controller.step(now: now, readableEdges: readableEdges, handOff: { monitor.deadlineMoves(to: deadline) },
                                    deferClosing: true)
            } catch {
                reflex?.stop()
                controller.lines.release()
                throw error
            }
            let stop = requests.withLock { $0.stopReason }
            if let stop { stopReason = stop; break }
            let wake = controller.nextWake(after: now)
            controller.expectStep(by: wake)
            readableEdges = waitForWork(until: wake)
            if let fatal = controller.fatalFailure {  // from a step run for a socket command
                reflex?.stop()
                controller.lines.release()
                throw fatal
            }
        }
        let reason = stopReason ?? "stopped"
        controller.shutdown(reason: reason)
        return reason
    }

    /// Waits until the next step is due, an edge or the wake pipe arrives, or a socket command ran
    /// a step. Other control socket traffic (status, events, silent clients) is served here without
    /// a step, so a flood of clients cannot make the loop step in a frenzy.
    /// While the off reflex hands edges on (`OffReflex.forwardsEdges`), the descriptors it watches
    /// are left to it: a release wakes the reflex alone, and the loop once the reflex's write is done.
    /// Returns the edge descriptors that woke it (none at the timer), or nil after the wake pipe or
    /// a command's own step (read every line).
    private func waitForWork(until wake: Instant) -> [Int32]? {
        let reflex = controller.reflex
        while true {
            let forwarding = reflex?.forwardsEdges(now: controller.clock.now()) ?? false
            // Generations only grow, so the sum changes whenever any endpoint's descriptors do.
            let endpointsKey = endpoints.reduce(0) { $0 &+ 1 &+ $1.pollGeneration }
            // A reload that moves input lines changes their event fds: `generation` says so, and the
            // reflex's arming what it watches.
            let key = PollSetKey(lines: controller.lines.generation, edgesFailing: controller.edgeReadsFailing,
                                 endpoints: endpointsKey, reflex: reflex.map(ObjectIdentifier.init),
                                 reflexArmings: reflex?.armGeneration ?? 0, reflexForwards: forwarding)
            if pollSetKey != key {
                var fds = controller.pollableEventDescriptors
                if forwarding, let watched = reflex?.watchedDescriptors { fds.removeAll { watched.contains($0) } }
                edgeEntries = fds.count
                if let reflex { fds.append(reflex.handOffDescriptor) }
                fds.append(wakePipe.readEnd)
                pollSet = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                endpointRanges = endpoints.map { endpoint in
                    let start = pollSet.count
                    endpoint.appendPollDescriptors(to: &pollSet)
                    return start..<pollSet.count
                }
                pollSetKey = key
                registerPollSet()
            }
            for index in pollSet.indices { pollSet[index].revents = 0 }
            var until = wake
            for endpoint in endpoints { if let deadline = endpoint.nextDeadline, deadline < until { until = deadline } }
            // While the reflex has the enables, look at it every `stallLimit` at least: a reaction
            // stuck that long gives them back to this loop (see `OffReflex.forwardsEdges`).
            let beforePoll = controller.clock.now()
            let reflexCheck = beforePoll + OffReflex.stallLimit
            let checksReflex = forwarding && reflexCheck < until
            if checksReflex { until = reflexCheck }
            let remaining = until - beforePoll
            let timeoutMs = Int32(clamping: max(0, (remaining.nanoseconds + 999_999) / 1_000_000))
            // The step's closing writes, the last thing before the loop sleeps (see `step`'s deferClosing).
            if controller.closePendingRelays() { return nil }  // vetoed or failed: step now
            let ready = waitForPollSet(timeoutMs: timeoutMs)
            if ready < 0 && errno != EINTR {
                logger.error("poll failed: errno \(errno); stepping on the timer only")
                sleepMilliseconds(Int(min(timeoutMs, 10)))
                return nil
            }
            // Edges, the hand-off and the wake pipe come before the endpoints in the poll set.
            let endpointsStart = endpointRanges.first?.lowerBound ?? pollSet.count
            let wakePipeReady = pollSet[endpointsStart - 1].revents != 0
            if wakePipeReady { wakePipe.drain() }
            var forwarded: [Int32] = []
            if let reflex, pollSet[edgeEntries].revents != 0 { forwarded = reflex.takeForwardedEdges() }
            let edgesReady = pollSet[..<edgeEntries].contains { $0.revents != 0 }
            // A hand-off whose edges an earlier one took already is no work.
            let loopWork = wakePipeReady || edgesReady || !forwarded.isEmpty
            let now = controller.clock.now()
            let stepsBefore = controller.stepCount
            var served = false
            for (endpoint, range) in zip(endpoints, endpointRanges) {
                let due = endpoint.nextDeadline.map { $0 <= now } ?? false
                if due || (ready > 0 && pollSet[range].contains { $0.revents != 0 }) {
                    endpoint.service(ready: pollSet[range], loop: self, now: now, stepDue: wake)
                    served = true
                }
            }
            // Only the look at the reflex was due: wait on.
            if checksReflex, ready == 0, !served, now < wake { continue }
            // A command ran a step of its own: back to run(), which steps and re-arms the deadline
            // monitor for the next wake (the command's step armed it for 200 ms from then).
            let stepped = controller.stepCount != stepsBefore
            if loopWork || !served || stepped || now >= wake || controller.fatalFailure != nil {
                // The wake pipe (a command, a reload, a stop) or a command's own step: every line.
                guard !wakePipeReady, !stepped else { return nil }
                // Edges or the timer: only the lines with something to read. The wait is
                // level-triggered and the reflex hands on every edge it watches; the step still
                // reads every line when its reconciling read is due (`Controller.step`).
                return pollSet[..<edgeEntries].filter { $0.revents != 0 }.map(\.fd) + forwarded
            }
        }
    }
}

extension ControlLoop {
    /// Registers `pollSet` in a fresh epoll instance; on any failure the loop uses poll(2) on it
    /// (as safe, only slower to sleep), which it says once.
    private func registerPollSet() {
        if epoll >= 0 { close(epoll) }
        epoll = -1
        // Many descriptors means many clients coming and going, and a registration per change of
        // the set would cost more than poll(2) does: epoll is for the usual few.
        guard pollSet.count <= Self.epollLimit else { return }
        epoll = pg_epoll_create()
        var failure: (what: String, errno: Int32)?
        if epoll < 0 {
            failure = ("epoll_create1", errno)
        } else {
            for (index, entry) in pollSet.enumerated() {
                if pg_epoll_watch_events(epoll, entry.fd, UInt64(index), UInt32(UInt16(bitPattern: entry.events))) != 0 {
                    failure = ("epoll_ctl of fd \(entry.fd)", errno)
                    break
                }
            }
        }
        if let failure {
            if epoll >= 0 { close(epoll) }
            epoll = -1
            if !pollFallback {
                logger.warning("the control loop waits with poll(2): \(failure.what) failed, errno \(failure.errno) (logged again when epoll works)")
            }
            pollFallback = true
            return
        }
        if pollFallback {
            pollFallback = false
            logger.notice("the control loop waits with epoll again")
        }
        epollKeys = [UInt64](repeating: 0, count: max(1, pollSet.count))
        epollEvents = [UInt32](repeating: 0, count: max(1, pollSet.count))
    }

    /// poll(2)'s answer for `pollSet` (its revents set, the number of ready entries, or -1 with
    /// errno), from epoll_wait when the set is registered.
    private func waitForPollSet(timeoutMs: Int32) -> Int32 {
        guard epoll >= 0 else { return poll(&pollSet, nfds_t(pollSet.count), timeoutMs) }
        let count = Int32(min(epollKeys.count, epollEvents.count))
        let ready = epollKeys.withUnsafeMutableBufferPointer { keys in
            epollEvents.withUnsafeMutableBufferPointer { events in
                pg_epoll_wait_events(epoll, keys.baseAddress, events.baseAddress, count, timeoutMs)
            }
        }
        guard ready > 0 else { return ready }
        for index in 0..<Int(ready) {
            let entry = Int(epollKeys[index])
            guard entry < pollSet.count else { continue }
            // EPOLLIN, EPOLLOUT, EPOLLERR and EPOLLHUP are poll(2)'s bits.
            pollSet[entry].revents = Int16(truncatingIfNeeded: epollEvents[index] & 0xFFFF)
        }
        return ready
    }
}

/// The self-pipe that interrupts poll(2) from other threads.
final class WakePipe: @unchecked Sendable {
    // @unchecked: two fds fixed at init; read(2)/write(2) on them are thread-safe.
    let readEnd: Int32
    let writeEnd: Int32

    init() throws(ControllerFatalError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw ControllerFatalError(description: "cannot create the wake-up pipe: errno \(errno)")
        }
        readEnd = fds[0]
        writeEnd = fds[1]
        for fd in fds {
            // A fresh pipe accepts these flags; if not, poll would still work, only blocking.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)  // EAGAIN: the pipe is full, so poll will wake anyway
    }

    func drain() {
        // A stack buffer: the reflex's hand-off drains at every edge. A pipe's read returns all it
        // holds up to the buffer's size, so a short read emptied it: no second read to see EAGAIN
        // (a byte written after it is a new wake, which the next wait sees).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            while read(readEnd, buffer.baseAddress, buffer.count) == buffer.count {}
        }
    }
}

/// The internal watchdog: a thread that sleeps until the control loop's next step deadline and,
/// if the step has not completed by then, forces every relay off through the same outputs. It
/// wakes once per loop step (not on a fixed tick), and early when a step starts sooner than the
/// deadline it was sleeping towards.
final class DeadlineMonitor: @unchecked Sendable {
    // @unchecked: `state` is a Mutex; `loop` is only used for its thread-safe members; the
    // thread handle is touched by start/stop on the control thread only.
    private let loop: ControlLoop
    private let wake: WakePipe
    private let state = Mutex(State())
    private var thread: pthread_t?

    /// The monitor's thread while it runs (for its scheduling).
    var threadHandle: pthread_t? { thread }

    struct State {
        var running = false
        var sleepingUntil: Instant?
    }

    init(loop: ControlLoop) throws(ControllerFatalError) {
        self.loop = loop
        self.wake = try WakePipe()
    }

    func start() -> Bool {
        state.withLock { $0.running = true }
        thread = startThread { [self] in
            while state.withLock({ $0.running }) {
                let controller = loop.controller
                let now = controller.clock.now()
                controller.checkDeadline(now: now)
                let target = controller.health.withLock { $0.deadline } ?? now + .seconds(1)
                state.withLock { $0.sleepingUntil = target }
                // Wake just after the deadline (checkDeadline needs now > deadline).
                let remaining = target - controller.clock.now()
                let timeoutMs = Int32(clamping: max(0, remaining.nanoseconds / 1_000_000 + 1))
                var entry = pollfd(fd: wake.readEnd, events: Int16(POLLIN), revents: 0)
                if poll(&entry, 1, timeoutMs) > 0 { wake.drain() }
            }
        }
        return thread != nil
    }

    /// The loop is about to start a step due by `deadline`: wake the monitor if it sleeps longer.
    func deadlineMoves(to deadline: Instant) {
        let wakeNow = state.withLock { state -> Bool in
            guard let sleepingUntil = state.sleepingUntil, deadline < sleepingUntil else { return false }
            state.sleepingUntil = deadline
            return true
        }
        if wakeNow { wake.wake() }
    }

    func stop() {
        state.withLock { $0.running = false }
        wake.wake()
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }
}

private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Starts a plain POSIX thread (no Foundation in the daemon).
public func startThread(_ body: @escaping () -> Void) -> pthread_t? {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        body.body()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        return nil
    }
    return thread
}
