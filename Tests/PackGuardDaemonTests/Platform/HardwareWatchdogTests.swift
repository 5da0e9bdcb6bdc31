// The watchdog without a watchdog: ioctl numbers, open failures, and what reaches a stand-in file.
#if os(Linux)
import Glibc
import Testing
@testable import PackGuardDaemon

@Suite("hardware watchdog")
struct HardwareWatchdogTests {
    @Test("ioctl request numbers match <linux/watchdog.h>")
    func requestNumbers() {
        #expect(HardwareWatchdog.setTimeoutRequest == 0xC004_5706)
        #expect(HardwareWatchdog.keepaliveRequest == 0x8004_5705)
        #expect(HardwareWatchdog.getTimeoutRequest == 0x8004_5707)
    }

    @Test("a missing device says how to enable the watchdog")
    func missingDevice() {
        let directory = PlatformTestDirectory()
        let path = directory.file("watchdog")
        #expect(throws: HardwareWatchdogError(operation: .open, path: path, errno: ENOENT)) {
            try HardwareWatchdog(path: path, timeoutSeconds: 10)
        }
        let text = "\(HardwareWatchdogError(operation: .open, path: path, errno: ENOENT))"
        #expect(text.hasPrefix("cannot open watchdog \(path): No such file or directory (errno 2): "))
        #expect(text.contains("dtparam=watchdog=on"))
        #expect(text.contains("modprobe softdog"))
    }

    @Test("a busy device names the likely owner")
    func busyDevice() {
        let text = "\(HardwareWatchdogError(operation: .open, path: "/dev/watchdog", errno: EBUSY))"
        #expect(text.hasPrefix("cannot open watchdog /dev/watchdog: Device or resource busy (errno 16): "))
        #expect(text.contains("another process (systemd RuntimeWatchdogSec?"))
        #expect(text.contains("owns it"))
    }

    @Test("pets by write and the clean close reach the device as bytes: NUL per pet, then 'V'")
    func petByWriteAndMagicClose() throws {
        let directory = PlatformTestDirectory()
        let path = try createEmptyFile(directory.file("watchdog"))
        let watchdog = try HardwareWatchdog(path: path, timeoutSeconds: nil, petMethod: .write)
        #expect(watchdog.timeoutSeconds == nil)
        try watchdog.pet()
        try watchdog.pet()
        try watchdog.closeCleanly()
        #expect(readBytes(path) == [0, 0, UInt8(ascii: "V")])

        // Closed is closed: a second clean close does nothing, a pet is a typed error.
        try watchdog.closeCleanly()
        #expect(throws: HardwareWatchdogError(operation: .keepalive, path: path, errno: EBADF)) { try watchdog.pet() }
        #expect("\(HardwareWatchdogError(operation: .keepalive, path: path, errno: EBADF))"
            == "cannot pet watchdog \(path): already closed")
        #expect(readBytes(path) == [0, 0, UInt8(ascii: "V")])
    }

    @Test("going away without closeCleanly writes no 'V': a crash leaves the watchdog armed")
    func deinitLeavesArmed() throws {
        let directory = PlatformTestDirectory()
        let path = try createEmptyFile(directory.file("watchdog"))
        do {
            let watchdog = try HardwareWatchdog(path: path, timeoutSeconds: nil, petMethod: .write)
            try watchdog.pet()
        }
        #expect(readBytes(path) == [0])
    }

    @Test("a device that rejects the timeout ioctl is a typed error, and is disarmed before the throw")
    func setTimeoutOnNonDevice() throws {
        let directory = PlatformTestDirectory()
        let path = try createEmptyFile(directory.file("watchdog"))
        let expected = HardwareWatchdogError(operation: .setTimeout, path: path, errno: ENOTTY, requestedTimeoutSeconds: 10)
        #expect(throws: expected) { try HardwareWatchdog(path: path, timeoutSeconds: 10) }
        #expect(readBytes(path) == [UInt8(ascii: "V")])
        #expect("\(expected)" == "cannot set the timeout of watchdog \(path) to 10 s: "
            + "Inappropriate ioctl for device (errno 25): is \(path) a watchdog device?")
    }

    @Test("pet by ioctl on something that is not a watchdog is a typed error")
    func keepaliveOnNonDevice() throws {
        let directory = PlatformTestDirectory()
        let path = try createEmptyFile(directory.file("watchdog"))
        let watchdog = try HardwareWatchdog(path: path, timeoutSeconds: nil)
        #expect(throws: HardwareWatchdogError(operation: .keepalive, path: path, errno: ENOTTY)) { try watchdog.pet() }
        try watchdog.closeCleanly()
    }

    @Test("a rejected timeout names the Pi's limit")
    func invalidTimeoutText() {
        let error = HardwareWatchdogError(operation: .setTimeout, path: "/dev/watchdog", errno: EINVAL, requestedTimeoutSeconds: 60)
        #expect("\(error)".hasPrefix("cannot set the timeout of watchdog /dev/watchdog to 60 s: Invalid argument (errno 22): "))
        #expect("\(error)".contains("1 to 15 s"))
    }
}

struct PlatformTestFileError: Error, CustomStringConvertible {
    let description: String
}

/// Creates an empty regular file and returns its path.
private func createEmptyFile(_ path: String) throws -> String {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { throw PlatformTestFileError(description: "create \(path): \(errnoDescription(errno))") }
    guard close(descriptor) == 0 else { throw PlatformTestFileError(description: "close \(path): \(errnoDescription(errno))") }
    return path
}

/// The whole file; nil if it cannot be read.
private func readBytes(_ path: String) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    let owner = ScopedDescriptor(descriptor)
    var contents: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 256)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(owner.raw, $0.baseAddress, $0.count) }
        if count < 0 { return nil }
        if count == 0 { return contents }
        contents += buffer[0..<count]
    }
}
#endif
