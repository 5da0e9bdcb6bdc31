// For `packguard bench-socket` and the rig: many clients that connect to the control socket and
// never send a byte, reconnecting whenever the daemon closes them, so the flood never lets up.
#if os(Linux)
import Glibc
import Synchronization

public final class SilentClientFlood: @unchecked Sendable {
    // @unchecked: `descriptors` and the thread handle are touched by the flood thread only (and by
    // stop() after joining it); the counters and the running flag are a Mutex.

    public struct Counters: Sendable, Equatable {
        /// Connections made (the daemon's backlog took them).
        public var connected = 0
        /// Connections the daemon closed (dropped at its time limit, or refused as busy).
        public var closedByDaemon = 0
        /// Connects refused outright (EAGAIN: backlog full), tried again 10 ms later.
        public var backlogFull = 0
        public var otherErrors = 0
    }

    public let path: String
    public let count: Int
    /// How long a closed connection waits before it reconnects (0: at once, the harshest flood).
    public let reconnectDelayMilliseconds: Int
    private let state = Mutex((running: false, counters: Counters()))
    private var thread: pthread_t?

    public init(path: String, count: Int, reconnectDelayMilliseconds: Int = 0) {
        self.path = path
        self.count = count
        self.reconnectDelayMilliseconds = reconnectDelayMilliseconds
    }

    /// Starts the flood thread; false when the thread could not be started.
    public func start() -> Bool {
        state.withLock { $0.running = true }
        thread = startThread { [self] in run() }
        return thread != nil
    }

    /// Stops the flood, closes every connection and returns what happened.
    public func stop() -> Counters {
        state.withLock { $0.running = false }
        if let thread { pthread_join(thread, nil) }
        thread = nil
        return counters
    }

    public var counters: Counters { state.withLock { $0.counters } }

    private func run() {
        guard let address = UnixSocketAddress(path: path) else {
            state.withLock { $0.counters.otherErrors += 1 }
            return
        }
        var descriptors = [Int32](repeating: -1, count: count)
        var closedAt = [ContinuousClock.Instant?](repeating: nil, count: count)
        let delay = Duration.milliseconds(reconnectDelayMilliseconds)
        var watched: [pollfd] = []
        var owners: [Int] = []
        watched.reserveCapacity(count)
        owners.reserveCapacity(count)
        defer {
            // A benchmark's own connections: closing them cannot fail in a way that matters.
            for descriptor in descriptors where descriptor >= 0 { _ = close(descriptor) }
        }
        while state.withLock({ $0.running }) {
            var made = Counters()
            let now = ContinuousClock.now
            for index in descriptors.indices where descriptors[index] < 0 {
                if let closed = closedAt[index], now - closed < delay { continue }
                let created = makeUnixSocket(type: SOCK_STREAM, nonBlocking: true)
                guard created >= 0 else {
                    made.otherErrors += 1
                    break
                }
                if address.withSockaddr({ connect(created, $0, $1) }) == 0 {
                    descriptors[index] = created
                    made.connected += 1
                    continue
                }
                let code = errno
                _ = close(created)
                if code == EAGAIN {
                    made.backlogFull += 1
                    break  // the backlog is full: try the rest next round
                }
                made.otherErrors += 1
            }
            watched.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            for (index, descriptor) in descriptors.enumerated() where descriptor >= 0 {
                watched.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0))
                owners.append(index)
            }
            // Readable means the daemon answered (busy) or closed: either way this one is done.
            if poll(&watched, nfds_t(watched.count), 10) > 0 {
                for (slot, entry) in watched.enumerated() where entry.revents != 0 {
                    _ = close(entry.fd)
                    descriptors[owners[slot]] = -1
                    closedAt[owners[slot]] = ContinuousClock.now
                    made.closedByDaemon += 1
                }
            }
            state.withLock {
                $0.counters.connected += made.connected
                $0.counters.closedByDaemon += made.closedByDaemon
                $0.counters.backlogFull += made.backlogFull
                $0.counters.otherErrors += made.otherErrors
            }
        }
    }
}
#endif
