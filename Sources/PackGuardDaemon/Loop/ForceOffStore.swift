import Glibc

/// The operator's force-off latch, persisted under the state directory so it survives a
/// reboot: a pack locked out for maintenance must stay locked out after a power cycle.
public struct ForceOffStore: Sendable {
    public let directory: String
    public var path: String { directory + "/force-off" }

    public init(directory: String) { self.directory = directory }

    public struct StoreError: Error, CustomStringConvertible {
        public var operation: String
        public var path: String
        public var errno: Int32
        public var description: String { "\(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))" }
    }

    /// True when the latch file exists. An unreadable state directory is an error, never "off".
    public func load() throws(StoreError) -> Bool {
        if access(path, F_OK) == 0 { return true }
        if errno == ENOENT {
            if access(directory, R_OK | X_OK) == 0 { return false }
            if errno == ENOENT { return false }  // no state yet: first start
        }
        throw StoreError(operation: "read force-off state", path: path, errno: errno)
    }

    /// Writes (durably: file and directory fsync'd) or removes the latch.
    public func save(_ on: Bool) throws(StoreError) {
        if mkdir(directory, 0o750) != 0 && errno != EEXIST {
            throw StoreError(operation: "create state directory", path: directory, errno: errno)
        }
        if on {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw StoreError(operation: "write force-off state", path: path, errno: errno) }
            defer { close(fd) }
            let text = Array("on\n".utf8)
            guard write(fd, text, text.count) == text.count, fsync(fd) == 0 else {
                throw StoreError(operation: "write force-off state", path: path, errno: errno)
            }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw StoreError(operation: "remove force-off state", path: path, errno: errno)
        }
        let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirFD >= 0 else { throw StoreError(operation: "open state directory", path: directory, errno: errno) }
        defer { close(dirFD) }
        guard fsync(dirFD) == 0 else { throw StoreError(operation: "sync state directory", path: directory, errno: errno) }
    }
}
