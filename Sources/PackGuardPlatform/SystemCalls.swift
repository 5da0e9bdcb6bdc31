/// A system call that failed: which call, and errno. The one error type of the platform layer;
/// the drivers above it say what they were doing (open the watchdog, persist force-off) and why
/// that matters, and keep this as the cause.
public struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Call: String, Sendable, CaseIterable {
        case open, close, write, ioctl, fsync, unlink, mkdir, access, socket, sendto
    }

    public let call: Call
    public let errno: Int32

    public init(_ call: Call, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call.rawValue): \(errnoDescription(errno))" }
}

/// The system calls of the daemon's devices and files (the hardware watchdog, the systemd notify
/// socket, the force-off latch), behind one small interface so that a test can make any of them
/// fail with any errno (`FaultInjectingSystemCalls`), as the GPIO backend allows for lines.
/// `LinuxSystemCalls` is the only implementation that calls the C library.
public protocol SystemCalls: Sendable {
    /// open(2) with O_CLOEXEC added; EINTR is retried.
    func open(_ path: String, flags: Int32, mode: UInt32) throws(SystemCallError) -> Int32
    /// close(2). Linux releases the descriptor even when close fails; the error is still reported.
    func close(_ descriptor: Int32) throws(SystemCallError)
    /// write(2) of every byte, retrying EINTR and short writes; a write of 0 bytes is EIO.
    func write(_ descriptor: Int32, _ bytes: [UInt8]) throws(SystemCallError)
    /// ioctl(2) with a pointer to one int, which the driver may change.
    func ioctl(_ descriptor: Int32, _ request: UInt, _ value: inout Int32) throws(SystemCallError)
    func fsync(_ descriptor: Int32) throws(SystemCallError)
    /// unlink(2); a missing file is not an error.
    func unlinkIfPresent(_ path: String) throws(SystemCallError)
    /// mkdir(2); an existing directory is not an error.
    func makeDirectoryIfMissing(_ path: String, mode: UInt32) throws(SystemCallError)
    /// access(2) with F_OK or R_OK|X_OK: false when the path does not exist, an error otherwise.
    func exists(_ path: String, mode: Int32) throws(SystemCallError) -> Bool
    /// A close-on-exec datagram socket in AF_UNIX.
    func datagramSocket() throws(SystemCallError) -> Int32
    /// sendto(2) of one datagram to a unix address; returns the bytes sent. Never waits: a receiver
    /// whose queue is full (systemd busy or stuck) is EAGAIN, so the control loop that pets systemd
    /// cannot stall behind it.
    func send(_ descriptor: Int32, _ bytes: [UInt8], to address: UnixSocketAddress) throws(SystemCallError) -> Int
}
