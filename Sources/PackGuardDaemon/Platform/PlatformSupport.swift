// Small pieces shared by the platform drivers: errno text, a scoped descriptor, unix socket
// addresses and waiting on a descriptor until a deadline.
#if os(Linux)
import Glibc
@_exported import PackGuardPlatform

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
