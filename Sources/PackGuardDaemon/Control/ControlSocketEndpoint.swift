import Glibc
import Logging
import PackGuardCore

/// The control socket in the control loop's poll set. Each client is a small state machine
/// (reading its request line → replying → closed) driven by poll(2) readiness, so nothing here
/// ever waits: a slow, silent or flooding client costs a slot, never a step.
///
/// Bounds, so one wake's work is bounded whatever the clients do: at most `maxAcceptsPerWake`
/// accepts, `readBudget` bytes read and `writeBudget` written per client, and at most
/// `maxServiceTime` (or until the next step is due) before the rest waits for the next wake;
/// `maxClients` open connections (more are answered "busy" and closed), and `clientTimeLimit` for
/// a client to send its line and, separately, to take its reply. Counts alone are not enough:
/// on a slow machine (the rig's emulated CPU) one accept-and-refuse costs 20 ms.
public final class ControlSocketEndpoint: PollableEndpoint {
    public struct Limits: Sendable {
        public var maxClients = 16
        public var clientTimeLimit: Interval = .seconds(1)
        public var maxAcceptsPerWake = 8
        public var readBudget = 16 * 1024
        public var writeBudget = 256 * 1024
        /// Longest one wake may spend here: edges wait this long at worst during a flood.
        public var maxServiceTime: Interval = .milliseconds(20)
        /// Refusals beyond the cap are logged at most this often (a flood must not flood the journal).
        public var refusalLogInterval: Interval = .seconds(10)

        public init(maxClients: Int = 16) { self.maxClients = maxClients }
    }

    /// What happened to clients since start, for tests and the benchmark.
    public struct Counters: Sendable, Equatable {
        public var accepted = 0
        public var answered = 0
        public var refusedBusy = 0
        public var timedOut = 0
        public var hungUp = 0
    }

    private final class Client {
        let connection: ControlConnection
        var deadline: Instant
        var replying = false
        var done = false

        init(connection: ControlConnection, deadline: Instant) {
            self.connection = connection
            self.deadline = deadline
        }
    }

    private let server: ControlSocketServer
    private let logger: Logger
    public let access: ControlAccess
    public let limits: Limits
    private var clients: [Client] = []
    public private(set) var pollGeneration = 0
    public private(set) var nextDeadline: Instant?
    public private(set) var counters = Counters()
    private var lastRefusalLog: Instant?
    private var refusalsNotLogged = 0
    /// Encoded once: a flood of refusals must not cost a JSON encoding each.
    private let busyReason: String
    private let busyReply: String

    public init(path: String, group: String?, access: ControlAccess, limits: Limits = Limits(),
                logger: Logger) throws(ControlSocketError) {
        server = try ControlSocketServer(path: path, mode: 0o660, group: group)
        self.access = access
        self.limits = limits
        self.logger = logger
        busyReason = "\(limits.maxClients) clients already connected (control.maxClients)"
        busyReply = ControlCodec.encode(ControlReply(ok: false, error: "busy: \(busyReason); try again"))
        clients.reserveCapacity(limits.maxClients)
    }

    /// Open client connections.
    public var clientCount: Int { clients.count }

    public func appendPollDescriptors(to set: inout [pollfd]) {
        set.append(pollfd(fd: server.fileDescriptor, events: Int16(POLLIN), revents: 0))
        for client in clients {
            set.append(pollfd(fd: client.connection.fileDescriptor,
                              events: Int16(client.replying ? POLLOUT : POLLIN), revents: 0))
        }
    }

