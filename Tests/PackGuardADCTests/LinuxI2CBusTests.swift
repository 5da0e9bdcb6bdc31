// What can be checked of the kernel path without an I2C adapter.
#if os(Linux)
import Testing
@testable import PackGuardADC

@Suite("Linux I2C bus")
struct LinuxI2CBusTests {
    @Test("a missing bus device names the path and how to enable I2C")
    func missingBus() {
        #expect {
            try LinuxI2CBus(path: "/dev/i2c-packguard-missing", address: 0x48)
        } throws: { error in
            guard let error = error as? I2CError else { return false }
            return error.operation == .open && error.errno == LinuxErrno.ENOENT
                && "\(error)".hasPrefix("cannot open /dev/i2c-packguard-missing (no such file or directory, ENOENT)")
                && "\(error)".contains("dtparam=i2c_arm=on")
        }
    }

    @Test("a file that is not an I2C adapter fails at address selection, and the descriptor is released")
    func notAnAdapter() {
        #expect {
            try LinuxI2CBus(path: "/dev/null", address: 0x4B)
        } throws: { error in
            guard let error = error as? I2CError else { return false }
            return error.operation == .selectAddress && error.address == 0x4B && error.errno == LinuxErrno.ENOTTY
                && "\(error)".hasPrefix("cannot select address 0x4B on /dev/null")
        }
    }

    @Test("the ioctl argument struct has the kernel's layout")
    func ioctlLayout() {
        #expect(MemoryLayout<SMBusIoctlArguments>.offset(of: \.readWrite) == 0)
        #expect(MemoryLayout<SMBusIoctlArguments>.offset(of: \.command) == 1)
        #expect(MemoryLayout<SMBusIoctlArguments>.offset(of: \.size) == 4)
        #expect(MemoryLayout<SMBusIoctlArguments>.offset(of: \.data) == 8)
        #expect(MemoryLayout<SMBusData>.size == 34)
    }
}
#endif
