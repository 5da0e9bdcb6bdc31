// The Linux watchdog device (/dev/watchdog): if PackGuard stops petting it, the board resets.
#if os(Linux)
import Glibc
import PackGuardPlatform
import Synchronization

/// A failed watchdog operation, naming the operation, the device and errno.
public struct HardwareWatchdogError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Operation: String, Sendable {
        case open = "open"
        case setTimeout = "set the timeout of"
        case keepalive = "pet"
        case write = "write to"
        case magicClose = "write the magic close character to"
        case close = "close"
    }

    public let operation: Operation
    public let path: String
    public let errno: Int32
    /// The timeout asked for, for `.setTimeout`.
    public let requestedTimeoutSeconds: Int32?

    public init(operation: Operation, path: String, errno: Int32, requestedTimeoutSeconds: Int32? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.requestedTimeoutSeconds = requestedTimeoutSeconds
    }

    public var description: String {
        var what = "cannot \(operation.rawValue) watchdog \(path)"
        if operation == .setTimeout, let requestedTimeoutSeconds { what += " to \(requestedTimeoutSeconds) s" }
        let cause = errnoDescription(errno)
        switch (operation, errno) {
        case (.open, ENOENT), (.open, ENODEV), (.open, ENXIO):
            return "\(what): \(cause): no watchdog driver; on a Raspberry Pi add `dtparam=watchdog=on` to "
                + "config.txt and reboot, elsewhere `modprobe softdog`"
        case (.open, EBUSY):
            return "\(what): \(cause): another process (systemd RuntimeWatchdogSec? a watchdog daemon?) "
                + "owns it; only one process may hold the device"
        case (.open, EACCES), (.open, EPERM):
            return "\(what): \(cause): run PackGuard as root"
        case (.setTimeout, EINVAL):
            return "\(what): \(cause): the driver does not allow this timeout (the Pi's bcm2835 allows 1 to 15 s)"
        case (.setTimeout, ENOTTY), (.keepalive, ENOTTY):
            return "\(what): \(cause): is \(path) a watchdog device?"
        case (_, EBADF):
            return "\(what): already closed"
        default:
            return "\(what): \(cause)"
        }
    }
}

/// Owns the watchdog device. Opening it arms the watchdog; from then on `pet()` must come more often
/// than `timeoutSeconds`, or the hardware resets the board and the contactors drop.
///
/// Shutdown is deliberately asymmetric:
/// - `closeCleanly()` writes the magic character 'V' before closing, which disarms the watchdog on a
///   clean, intended stop (drivers with WDIOF_MAGICCLOSE; a kernel or module built with `nowayout`
///   never disarms, and says "watchdog did not stop!").
/// - `deinit` closes WITHOUT the magic character. A crash, a fatal error or a forgotten close then
///   leaves the watchdog armed, and the board resets: that is the point of a hardware watchdog.
///
/// Sendable: the descriptor sits behind a mutex, so a pet and a close never race on it.
public final class HardwareWatchdog: Sendable {
    public static let defaultPath = "/dev/watchdog"

    /// How `pet()` keeps the watchdog alive.
    public enum PetMethod: Sendable {
        /// WDIOC_KEEPALIVE, what systemd uses.
        case ioctl
        /// Writing one byte (`petByte`). Works on any driver, and on a regular file in tests.
        case write
    }

    /// The byte `pet()` writes with `.write`: anything but 'V', which would arm the magic close.
    public static let petByte: UInt8 = 0
    /// Written just before a clean close so the driver disarms the watchdog.
    public static let magicCloseByte = UInt8(ascii: "V")

    // <linux/watchdog.h>, which the Glibc module does not import. Built the way <asm-generic/ioctl.h>
    // builds them, and pinned to the header's values by the tests.
    static let watchdogIoctlBase = UInt8(ascii: "W")
    /// _IOWR('W', 6, int): set the timeout in seconds; the driver writes back the one it chose.
    public static let setTimeoutRequest = ioctlRequest(read: true, write: true, number: 6)
    /// _IOR('W', 5, int): pet.
    public static let keepaliveRequest = ioctlRequest(read: true, write: false, number: 5)
    /// _IOR('W', 7, int): read the timeout in seconds.
    public static let getTimeoutRequest = ioctlRequest(read: true, write: false, number: 7)

    /// _IOC(dir, 'W', number, sizeof(int)) with the generic layout (x86, ARM, arm64): number in bits
    /// 0-7, type in 8-15, size in 16-29, direction in 30-31 (read = 2, write = 1).
    static func ioctlRequest(read: Bool, write: Bool, number: UInt8) -> UInt {
        let direction: UInt = (read ? 2 : 0) | (write ? 1 : 0)
        let size = UInt(MemoryLayout<CInt>.size)
        return direction << 30 | size << 16 | UInt(watchdogIoctlBase) << 8 | UInt(number)
    }

