// The platform layer's C calls, all in this file.
#if os(Linux)
import Glibc

/// "No such file or directory (errno 2)": the C library's words for people, the number for searching.
public func errnoDescription(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return "\(String(cString: text)) (errno \(code))"
}

/// The real system calls.
public struct LinuxSystemCalls: SystemCalls {
    public init() {}

    public func open(_ path: String, flags: Int32, mode: UInt32) throws(SystemCallError) -> Int32 {
        while true {
            let descriptor = Glibc.open(path, flags | O_CLOEXEC, mode)
            if descriptor >= 0 { return descriptor }
            if errno != EINTR { throw SystemCallError(.open, errno: errno) }
        }
    }

    public func close(_ descriptor: Int32) throws(SystemCallError) {
        if Glibc.close(descriptor) != 0 { throw SystemCallError(.close, errno: errno) }
    }

    public func write(_ descriptor: Int32, _ bytes: [UInt8]) throws(SystemCallError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written > 0 {
                offset += written
            } else if written == 0 {
                throw SystemCallError(.write, errno: EIO)
            } else if errno != EINTR {
                throw SystemCallError(.write, errno: errno)
            }
        }
    }

    public func ioctl(_ descriptor: Int32, _ request: UInt, _ value: inout Int32) throws(SystemCallError) {
        let result = withUnsafeMutablePointer(to: &value) { Glibc.ioctl(descriptor, request, $0) }
        if result < 0 { throw SystemCallError(.ioctl, errno: errno) }
    }

    public func fsync(_ descriptor: Int32) throws(SystemCallError) {
        if Glibc.fsync(descriptor) != 0 { throw SystemCallError(.fsync, errno: errno) }
    }

    public func unlinkIfPresent(_ path: String) throws(SystemCallError) {
        if Glibc.unlink(path) != 0 && errno != ENOENT { throw SystemCallError(.unlink, errno: errno) }
    }

    public func makeDirectoryIfMissing(_ path: String, mode: UInt32) throws(SystemCallError) {
        if Glibc.mkdir(path, mode) != 0 && errno != EEXIST { throw SystemCallError(.mkdir, errno: errno) }
    }

    public func exists(_ path: String, mode: Int32) throws(SystemCallError) -> Bool {
        if Glibc.access(path, mode) == 0 { return true }
        if errno == ENOENT { return false }
        throw SystemCallError(.access, errno: errno)
    }

    public func datagramSocket() throws(SystemCallError) -> Int32 {
        let descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if descriptor < 0 { throw SystemCallError(.socket, errno: errno) }
        return descriptor
    }

    public func send(_ descriptor: Int32, _ bytes: [UInt8], to address: UnixSocketAddress) throws(SystemCallError) -> Int {
        while true {
            let sent = bytes.withUnsafeBytes { buffer in
                address.withSockaddr { Glibc.sendto(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), $0, $1) }
            }
            if sent >= 0 { return sent }
            if errno != EINTR { throw SystemCallError(.sendto, errno: errno) }
        }
    }
}

/// `sockaddr_un` with its exact length, as bind, connect and sendto want it.
public struct UnixSocketAddress: Sendable {
    /// sizeof(sun_path): 108 on Linux.
    public static let pathCapacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
    /// offsetof(struct sockaddr_un, sun_path): the family field before the path.
    static let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2

    private(set) var storage = sockaddr_un()
    public let length: socklen_t

    /// A filesystem socket. The length counts the terminating NUL, as systemd and the kernel's
    /// own getsockname do. Nil when the path (plus NUL) does not fit in sun_path, or is empty.
    public init?(path: String) {
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
    public init?(abstractName name: String) {
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
    public func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
#endif
