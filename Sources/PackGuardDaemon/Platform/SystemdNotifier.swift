// The sd_notify protocol without libsystemd: one datagram of "KEY=value" lines to $NOTIFY_SOCKET.
#if os(Linux)
import Glibc
import PackGuardPlatform

/// Where `$NOTIFY_SOCKET` points.
public enum SystemdNotifyAddress: Equatable, Sendable {
    /// A filesystem socket, e.g. `/run/systemd/notify`.
    case path(String)
    /// An abstract socket: `$NOTIFY_SOCKET` was `@name`; this holds `name`, without the `@`.
    case abstract(String)
    /// Anything else (systemd 254+ may hand out `vsock:` addresses, which a Pi never needs).
    case unsupported(String)

    /// Parses `$NOTIFY_SOCKET`; nil when unset or empty, as sd_notify treats it.
    init?(environmentValue value: String?) {
        guard let value, !value.isEmpty else { return nil }
        if value.hasPrefix("/") {
            self = .path(value)
        } else if value.hasPrefix("@") {
            self = .abstract(String(value.dropFirst()))
        } else {
            self = .unsupported(value)
        }
    }

    /// As written in `$NOTIFY_SOCKET`, for messages.
    public var text: String {
        switch self {
        case .path(let path): path
        case .abstract(let name): "@" + name
        case .unsupported(let value): value
        }
    }
}

/// A failed notification to systemd, naming the operation, the socket and errno.
public enum SystemdNotifyError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupportedAddress(String)
    case addressTooLong(String)
    case socket(address: String, errno: Int32)
    case send(address: String, errno: Int32)
    /// A datagram goes whole or not at all; anything else is reported rather than trusted.
    case shortSend(address: String, sent: Int, length: Int)

    public var description: String {
        switch self {
        case .unsupportedAddress(let address):
            "cannot notify systemd: unsupported NOTIFY_SOCKET address \(address) (only /path and @abstract are supported)"
        case .addressTooLong(let address):
            "cannot notify systemd: NOTIFY_SOCKET address \(address) does not fit in a unix socket address"
        case .socket(let address, let code):
            "cannot create a socket to notify systemd at \(address): \(errnoDescription(code))"
        case .send(let address, let code):
            "cannot notify systemd at \(address): \(errnoDescription(code))"
        case .shortSend(let address, let sent, let length):
            "cannot notify systemd at \(address): sent \(sent) of \(length) bytes"
        }
    }
}

/// Tells systemd about readiness, status, watchdog pets and shutdown (`Type=notify`, `WatchdogSec=`).
///
/// With no `$NOTIFY_SOCKET` (run from a shell, under another supervisor) it is disabled and every
/// send is a no-op: the daemon behaves the same either way. A value type: each send opens, uses and
/// closes its own socket, so copies and concurrent sends share nothing.
public struct SystemdNotifier: Sendable {
    /// Nil when `$NOTIFY_SOCKET` is unset or empty.
    public let address: SystemdNotifyAddress?
    /// The service watchdog period in nanoseconds (`WATCHDOG_USEC`), nil when not requested: no
    /// `WatchdogSec=`, a `WATCHDOG_PID` naming another process, an unreadable value, or no notify
    /// socket to pet through. Pet at half of it, as sd_watchdog_enabled(3) advises.
    public let watchdogInterval: UInt64?

    public var isEnabled: Bool { address != nil }
    private let system: any SystemCalls

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`; sends through
    /// `system` (a test makes its socket or send fail there).
    public init(environment: [String: String], system: any SystemCalls = LinuxSystemCalls()) {
        self.init(environment: environment, processID: getpid(), system: system)
    }

    init(environment: [String: String], processID: pid_t, system: any SystemCalls = LinuxSystemCalls()) {
        self.system = system
        address = SystemdNotifyAddress(environmentValue: environment["NOTIFY_SOCKET"])
        watchdogInterval = address == nil ? nil : Self.watchdogInterval(
            microseconds: environment["WATCHDOG_USEC"], pid: environment["WATCHDOG_PID"], processID: processID)
    }

    /// This process's environment, read through `environ` (no Foundation).
    public static func processEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        // Imported as an implicitly unwrapped pointer; NULL after clearenv(3).
        let start: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
        guard var entry = start else { return environment }
        while let pointer = entry.pointee {
            let assignment = String(cString: pointer)
            if let equals = assignment.firstIndex(of: "=") {
                let key = String(assignment[..<equals])
                // The first definition wins, as getenv(3) finds it.
                if environment[key] == nil {
                    environment[key] = String(assignment[assignment.index(after: equals)...])
                }
            }
            entry += 1
        }
        return environment
    }

    /// sd_watchdog_enabled(3): WATCHDOG_USEC must be a positive integer, and WATCHDOG_PID, when set,
    /// must name this process (a child that inherited the environment must not pet for its parent).
    static func watchdogInterval(microseconds: String?, pid: String?, processID: pid_t) -> UInt64? {
        guard let microseconds, let usec = UInt64(microseconds), usec > 0 else { return nil }
        if let pid {
            guard let watchdogPID = pid_t(pid), watchdogPID == processID else { return nil }
        }
        let (nanoseconds, overflow) = usec.multipliedReportingOverflow(by: 1000)
        return overflow ? nil : nanoseconds
    }

    /// Sends `fields` ("READY=1", "STATUS=…") as one datagram, one field per line. Each field is
    /// made one line first: a newline inside STATUS would otherwise start a new assignment.
    /// A no-op when disabled or when `fields` is empty.
    public func send(_ fields: [String]) throws(SystemdNotifyError) {
        guard let address, !fields.isEmpty else { return }
        let message = Array(fields.map(Self.oneLine).joined(separator: "\n").utf8)
        let socketAddress: UnixSocketAddress?
        switch address {
        case .path(let path): socketAddress = UnixSocketAddress(path: path)
        case .abstract(let name): socketAddress = UnixSocketAddress(abstractName: name)
        case .unsupported(let value): throw .unsupportedAddress(value)
        }
        guard let socketAddress else { throw .addressTooLong(address.text) }

        let descriptor: Int32
        do {
            descriptor = try system.datagramSocket()
        } catch {
            throw .socket(address: address.text, errno: error.errno)
        }
        // A datagram socket that only sent: closing it cannot lose anything, and the send's
        // outcome is what the caller needs.
        defer { do { try system.close(descriptor) } catch {} }
        let sent: Int
        do {
            sent = try system.send(descriptor, message, to: socketAddress)
        } catch {
            throw .send(address: address.text, errno: error.errno)
        }
        if sent != message.count { throw .shortSend(address: address.text, sent: sent, length: message.count) }
    }

    /// "READY=1" with the status line systemctl shows.
    public func ready(status: String) throws(SystemdNotifyError) {
        try send(["READY=1", "STATUS=" + status])
    }

    /// The one-line status `systemctl status packguard` shows.
    public func status(_ status: String) throws(SystemdNotifyError) {
        try send(["STATUS=" + status])
    }

    /// One service watchdog pet ("WATCHDOG=1").
    public func watchdog() throws(SystemdNotifyError) {
        try send(["WATCHDOG=1"])
    }

    /// Tells systemd the stop is deliberate ("STOPPING=1").
    public func stopping() throws(SystemdNotifyError) {
        try send(["STOPPING=1"])
    }

    /// Replaces line breaks (and NUL, which would cut the text short) with spaces.
    static func oneLine(_ field: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in field.unicodeScalars {
            switch scalar {
            case "\n", "\r", "\u{0}": scalars.append(" ")
            default: scalars.append(scalar)
            }
        }
        return String(scalars)
    }
}
#endif