    public let path: String
    public let petMethod: PetMethod
    /// The timeout the driver actually set, which may differ from the one asked for (drivers round
    /// to what the hardware can count); nil when the timeout was left alone.
    public let timeoutSeconds: Int32?
    /// The open descriptor, or -1 once closed cleanly.
    private let descriptor: Mutex<Int32>
    private let system: any SystemCalls

    /// Opens (and so arms) the watchdog. With `timeoutSeconds`, sets it with WDIOC_SETTIMEOUT and
    /// records what the driver chose; with nil, leaves the driver's timeout alone and issues no
    /// ioctl at all (so a regular file can stand in for the device in tests).
    ///
    /// If setting the timeout fails, the watchdog is disarmed with the magic close before the error
    /// is thrown: nothing is being guarded yet, and a configuration mistake must not also reset the
    /// board while the daemon reports it.
    public init(path: String = defaultPath, timeoutSeconds: Int32?, petMethod: PetMethod = .ioctl,
                system: any SystemCalls = LinuxSystemCalls()) throws(HardwareWatchdogError)
    {
        let opened: Int32
        do {
            opened = try system.open(path, flags: O_WRONLY, mode: 0)
        } catch {
            throw HardwareWatchdogError(operation: .open, path: path, errno: error.errno)
        }
        var actualTimeout: Int32? = nil
        if let timeoutSeconds {
            var value = CInt(timeoutSeconds)
            do {
                try system.ioctl(opened, Self.setTimeoutRequest, &value)
            } catch {
                // Best effort on a path that is already failing: the error thrown is the timeout's,
                // and the descriptor is closed whether or not the 'V' got through.
                do { try system.write(opened, [Self.magicCloseByte]) } catch {}
                do { try system.close(opened) } catch {}
                throw HardwareWatchdogError(
                    operation: .setTimeout, path: path, errno: error.errno, requestedTimeoutSeconds: timeoutSeconds)
            }
            actualTimeout = value
        }
        self.path = path
        self.petMethod = petMethod
        self.timeoutSeconds = actualTimeout
        self.system = system
        descriptor = Mutex(opened)
    }

    deinit {
        // No magic close here, on purpose: see the type's documentation. Linux releases the
        // descriptor even when close reports an error, and a deinit has nobody to report to.
        let raw = descriptor.withLock { $0 }
        if raw >= 0 { do { try system.close(raw) } catch {} }
    }

    /// Keeps the watchdog from resetting the board for another `timeoutSeconds`.
    public func pet() throws(HardwareWatchdogError) {
        let failure: (HardwareWatchdogError.Operation, Int32)? = descriptor.withLock { raw -> (HardwareWatchdogError.Operation, Int32)? in
            guard raw >= 0 else { return (.keepalive, EBADF) }
            switch petMethod {
            case .ioctl:
                var ignored: CInt = 0
                return Self.failedErrno { () throws(SystemCallError) in try system.ioctl(raw, Self.keepaliveRequest, &ignored) }
                    .map { (.keepalive, $0) }
            case .write:
                return Self.failedErrno { () throws(SystemCallError) in try system.write(raw, [Self.petByte]) }.map { (.write, $0) }
            }
        }
        if let (operation, code) = failure { throw HardwareWatchdogError(operation: operation, path: path, errno: code) }
    }

    /// Disarms the watchdog and closes it: the magic 'V', then close. For a deliberate stop only.
    /// If the 'V' cannot be written the device stays open (and armed) and the error is thrown, so the
    /// caller may keep petting or retry. A second call does nothing.
    public func closeCleanly() throws(HardwareWatchdogError) {
        let failure: (HardwareWatchdogError.Operation, Int32)? = descriptor.withLock { raw -> (HardwareWatchdogError.Operation, Int32)? in
            guard raw >= 0 else { return nil }
            let opened = raw
            if let code = Self.failedErrno({ () throws(SystemCallError) in try system.write(opened, [Self.magicCloseByte]) }) {
                return (.magicClose, code)
            }
            raw = -1
            // Linux has released the descriptor even if close fails, so it is never closed again;
            // the failure is still reported, since the driver may not have seen the release.
            return Self.failedErrno { () throws(SystemCallError) in try system.close(opened) }.map { (.close, $0) }
        }
        if let (operation, code) = failure { throw HardwareWatchdogError(operation: operation, path: path, errno: code) }
    }

    /// errno of a failed call, nil when it succeeded.
    private static func failedErrno(_ call: () throws(SystemCallError) -> Void) -> Int32? {
        do {
            try call()
            return nil
        } catch {
            return error.errno
        }
    }
}
#endif
