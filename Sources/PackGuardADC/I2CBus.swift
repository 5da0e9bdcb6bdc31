// The I2C bus seen by the ADS1115 driver, and the error every transfer can throw.

/// One slave address on one I2C bus, spoken to with SMBus "word data" transfers.
///
/// Byte order: these are SMBus words, exactly as the kernel's `I2C_SMBUS` ioctl carries them:
/// the first data byte on the wire is the LOW byte of the word. Devices that send MSB first
/// (the ADS1115 does) see their registers byte-swapped here; the device driver swaps, not the bus.
public protocol I2CBus: AnyObject, Sendable {
    /// The bus device, e.g. `/dev/i2c-1`; named in every error.
    var path: String { get }
    /// The 7-bit slave address every transfer goes to.
    var address: UInt8 { get }
    /// SMBus "read word data": writes `register`, then reads two bytes (first byte = low byte).
    func smbusReadWord(register: UInt8) throws(I2CError) -> UInt16
    /// SMBus "write word data": writes `register`, then the low byte, then the high byte of `word`.
    func smbusWriteWord(register: UInt8, word: UInt16) throws(I2CError)
}

/// A failed I2C operation, naming the operation, bus, address, register and errno.
public struct I2CError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Operation: String, Sendable {
        case open = "open"
        case selectAddress = "select address"
        case readWord = "read word"
        case writeWord = "write word"
    }

    public let operation: Operation
    public let busPath: String
    public let address: UInt8
    /// The register of a read or write; nil for open and select address.
    public let register: UInt8?
    /// The Linux errno the kernel (or the simulation) reported.
    public let errno: Int32

    public init(operation: Operation, busPath: String, address: UInt8, register: UInt8?, errno: Int32) {
        self.operation = operation
        self.busPath = busPath
        self.address = address
        self.register = register
        self.errno = errno
    }

    /// True when the device did not acknowledge its address: wiring, power, address or bus disabled.
    public var isNoAnswer: Bool {
        (operation == .readWord || operation == .writeWord)
            && [LinuxErrno.ENXIO, LinuxErrno.EREMOTEIO, LinuxErrno.ENODEV].contains(errno)
    }

    public var description: String {
        let at = "\(hex(address)) on \(busPath)"
        let cause = LinuxErrno.describe(errno)
        let registerText = register.map { ", register \(hex($0))" } ?? ""
        if isNoAnswer {
            return "nothing answers at \(at) (\(operation.rawValue)\(registerText): \(cause)): "
                + "check wiring, power and address, and `dtparam=i2c_arm=on`"
        }
        switch (operation, errno) {
        case (.open, LinuxErrno.ENOENT):
            return "cannot open \(busPath) (\(cause)): enable I2C with `dtparam=i2c_arm=on` and check the bus number"
        case (.open, LinuxErrno.EACCES):
            return "cannot open \(busPath) (\(cause)): run as root or add the service user to the i2c group"
        case (.selectAddress, LinuxErrno.EBUSY):
            return "cannot select address \(at) (\(cause)): a kernel driver owns it; remove the ads1015/ads1115 dtoverlay"
        case (.open, _):
            return "cannot open \(busPath) (\(cause))"
        case (.selectAddress, _):
            return "cannot select address \(at) (\(cause)): is \(busPath) an I2C bus?"
        case (.readWord, _), (.writeWord, _):
            return "\(operation.rawValue) failed at \(at)\(registerText) (\(cause))"
        }
    }
}

/// The Linux errno values PackGuard names. Fixed by the kernel ABI, so no libc is needed to name them.
public enum LinuxErrno {
    public static let EPERM: Int32 = 1
    public static let ENOENT: Int32 = 2
    public static let EINTR: Int32 = 4
    public static let EIO: Int32 = 5
    public static let ENXIO: Int32 = 6
    public static let EAGAIN: Int32 = 11
    public static let EACCES: Int32 = 13
    public static let EBUSY: Int32 = 16
    public static let ENODEV: Int32 = 19
    public static let EINVAL: Int32 = 22
    public static let ENOTTY: Int32 = 25
    public static let EPROTO: Int32 = 71
    public static let EOPNOTSUPP: Int32 = 95
    public static let ETIMEDOUT: Int32 = 110
    public static let EREMOTEIO: Int32 = 121

    private static let names: [Int32: (name: String, meaning: String)] = [
        EPERM: ("EPERM", "operation not permitted"),
        ENOENT: ("ENOENT", "no such file or directory"),
        EINTR: ("EINTR", "interrupted"),
        EIO: ("EIO", "input/output error"),
        ENXIO: ("ENXIO", "no such device or address"),
        EAGAIN: ("EAGAIN", "bus arbitration lost"),
        EACCES: ("EACCES", "permission denied"),
        EBUSY: ("EBUSY", "device or resource busy"),
        ENODEV: ("ENODEV", "no such device"),
        EINVAL: ("EINVAL", "invalid argument"),
        ENOTTY: ("ENOTTY", "inappropriate ioctl for device"),
        EPROTO: ("EPROTO", "protocol error"),
        EOPNOTSUPP: ("EOPNOTSUPP", "the adapter does not support this transfer"),
        ETIMEDOUT: ("ETIMEDOUT", "bus timed out"),
        EREMOTEIO: ("EREMOTEIO", "no acknowledge"),
    ]

    /// "input/output error, EIO" or "errno 77" for values PackGuard does not name.
    public static func describe(_ errno: Int32) -> String {
        guard let known = names[errno] else { return "errno \(errno)" }
        return "\(known.meaning), \(known.name)"
    }
}

/// "0x48": addresses and registers as the datasheet and i2cdetect write them.
func hex(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16, uppercase: true)
    return "0x" + (digits.count < 2 ? "0" + digits : digits)
}

/// "0xC383": 16-bit register values.
func hex(_ word: UInt16) -> String {
    let digits = String(word, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: 4 - digits.count) + digits
}
