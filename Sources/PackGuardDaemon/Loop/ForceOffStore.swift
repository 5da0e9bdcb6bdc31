import Glibc
import PackGuardPlatform

/// The operator's force-off latch, persisted under the state directory so it survives a
/// reboot: a pack locked out for maintenance must stay locked out after a power cycle.
public struct ForceOffStore: Sendable {
    public let directory: String
    public var path: String { directory + "/force-off" }
    private let system: any SystemCalls

    public init(directory: String, system: any SystemCalls = LinuxSystemCalls()) {
        self.directory = directory
        self.system = system
    }

    public struct StoreError: Error, CustomStringConvertible {
        public var operation: String
        public var path: String
        public var errno: Int32
        public var description: String { "\(operation) \(path): \(errnoDescription(errno))" }
    }

    /// True when the latch file exists. An unreadable state directory is an error, never "off".
    public func load() throws(StoreError) -> Bool {
        do {
            if try system.exists(path, mode: F_OK) { return true }
        } catch {
            throw StoreError(operation: "read force-off state", path: path, errno: error.errno)
        }
        do {
            // No latch, and either no state yet (first start) or a directory that can be read.
            _ = try system.exists(directory, mode: R_OK | X_OK)
            return false
        } catch {
            throw StoreError(operation: "read force-off state", path: path, errno: error.errno)
        }
    }

    /// Writes (durably: file and directory fsync'd) or removes the latch.
    public func save(_ on: Bool) throws(StoreError) {
        do {
            try system.makeDirectoryIfMissing(directory, mode: 0o750)
        } catch {
            throw StoreError(operation: "create state directory", path: directory, errno: error.errno)
        }
        if on {
            do throws(SystemCallError) {
                let fd = try system.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o640)
                do throws(SystemCallError) {
                    try system.write(fd, Array("on\n".utf8))
                    try system.fsync(fd)
                } catch {
                    do { try system.close(fd) } catch {}  // the write's error is the one that matters
                    throw error
                }
                try system.close(fd)
            } catch {
                throw StoreError(operation: "write force-off state", path: path, errno: error.errno)
            }
        } else {
            do {
                try system.unlinkIfPresent(path)
            } catch {
                throw StoreError(operation: "remove force-off state", path: path, errno: error.errno)
            }
        }
        let dirFD: Int32
        do {
            dirFD = try system.open(directory, flags: O_RDONLY | O_DIRECTORY, mode: 0)
        } catch {
            throw StoreError(operation: "open state directory", path: directory, errno: error.errno)
        }
        do {
            try system.fsync(dirFD)
        } catch {
            do { try system.close(dirFD) } catch {}
            throw StoreError(operation: "sync state directory", path: directory, errno: error.errno)
        }
        do {
            try system.close(dirFD)
        } catch {
            throw StoreError(operation: "close state directory", path: directory, errno: error.errno)
        }
    }
}
