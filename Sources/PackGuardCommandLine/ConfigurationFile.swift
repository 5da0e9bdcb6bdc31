import Glibc
import PackGuardConfig

/// Reads and validates a configuration file (errors name the file, line and key, or errno).
public func loadConfiguration(_ path: String) throws(ConfigurationError) -> PackGuardConfiguration {
    try ConfigurationLoader.load(path: path)
}

public func readTextFile(_ path: String) throws(FileReadError) -> String {
    try TextFile.read(path)
}

public func printError(_ text: String) {
    var stderrStream = StandardError()
    print(text, to: &stderrStream)
}

public struct StandardError: TextOutputStream {
    public init() {}

    public mutating func write(_ string: String) {
        _ = writeAll(STDERR_FILENO, string)  // a failure: nowhere left to report a failed report
    }
}

public func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// Writes (creates or truncates) a text file, every byte or a located error.
public func writeTextFile(_ path: String, _ text: String) throws(FileReadError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FileReadError(path: path, operation: "create", errno: errno) }
    defer { close(fd) }
    if let code = writeAll(fd, text) { throw FileReadError(path: path, operation: "write", errno: code) }
}

/// Writes every byte of `text` to `fd` (again after EINTR and short writes); the errno of a write
/// that failed, or nil.
func writeAll(_ fd: Int32, _ text: String) -> Int32? {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return written < 0 ? errno : EIO }
        offset += written
    }
    return nil
}

/// Where `packguard run` and the other commands look for the configuration by default.
public let defaultConfigurationPath = "/etc/packguard/packguard.yaml"

/// Where `--simulate` puts the control socket and state (per user).
public let simulationRuntimeDirectory = "/tmp/packguard-simulate-\(getuid())"
