// What can go wrong on the control socket, in words for the operator at the command line.
#if os(Linux)
import Glibc

/// The system call (or step) a control socket error comes from.
public enum ControlSocketOperation: String, Sendable {
    case inspect = "inspect"
    case remove = "remove stale socket"
    case probe = "probe"
    case lookUpGroup = "look up group for"
    case socket = "create socket for"
    case bind = "bind"
    case chmod = "chmod"
    case chown = "chown"
    case listen = "listen on"
    case accept = "accept on"
    case connect = "connect to"
    case read = "read from"
    case write = "write to"
    case poll = "poll"
}

/// A failed control socket operation, naming the operation, the socket path and errno.
public enum ControlSocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed.
    case system(ControlSocketOperation, path: String, errno: Int32)
    /// The path does not fit in a unix socket address (107 bytes).
    case pathTooLong(path: String)
    /// Something other than a socket is at the path; it is never deleted.
    case notASocket(path: String, kind: String)
    /// A live server already answers at the path (another packguard running).
    case alreadyServing(path: String)
    case groupNotFound(group: String, path: String)
    /// A request line longer than the limit (bytes, newline excluded).
    case requestTooLarge(path: String, limit: Int)
    /// A reply longer than the limit (bytes, newline excluded).
    case replyTooLarge(path: String, limit: Int)
    case timedOut(ControlSocketOperation, path: String, milliseconds: Int32)
    /// The peer closed the connection before sending a line.
    case closedWithoutLine(ControlSocketOperation, path: String)
    case notUTF8(ControlSocketOperation, path: String)
    /// A line to send contains a newline, which would split it into two messages.
    case lineContainsNewline(path: String)

    public var description: String {
        switch self {
        case .system(.connect, let path, ENOENT), .system(.connect, let path, ENOTDIR):
            "is packguard running? (no socket at \(path))"
        case .system(.connect, let path, ECONNREFUSED):
            "is packguard running? (nothing listens on \(path))"
        case .system(.connect, let path, EACCES), .system(.connect, let path, EPERM):
            "permission denied on \(path): join the packguard group (`sudo usermod -aG packguard $USER`, "
                + "then log in again) or use sudo"
        case .system(.write, let path, let code) where code == EPIPE || code == ECONNRESET:
            "cannot write to \(path): the other side closed the connection (\(errnoDescription(code)))"
        case .system(let operation, let path, let code):
            "cannot \(operation.rawValue) \(path): \(errnoDescription(code))"
        case .pathTooLong(let path):
            "control socket path \(path) is too long for a unix socket (at most \(UnixSocketAddress.pathCapacity - 1) bytes)"
        case .notASocket(let path, let kind):
            "cannot create control socket at \(path): \(kind) is in the way; not deleting it, remove it or choose another path"
        case .alreadyServing(let path):
            "another packguard is already serving \(path)"
        case .groupNotFound(let group, let path):
            "cannot give control socket \(path) to group \(group): no such group (create it with `sudo groupadd \(group)`)"
        case .requestTooLarge(let path, let limit):
            "request on \(path) is longer than \(limit) bytes"
        case .replyTooLarge(let path, let limit):
            "reply from \(path) is longer than \(limit) bytes"
        case .timedOut(.connect, let path, let milliseconds):
            "is packguard running? (\(path) did not accept within \(milliseconds) ms)"
        case .timedOut(.read, let path, let milliseconds):
            "no complete line on \(path) within \(milliseconds) ms"
        case .timedOut(let operation, let path, let milliseconds):
            "cannot \(operation.rawValue) \(path) within \(milliseconds) ms"
        case .closedWithoutLine(let operation, let path):
            "cannot \(operation.rawValue) \(path): the other side closed the connection without sending a line"
        case .notUTF8(let operation, let path):
            "cannot \(operation.rawValue) \(path): the line is not valid UTF-8"
        case .lineContainsNewline(let path):
            "cannot send on \(path): the line contains a newline"
        }
    }
}
#endif
