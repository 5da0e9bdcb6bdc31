// The command line's end of the control socket: one request line out, one reply line back.
#if os(Linux)
import Glibc

public enum ControlSocketClient {
    public static let defaultTimeoutMilliseconds: Int32 = 2000
    /// Longest reply accepted, in bytes, newline excluded.
    public static let defaultMaxReplyBytes = 1024 * 1024

    /// Connects to the daemon at `path`, sends `line` and returns the reply line (without newline).
    /// `timeoutMs` bounds connecting, and then sending plus receiving, each. The error texts are
    /// meant to be printed as they are: "is packguard running? (no socket at …)".
    public static func request(
        path: String, line: String, timeoutMs: Int32 = defaultTimeoutMilliseconds,
        maxReplyBytes: Int = defaultMaxReplyBytes
    ) throws(ControlSocketError) -> String {
        guard let address = UnixSocketAddress(path: path) else { throw .pathTooLong(path: path) }
        let created = makeUnixSocket(type: SOCK_STREAM, nonBlocking: true)
        guard created >= 0 else { throw .system(.socket, path: path, errno: errno) }
        let descriptor = ScopedDescriptor(created)
        try connect(descriptor.raw, to: address, path: path, timeoutMs: timeoutMs)
        // Each step gets the whole timeout again; a daemon that answers at all answers in
        // milliseconds, so only a hung one ever waits this long, and then it fails.
        try ControlLineIO.writeLine(line, to: descriptor.raw, path: path, timeoutMilliseconds: timeoutMs)
        return try ControlLineIO.readLine(
            from: descriptor.raw, path: path, limit: maxReplyBytes, timeoutMilliseconds: timeoutMs,
            tooLarge: .replyTooLarge(path: path, limit: maxReplyBytes))
    }

    /// A non-blocking unix connect either completes at once or says EAGAIN (the server's backlog is
    /// full); in that case try again every 10 ms until the deadline.
    private static func connect(
        _ descriptor: Int32, to address: UnixSocketAddress, path: String, timeoutMs: Int32
    ) throws(ControlSocketError) {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        while true {
            if address.withSockaddr({ Glibc.connect(descriptor, $0, $1) }) == 0 { return }
            let code = errno
            switch code {
            case EINTR:
                continue
            case EAGAIN:
                let left = millisecondsLeft(until: deadline)
                guard left > 0 else { throw .timedOut(.connect, path: path, milliseconds: timeoutMs) }
                // poll with no descriptors is a sleep that needs no Foundation; its result says only
                // that the time passed (or a signal came), and the loop checks the clock anyway.
                _ = poll(nil, 0, min(10, left))
            default:
                throw .system(.connect, path: path, errno: code)
            }
        }
    }
}
#endif
