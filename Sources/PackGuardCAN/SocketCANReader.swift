import CSocketCAN
import Glibc
import PackGuardCore

/// A SocketCAN failure: which call, on which interface, and errno.
public struct SocketCANError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var interface: String
    public var errno: Int32

    public var description: String {
        let text = String(cString: strerror(errno))
        let hint = errno == ENODEV ? " (is the interface up? `ip link show \(interface)`)" : ""
        return "CAN \(interface): \(operation) failed: \(text) (errno \(errno))\(hint)"
    }
}

/// The one owner of a listen-only CAN_RAW socket: kernel filters for the configured identifiers,
/// its own frames not echoed back, never written to. Every C call of this module is in this file
/// (through the CSocketCAN shim).
public final class SocketCANReader {
    public let interface: String
    public let fileDescriptor: Int32
    /// Frames the kernel passed that are not classic data frames (remote, error, CAN FD).
    public private(set) var otherFrames = 0

    public init(interface: String, identifiers: [CANIdentifier]) throws(SocketCANError) {
        self.interface = interface
        let filters = identifiers.map { pg_can_filter(id: $0.value, extended: $0.extended ? 1 : 0) }
        var step: UnsafePointer<CChar>?
        let fd = filters.withUnsafeBufferPointer { buffer in
            pg_can_open(interface, buffer.baseAddress, Int32(buffer.count), &step)
        }
        guard fd >= 0 else {
            throw SocketCANError(operation: step.map { String(cString: $0) } ?? "open", interface: interface, errno: errno)
        }
        fileDescriptor = fd
    }

    deinit {
        // Nothing to do on failure: the descriptor is gone either way.
        _ = pg_can_close(fileDescriptor)
    }

    /// Waits up to `milliseconds` for a frame (for `packguard can`; the daemon polls instead).
    /// True when one is waiting.
    public func waitForFrame(milliseconds: Int32) throws(SocketCANError) -> Bool {
        var entry = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, milliseconds)
        if ready < 0 && errno != EINTR { throw SocketCANError(operation: "poll", interface: interface, errno: errno) }
        return ready > 0
    }

    /// The next waiting frame, or nil when none is waiting. Never blocks.
    public func read() throws(SocketCANError) -> CANFrame? {
        var id: UInt32 = 0
        var extended: Int32 = 0
        var length: Int32 = 0
        var data = [UInt8](repeating: 0, count: 8)
        while true {
            let result = data.withUnsafeMutableBufferPointer { pg_can_read(fileDescriptor, &id, &extended, &length, $0.baseAddress) }
            switch result {
            case 1:
                return CANFrame(id: CANIdentifier(id, extended: extended != 0), data: Array(data[0..<Int(length)]))
            case 0:
                return nil
            case 2:
                otherFrames += 1
            default:
                if errno == EINTR { continue }
                throw SocketCANError(operation: "read", interface: interface, errno: errno)
            }
        }
    }
}
