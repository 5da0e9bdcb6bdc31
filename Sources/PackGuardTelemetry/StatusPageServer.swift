// A tiny read-only HTTP/1.1 server for the status page: GET only, one request per connection.
import Glibc
import PackGuardDaemon
import Synchronization

public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var reason: String
    public var contentType: String
    public var body: String

    public init(status: Int, reason: String, contentType: String = "text/plain; charset=utf-8", body: String) {
        self.status = status
        self.reason = reason
        self.contentType = contentType
        self.body = body
    }
}

/// Answers one request line. Pure, so the routing is tested without sockets.
public enum StatusPageRoutes {
    public static func respond(requestLine: String, snapshot: TelemetrySnapshot, nodeID: String) -> HTTPResponse {
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            return HTTPResponse(status: 400, reason: "Bad Request", body: "bad request\n")
        }
        guard parts[0] == "GET" || parts[0] == "HEAD" else {
            return HTTPResponse(status: 405, reason: "Method Not Allowed", body: "read-only: GET only\n")
        }
        let path = parts[1].split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        switch path {
        case "/", "/index.html":
            return HTTPResponse(status: 200, reason: "OK", contentType: "text/html; charset=utf-8",
                                body: StatusPage.html(snapshot, nodeID: nodeID))
        case "/status.json":
            guard let status = snapshot.status else {
                return HTTPResponse(status: 503, reason: "Service Unavailable", body: "controller unreachable\n")
            }
            return HTTPResponse(status: 200, reason: "OK", contentType: "application/json", body: ControlCodec.encode(status))
        default:
            return HTTPResponse(status: 404, reason: "Not Found", body: "not found\n")
        }
    }
}

/// Owns the listening socket and the thread that serves it. Clients are served one at a time,
/// each within `clientTimeLimitMs`: a page is a few kilobytes, and a stalled phone must not hold
/// the server longer than that.
public final class StatusPageServer: @unchecked Sendable {
    // @unchecked: `listener` is immutable after init; the thread reads `snapshot` (a Mutex) and `stopping` (Atomic).
    public let address: ListenAddress
    private let listener: Int32
    private let snapshot: Mutex<TelemetrySnapshot>
    private let nodeID: String
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private var thread: pthread_t?
    public let clientTimeLimitMs: Int32 = 2000

    public init(address: ListenAddress, nodeID: String, initial: TelemetrySnapshot) throws(TelemetryIOError) {
        self.address = address
        self.nodeID = nodeID
        snapshot = Mutex(initial)
        let created = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard created >= 0 else { throw .system("socket", path: "\(address)", errno: errno) }
        var yes: Int32 = 1
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = in_port_t(UInt16(address.port).bigEndian)
        do throws(TelemetryIOError) {
            guard setsockopt(created, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                throw .system("setsockopt SO_REUSEADDR", path: "\(address)", errno: errno)
            }
            guard inet_pton(AF_INET, address.host, &socketAddress.sin_addr) == 1 else {
                throw .other("status page: \(address.host) is not an IPv4 address")
            }
            let bound = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(created, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw .system("bind", path: "\(address)", errno: errno) }
            guard listen(created, 8) == 0 else { throw .system("listen", path: "\(address)", errno: errno) }
        } catch {
            _ = close(created)
            throw error
        }
        listener = created
    }

    deinit {
        stop()
        _ = close(listener)
    }

    /// The port actually bound (the configured one, or the kernel's choice for port 0 in tests).
    public var boundPort: Int {
        var socketAddress = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let found = withUnsafeMutablePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        return found == 0 ? Int(UInt16(bigEndian: socketAddress.sin_port)) : address.port
    }

    public func update(_ value: TelemetrySnapshot) { snapshot.withLock { $0 = value } }

    public func start() throws(TelemetryIOError) {
        let context = Unmanaged.passRetained(self).toOpaque()
        var created = pthread_t()
        let code = pthread_create(&created, nil, { context in
            let server = Unmanaged<StatusPageServer>.fromOpaque(context!).takeRetainedValue()
            server.serve()
            return nil
        }, context)
        guard code == 0 else {
            Unmanaged<StatusPageServer>.fromOpaque(context).release()
            throw .system("pthread_create", path: "status page", errno: code)
        }
        thread = created
    }

    /// Ends the thread (within its 250 ms poll) and waits for it.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        if let thread, !pthread_equal(thread, pthread_self()).isTrue {
            _ = pthread_join(thread, nil)
            self.thread = nil
        }
    }

    private func serve() {
        while !stopping.load(ordering: .relaxed) {
            var entry = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 250) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            answer(client)
            _ = close(client)
        }
        finished.store(true, ordering: .relaxed)
    }

    private func answer(_ client: Int32) {
        let flags = fcntl(client, F_GETFL)
        guard flags >= 0, fcntl(client, F_SETFL, flags | O_NONBLOCK) == 0 else { return }
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        let deadline = ContinuousClock.now + .milliseconds(clientTimeLimitMs)
        // Up to the end of the headers (or 8 KB): the request line is all that matters.
        while request.count < 8192, !containsHeaderEnd(request) {
            let received = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if received > 0 { request += chunk[0..<received]; continue }
            if received == 0 { break }
            guard errno == EAGAIN || errno == EINTR, wait(client, Int16(POLLIN), until: deadline) else { return }
        }
        let lineEnd = request.firstIndex(of: UInt8(ascii: "\r")) ?? request.firstIndex(of: UInt8(ascii: "\n")) ?? request.endIndex
        let requestLine = String(decoding: request[..<lineEnd], as: UTF8.self)
        let response = StatusPageRoutes.respond(requestLine: requestLine, snapshot: snapshot.withLock { $0 }, nodeID: nodeID)
        let head = requestLine.hasPrefix("HEAD ")
        let body = Array(response.body.utf8)
        var bytes = Array(("HTTP/1.1 \(response.status) \(response.reason)\r\nContent-Type: \(response.contentType)\r\n"
            + "Content-Length: \(body.count)\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
            + "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\nConnection: close\r\n\r\n").utf8)
        if !head { bytes += body }
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(client, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent > 0 { offset += sent; continue }
            guard sent < 0, errno == EAGAIN || errno == EINTR, wait(client, Int16(POLLOUT), until: deadline) else { return }
        }
    }

    private func containsHeaderEnd(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 2 else { return false }
        for index in 1..<bytes.count where bytes[index] == 10 {
            if bytes[index - 1] == 10 || (index >= 3 && bytes[index - 1] == 13 && bytes[index - 2] == 10) { return true }
        }
        return false
    }

    private func wait(_ descriptor: Int32, _ events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        let left = deadline - ContinuousClock.now
        let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
        guard milliseconds > 0 else { return false }
        var entry = pollfd(fd: descriptor, events: events, revents: 0)
        return poll(&entry, 1, milliseconds) > 0
    }
}

extension Int32 {
    fileprivate var isTrue: Bool { self != 0 }
}