    public func service(ready: ArraySlice<pollfd>, loop: ControlLoop, now: Instant, stepDue: Instant) {
        let budgetEnd = min(stepDue, now + limits.maxServiceTime)
        let clock = loop.controller.clock
        func outOfTime() -> Bool { clock.now() >= budgetEnd }
        // Expired clients go first, so that their slots are free for whoever is waiting to connect.
        var changed = false
        var index = clients.count - 1
        while index >= 0, !outOfTime() {
            let client = clients[index]
            if client.deadline <= now {
                logger.debug("control socket: dropped \(peerText(client.connection)): \(client.replying ? "did not take its reply" : "no request line") within \(limits.clientTimeLimit.milliseconds) ms")
                counters.timedOut += 1
                clients.remove(at: index)  // closes its socket
                changed = true
            }
            index -= 1
        }
        for entry in ready where entry.revents != 0 {
            if outOfTime() { break }  // still ready at the next poll
            if entry.fd == server.fileDescriptor {
                changed = acceptWaiting(loop: loop, now: now, outOfTime: outOfTime) || changed
            } else if let client = clients.first(where: { $0.connection.fileDescriptor == entry.fd && !$0.done }) {
                let wasReplying = client.replying
                progress(client, loop: loop, now: now)
                changed = changed || client.done || client.replying != wasReplying
            }
        }
        if changed {
            clients.removeAll { $0.done }
            pollGeneration &+= 1
        }
        nextDeadline = clients.lazy.map(\.deadline).min()
    }

    /// Accepts up to `maxAcceptsPerWake` waiting clients; true when one joined the poll set.
    private func acceptWaiting(loop: ControlLoop, now: Instant, outOfTime: () -> Bool) -> Bool {
        var joined = false
        for _ in 0..<limits.maxAcceptsPerWake {
            if outOfTime() { break }  // the rest wait in the backlog for the next wake
            let connection: ControlConnection
            do {
                guard let accepted = try server.acceptRequest() else { break }
                connection = accepted
            } catch {
                // Out of descriptors, say: the listening socket stays usable; try again next wake.
                logger.warning("control socket: \(error)")
                break
            }
            counters.accepted += 1
            guard clients.count < limits.maxClients else {
                refuseBusy(connection, now: now)
                continue
            }
            let client = Client(connection: connection, deadline: now + limits.clientTimeLimit)
            clients.append(client)
            joined = true
            // A CLI client sends its line as it connects: it is usually here already.
            progress(client, loop: loop, now: now)
        }
        return joined
    }

    /// Beyond the cap: one "busy" line (a fresh socket's buffer always takes it) and close.
    private func refuseBusy(_ connection: ControlConnection, now: Instant) {
        counters.refusedBusy += 1
        do {
            try connection.queueReply(busyReply)
            _ = try connection.sendAvailable(budget: limits.writeBudget)
        } catch {
            // It is being turned away anyway; a client that has gone needs no answer.
        }
        if let last = lastRefusalLog, now - last < limits.refusalLogInterval {
            refusalsNotLogged += 1
            return
        }
        let more = refusalsNotLogged > 0 ? " (and \(refusalsNotLogged) more since the last such message)" : ""
        logger.notice("control socket: refused a connection from \(peerText(connection)): \(busyReason)\(more)")
        lastRefusalLog = now
        refusalsNotLogged = 0
    }

    /// Moves one client on as far as its socket allows now.
    private func progress(_ client: Client, loop: ControlLoop, now: Instant) {
        let connection = client.connection
        if !client.replying {
            let reply: String
            do {
                guard let line = try connection.readAvailable(budget: limits.readBudget) else { return }
                reply = loop.controller.handle(requestLine: line, from: connection.peer, access: access)
            } catch .closedWithoutLine {
                // A liveness probe (another instance checking the socket) or a client that gave up.
                counters.hungUp += 1
                client.done = true
                return
            } catch .system(let operation, _, let code) {
                logger.debug("control socket: \(peerText(connection)): \(operation.rawValue) failed: \(errnoDescription(code))")
                counters.hungUp += 1
                client.done = true
                return
            } catch {
                logger.info("control socket: \(peerText(connection)): \(error)")
                reply = ControlCodec.encode(ControlReply(ok: false, error: "\(error)"))
            }
            do {
                try connection.queueReply(reply)
            } catch {
                logger.error("control socket: cannot send a reply: \(error)")
                client.done = true
                return
            }
            client.replying = true
            client.deadline = now + limits.clientTimeLimit
        }
        do {
            if try connection.sendAvailable(budget: limits.writeBudget) {
                counters.answered += 1
                client.done = true
            }
        } catch {
            logger.debug("control socket: \(peerText(connection)) left before its reply: \(error)")
            counters.hungUp += 1
            client.done = true
        }
    }

    private func peerText(_ connection: ControlConnection) -> String {
        switch connection.peer {
        case .success(let peer): "\(peer)"
        case .failure: "an unknown peer"
        }
    }
}
