import Glibc

/// A file that could not be read, naming the file, the operation and errno.
public struct FileReadError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var errno: Int32

    public init(path: String, operation: String, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "cannot \(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))" }
}

public enum TextFile {
    /// Reads a whole (small) text file: configurations and scenarios, 1 MiB at most.
    public static func read(_ path: String) throws(FileReadError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileReadError(path: path, operation: "read", errno: errno)
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
            if bytes.count > 1 << 20 { throw FileReadError(path: path, operation: "read (larger than 1 MiB)", errno: EFBIG) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Replaces a text file: written beside it, then renamed over it, so a reader never sees half.
    public static func write(_ text: String, to path: String) throws(FileReadError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileReadError(path: temporary, operation: "create", errno: errno) }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let failure = errno
                close(fd)
                unlink(temporary)
                throw FileReadError(path: temporary, operation: "write", errno: failure)
            }
            bytes = bytes.dropFirst(count)
        }
        guard close(fd) == 0 else { throw FileReadError(path: temporary, operation: "close", errno: errno) }
        guard rename(temporary, path) == 0 else { throw FileReadError(path: path, operation: "rename \(temporary) to", errno: errno) }
    }
}

extension ConfigurationLoader {
    /// Reads and validates a configuration file; an unreadable file is reported like any other
    /// configuration error, naming the file and errno.
    public static func load(path: String) throws(ConfigurationError) -> PackGuardConfiguration {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw ConfigurationError(issues: [ConfigurationIssue(file: path, line: nil, column: nil, keyPath: "",
                                                                 message: error.description)])
        }
        return try parse(text, file: path)
    }
}
