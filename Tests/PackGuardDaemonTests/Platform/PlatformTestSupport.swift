// Scaffolding for the platform tests: temporary directories, raw sockets, and a peer on its own thread.
#if os(Linux)
import Glibc
import Synchronization
@testable import PackGuardDaemon

/// A fresh directory under /tmp (short paths: sun_path holds 107 bytes), removed with its files on deinit.
final class PlatformTestDirectory {
    let path: String

    init() {
        var template = Array("/tmp/packguard-platform-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp: \(errnoDescription(errno))")
        path = String(cString: created!)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit {
        // Test cleanup only: a leftover directory under /tmp hides no failure, so results are not checked.
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { _ = unlink(file(name)) }
            }
            _ = closedir(directory)
        }
        _ = rmdir(path)
    }
}

/// A unique abstract socket name for this test run.
func uniqueAbstractName(_ label: String) -> String {
    "packguard-test-\(getpid())-\(label)-\(UInt32.random(in: 0...UInt32.max))"
}

/// A socket bound to `address` (not listening), owned by the test.
final class BoundTestSocket {
    let raw: Int32

    init(type: __socket_type, address: UnixSocketAddress) {
        raw = makeUnixSocket(type: type, nonBlocking: true)
        precondition(raw >= 0, "socket: \(errnoDescription(errno))")
        let bound = address.withSockaddr { bind(raw, $0, $1) }
        precondition(bound == 0, "bind: \(errnoDescription(errno))")
    }

    /// One queued datagram, or nil when none is waiting (unix datagrams arrive within sendto).
    func receiveDatagram() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(raw, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return count < 0 ? nil : Array(buffer[0..<count])
    }

    func listen() {
        precondition(Glibc.listen(raw, 4) == 0, "listen: \(errnoDescription(errno))")
    }

    deinit {
        // Test teardown: nothing to report to.
        _ = close(raw)
    }
}

/// A blocking client socket connected to `path`, for playing a misbehaving client.
final class RawTestClient {
    let raw: Int32

    init(path: String) {
        raw = makeUnixSocket(type: SOCK_STREAM, nonBlocking: false)
        precondition(raw >= 0, "socket: \(errnoDescription(errno))")
        let connected = UnixSocketAddress(path: path)!.withSockaddr { connect(raw, $0, $1) }
        precondition(connected == 0, "connect: \(errnoDescription(errno))")
    }

    /// Sends all of `bytes`; returns how many went out before an error.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(raw, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { break }
            offset += sent
        }
        return offset
    }

    /// Everything up to end of file (or an error).
    func receiveAll() -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(raw, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return received }
            received += buffer[0..<count]
        }
    }

    deinit {
        // Test teardown: nothing to report to.
        _ = close(raw)
    }
}

/// Blocks until `descriptor` is readable; the long timeout only keeps a broken test from hanging.
func waitUntilReadable(_ descriptor: Int32) -> Bool {
    waitFor(descriptor, events: Int16(POLLIN), until: .now + .seconds(10)) == .ready
}

/// What a peer thread runs, handed to it through pthread_create's opaque argument.
private final class PeerThreadStart: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Where a peer thread leaves its result for `join`.
private final class PeerThreadResult<Value: Sendable>: Sendable {
    let value = Mutex<Value?>(nil)
}

/// Runs `body` on a POSIX thread of its own, so a blocking peer (the CLI client) never occupies the
/// test runner's cooperative threads while the test body waits for it. Join exactly once.
final class PeerThread<Value: Sendable> {
    private let thread: pthread_t
    private let result: PeerThreadResult<Value>

    init(_ body: @escaping @Sendable () -> Value) {
        let result = PeerThreadResult<Value>()
        let start = PeerThreadStart {
            let value = body()
            result.value.withLock { $0 = value }
        }
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            Unmanaged<PeerThreadStart>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(start).toOpaque())
        precondition(started == 0, "pthread_create: \(errnoDescription(started))")
        self.thread = thread
        self.result = result
    }

    func join() -> Value {
        let joined = pthread_join(thread, nil)
        precondition(joined == 0, "pthread_join: \(errnoDescription(joined))")
        return result.value.withLock { $0! }
    }
}
#endif
