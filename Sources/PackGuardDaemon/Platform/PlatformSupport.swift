// Small pieces shared by the platform drivers: errno text, a scoped descriptor, unix socket
// addresses and waiting on a descriptor until a deadline.
#if os(Linux)
import Glibc

/// "No such file or directory (errno 2)": the C library's words for people, the number for searching.
func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return "\(String(cString: text)) (errno \(code))"
}

/// The only owner of one file descriptor for the length of one operation: closed exactly once, when
/// it goes away, unless `release()` hands it to a longer-lived owner first.
struct ScopedDescriptor: ~Copyable {
    let raw: Int32

    init(_ raw: Int32) { self.raw = raw }

    /// Gives the descriptor to the caller, who now owns (and must close) it.
    consuming func release() -> Int32 {
        let raw = self.raw
        discard self
        return raw
    }

    deinit {
        // Linux releases the descriptor even when close reports an error, and there is nobody here
        // to report it to: nothing can be retried or undone.
        _ = close(raw)
    }
}

/// `sockaddr_un` with its exact length, as bind, connect and sendto want it.
struct UnixSocketAddress {
    /// sizeof(sun_path): 108 on Linux.
    static let pathCapacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
    /// offsetof(struct sockaddr_un, sun_path): the family field before the path.
    static let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2

    private(set) var storage = sockaddr_un()
    let length: socklen_t

    /// A filesystem socket. The length counts the terminating NUL, as systemd and the kernel's
    /// own getsockname do. Nil when the path (plus NUL) does not fit in sun_path, or is empty.
    init?(path: String) {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < Self.pathCapacity, !bytes.contains(0) else { return nil }
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { sunPath in
            sunPath.copyBytes(from: bytes)
            sunPath[bytes.count] = 0
        }
        length = socklen_t(Self.pathOffset + bytes.count + 1)
    }

    /// An abstract socket (Linux only): a leading NUL, then the name's bytes, NOT NUL-terminated.
    /// Every byte inside the length is part of the name, so the length must be exact or the
    /// address names a different socket.
    init?(abstractName name: String) {
        let bytes = Array(name.utf8)
        guard 1 + bytes.count <= Self.pathCapacity else { return nil }
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { sunPath in
            sunPath[0] = 0
            UnsafeMutableRawBufferPointer(rebasing: sunPath[1...]).copyBytes(from: bytes)
        }
        length = socklen_t(Self.pathOffset + 1 + bytes.count)
    }

    /// Calls `body` with the address as the `sockaddr` pointer the socket calls take.
    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}

/// What waiting on a descriptor came to.
enum DescriptorWait: Equatable {
    case ready
    case timedOut
    case failed(errno: Int32)
}

/// Milliseconds left until `deadline`, rounded up so a wait never ends just before it; 0 once passed.
func millisecondsLeft(until deadline: ContinuousClock.Instant) -> Int32 {
    let left = deadline - ContinuousClock.now
    guard left > .zero else { return 0 }
    let (seconds, attoseconds) = left.components
    let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    return Int32(clamping: milliseconds)
}

/// Polls one descriptor for `events` (POLLIN or POLLOUT) until `deadline`. A hang-up or error
/// counts as ready: the next read or write reports what happened, with its errno.
func waitFor(_ descriptor: Int32, events: Int16, until deadline: ContinuousClock.Instant) -> DescriptorWait {
    while true {
        var entry = pollfd(fd: descriptor, events: events, revents: 0)
        let result = poll(&entry, 1, millisecondsLeft(until: deadline))
        if result > 0 { return .ready }
        if result == 0 { return .timedOut }
        let code = errno
        if code != EINTR { return .failed(errno: code) }
    }
}

/// `socket(2)` with close-on-exec, so a child process (a hook, a shell) never inherits it.
func makeUnixSocket(type: __socket_type, nonBlocking: Bool) -> Int32 {
    var flags = Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    if nonBlocking { flags |= Int32(SOCK_NONBLOCK.rawValue) }
    return socket(AF_UNIX, flags, 0)
}
#endif
