import Glibc
import Logging
import PackGuardCore
import Synchronization

/// Something else the control thread waits on in poll(2): the control socket.
public protocol PollableEndpoint: AnyObject {
    var fileDescriptor: Int32 { get }
    /// Called on the control thread when `fileDescriptor` is readable.
    func handleReadable(loop: ControlLoop)
}

/// The control thread: blocks in poll(2) on the input lines' event fds, a wake-up pipe and the
/// control socket, with a timeout at the policy's next deadline (qualification, reconciliation,
/// ADC sample). No busy polling. A monitor thread forces every relay off if a step is late.
public final class ControlLoop: @unchecked Sendable {
    // @unchecked: `controller` and `endpoints` are used only on the control thread; `requests`
    // is a Mutex and `wakePipe` is written from other threads through write(2) only.

    public private(set) var controller: Controller
    private var endpoints: [any PollableEndpoint] = []
    private let wakePipe: WakePipe
    private let requests = Mutex(Requests())
    private let logger: Logger
    /// Builds a new controller from the configuration file, for SIGHUP; nil when no file.
    private let reload: (@Sendable (Controller) throws -> Controller)?

    struct Requests {
        var stopReason: String?
        var reload = false
        var beforeStep: [@Sendable (Controller) -> Void] = []
    }

    public init(controller: Controller, logger: Logger,
                reload: (@Sendable (Controller) throws -> Controller)? = nil) throws(ControllerFatalError) {
        self.controller = controller
        self.logger = logger
        self.reload = reload
        self.wakePipe = try WakePipe()
    }

    public func add(_ endpoint: any PollableEndpoint) { endpoints.append(endpoint) }

    /// Drops the endpoints (closing the control socket and removing its file) after `run`.
    public func removeEndpoints() { endpoints.removeAll() }

    /// From any thread: stop at the next wake (immediately: the wake pipe interrupts poll).
    public func requestStop(reason: String) {
        requests.withLock { if $0.stopReason == nil { $0.stopReason = reason } }
        wakePipe.wake()
    }

    /// From any thread: re-read the configuration on the control thread.
    public func requestReload() {
        requests.withLock { $0.reload = true }
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
        let monitor = DeadlineMonitor(loop: self, period: max(5, controller.configuration.timing.loopDeadlineMs / 4))
        guard monitor.start() else {
            controller.shutdown(reason: "cannot start the internal watchdog thread")
            throw ControllerFatalError(description: "cannot start the internal watchdog thread: errno \(errno)")
        }
        defer { monitor.stop() }
        controller.restorePersistentState()
        var stopReason: String?
        while stopReason == nil {
            let actions = requests.withLock { r -> [@Sendable (Controller) -> Void] in
                defer { r.beforeStep.removeAll() }
                return r.beforeStep
            }
            for action in actions { action(controller) }
            let now = controller.clock.now()
            do {
                try controller.step(now: now)
            } catch {
                controller.lines.release()
                throw error
            }
            let (stop, reload) = requests.withLock { r -> (String?, Bool) in
                defer { r.reload = false }
                return (r.stopReason, r.reload)
            }
            if let stop { stopReason = stop; break }
            if reload { reloadConfiguration() }
            let wake = controller.nextWake(after: now)
            controller.expectStep(by: wake)
            waitForWork(until: wake)
        }
        let reason = stopReason ?? "stopped"
        controller.shutdown(reason: reason)
        return reason
    }

    private func waitForWork(until wake: Instant) {
        let fds = controller.pollableEventDescriptors + [wakePipe.readEnd] + endpoints.map(\.fileDescriptor)
        var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let remaining = wake - controller.clock.now()
        let timeoutMs = Int32(clamping: max(0, (remaining.nanoseconds + 999_999) / 1_000_000))
        let ready = poll(&entries, nfds_t(entries.count), timeoutMs)
        if ready < 0 && errno != EINTR {
            logger.error("poll failed: errno \(errno); stepping on the timer only")
            sleepMilliseconds(Int(min(timeoutMs, 10)))
            return
        }
        if entries.contains(where: { $0.fd == wakePipe.readEnd && $0.revents != 0 }) { wakePipe.drain() }
        for endpoint in endpoints where entries.contains(where: { $0.fd == endpoint.fileDescriptor && $0.revents != 0 }) {
            endpoint.handleReadable(loop: self)
        }
    }

    private func reloadConfiguration() {
        guard let reload else {
            logger.warning("SIGHUP: no configuration file to re-read (built-in configuration)")
            return
        }
        do {
            let replacement = try reload(controller)
            controller = replacement
            logger.notice("configuration re-read from \(replacement.configuration.source): every relay re-qualifies from the start")
        } catch {
            logger.error("SIGHUP: keeping the running configuration: \(error)")
        }
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
        var buffer = [UInt8](repeating: 0, count: 64)
        while buffer.withUnsafeMutableBytes({ read(readEnd, $0.baseAddress, $0.count) }) > 0 {}
    }
}

/// The internal watchdog: a thread that checks, every `period` ms, that the control loop has
/// completed its step on time, and otherwise forces every relay off through the same outputs.
final class DeadlineMonitor: @unchecked Sendable {
    // @unchecked: `running` is a Mutex; `loop` is only used for its thread-safe members.
    private let loop: ControlLoop
    private let period: Int
    private let running = Mutex(false)
    private var thread: pthread_t?

    init(loop: ControlLoop, period: Int) {
        self.loop = loop
        self.period = period
    }

    func start() -> Bool {
        running.withLock { $0 = true }
        thread = startThread { [self] in
            while running.withLock({ $0 }) {
                sleepMilliseconds(period)
                let controller = loop.controller
                controller.checkDeadline(now: controller.clock.now())
            }
        }
        return thread != nil
    }

    func stop() {
        running.withLock { $0 = false }
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
