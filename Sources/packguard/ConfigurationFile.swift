import Glibc
import PackGuardConfig

/// Reads and validates a configuration file; an unreadable file is reported like any other
/// configuration error, naming the file and errno.
func loadConfiguration(_ path: String) throws(ConfigurationError) -> PackGuardConfiguration {
    let text: String
    do {
        text = try readTextFile(path)
    } catch {
        throw ConfigurationError(issues: [ConfigurationIssue(file: path, line: nil, column: nil, keyPath: "",
                                                             message: error.description)])
    }
    return try ConfigurationLoader.parse(text, file: path)
}

struct FileReadError: Error, CustomStringConvertible {
    var path: String
    var operation: String
    var errno: Int32
    var description: String { "cannot \(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))" }
}

func readTextFile(_ path: String) throws(FileReadError) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileReadError(path: path, operation: "open", errno: errno) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
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

func printError(_ text: String) {
    var stderrStream = StandardError()
    print(text, to: &stderrStream)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        let bytes = Array(string.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }  // nowhere left to report a failed report
            offset += written
        }
    }
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }
