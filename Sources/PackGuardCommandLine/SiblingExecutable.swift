import Glibc

/// The executables installed next to `packguard` that hold the commands it forwards to them
/// (`packguard-bench`: bench and simulate; `packguard-telemetry`: telemetry). They live apart so
/// that `packguard run` maps neither Foundation nor libmosquitto: the daemon stays small.
public enum SiblingExecutable {
    /// `name` in the directory of the running executable (/proc/self/exe), or why not.
    public static func path(of name: String) -> Result<String, SiblingError> {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return .failure(SiblingError(name: name, path: nil, operation: "readlink /proc/self/exe", errno: errno)) }
        let bytes = buffer[..<length].map { UInt8(bitPattern: $0) }
        let own = String(decoding: bytes, as: UTF8.self)
        guard let slash = own.lastIndex(of: "/") else { return .success(name) }
        return .success(String(own[...slash]) + name)
    }

    /// Replaces this process with `name` (from `path(of:)`), its argv[0] the path and then
    /// `arguments`. Returns only when that failed.
    public static func exec(_ name: String, arguments: [String]) -> SiblingError {
        let path: String
        switch Self.path(of: name) {
        case .success(let found): path = found
        case .failure(let error): return error
        }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        execv(path, argv)
        return SiblingError(name: name, path: path, operation: "execv", errno: errno)
    }
}

/// A sibling executable that could not be run: which, where, and the errno.
public struct SiblingError: Error, CustomStringConvertible, Equatable {
    public var name: String
    public var path: String?
    public var operation: String
    public var errno: Int32

    /// 127 when it is not there (as a shell says "command not found"), else 126.
    public var exitCode: Int32 { errno == ENOENT ? 127 : 126 }

    public var description: String {
        let reason = String(cString: strerror(errno))
        guard let path else { return "cannot find \(name): \(operation) failed: \(reason) (errno \(errno))" }
        if errno == ENOENT {
            return "\(path) is missing: this command lives in \(name), which is built with packguard "
                + "(swift build) and installed next to it (hardware/pi/install.sh)"
        }
        return "cannot run \(path): \(operation) failed: \(reason) (errno \(errno))"
    }
}
