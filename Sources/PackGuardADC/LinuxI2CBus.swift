// The only file that talks to the kernel's I2C interface (i2c-dev): open, ioctl, close.
#if os(Linux)
import Glibc

// From <linux/i2c-dev.h> and <linux/i2c.h>, which the Glibc module does not import.
private let I2C_SLAVE: UInt = 0x0703
private let I2C_SMBUS: UInt = 0x0720
private let I2C_SMBUS_WRITE: UInt8 = 0
private let I2C_SMBUS_READ: UInt8 = 1
private let I2C_SMBUS_WORD_DATA: UInt32 = 3

/// `struct i2c_smbus_ioctl_data`: u8 read_write, u8 command, u32 size, union i2c_smbus_data *data.
/// Swift lays these out in declaration order with natural alignment, matching C: offsets 0, 1, 4, 8.
struct SMBusIoctlArguments {
    var readWrite: UInt8
    var command: UInt8
    var size: UInt32
    var data: UnsafeMutableRawPointer
}

/// `union i2c_smbus_data` is 34 bytes (block[I2C_SMBUS_BLOCK_MAX + 2]), 2-byte aligned; `word` is at offset 0.
typealias SMBusData = (
    UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16,
    UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16
)

/// `/dev/i2c-N` opened for one slave address. Owns the file descriptor: closed exactly once, in deinit.
public final class LinuxI2CBus: I2CBus {
    public let path: String
    public let address: UInt8
    private let fileDescriptor: Int32

    /// Opens `path` and selects `address` (I2C_SLAVE). Nothing is sent yet: a missing device shows up
    /// on the first transfer as "nothing answers".
    public init(path: String, address: UInt8) throws(I2CError) {
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw I2CError(operation: .open, busPath: path, address: address, register: nil, errno: errno)
        }
        self.path = path
        self.address = address
        fileDescriptor = descriptor
        // From here on a throw releases self, and deinit closes the descriptor.
        guard ioctl(descriptor, I2C_SLAVE, CInt(address)) >= 0 else {
            throw I2CError(operation: .selectAddress, busPath: path, address: address, register: nil, errno: errno)
        }
    }

    deinit {
        // Linux releases the descriptor even when close reports an error, and a deinit has nobody to
        // report to: there is nothing to retry or undo.
        _ = close(fileDescriptor)
    }

    public func smbusReadWord(register: UInt8) throws(I2CError) -> UInt16 {
        var data: SMBusData = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let failure = transfer(readWrite: I2C_SMBUS_READ, register: register, data: &data)
        if let failure { throw I2CError(operation: .readWord, busPath: path, address: address, register: register, errno: failure) }
        return data.0
    }

    public func smbusWriteWord(register: UInt8, word: UInt16) throws(I2CError) {
        var data: SMBusData = (word, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let failure = transfer(readWrite: I2C_SMBUS_WRITE, register: register, data: &data)
        if let failure { throw I2CError(operation: .writeWord, busPath: path, address: address, register: register, errno: failure) }
    }

    /// One I2C_SMBUS word-data ioctl; returns errno on failure.
    private func transfer(readWrite: UInt8, register: UInt8, data: inout SMBusData) -> Int32? {
        withUnsafeMutableBytes(of: &data) { dataBytes in
            guard let dataPointer = dataBytes.baseAddress else { return LinuxErrno.EINVAL }
            var arguments = SMBusIoctlArguments(
                readWrite: readWrite, command: register, size: I2C_SMBUS_WORD_DATA, data: dataPointer)
            let result = withUnsafeMutablePointer(to: &arguments) { argumentPointer in
                ioctl(fileDescriptor, I2C_SMBUS, UnsafeMutableRawPointer(argumentPointer))
            }
            return result < 0 ? errno : nil
        }
    }
}
#endif
