// Who is on the other end of a control connection (SO_PEERCRED), and which groups that user is in.
#if os(Linux)
import Glibc

/// The process that connected, as the kernel recorded it at connect(2).
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "uid \(uid) pid \(pid)" }

    /// The kernel's `struct ucred` (pid_t, uid_t, gid_t), which the Glibc module does not import.
    private struct KernelCredentials {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// getsockopt(SO_PEERCRED) on a connected unix socket.
    static func of(socket descriptor: Int32) -> Result<PeerCredentials, PeerCredentialError> {
        var raw = KernelCredentials()
        var length = socklen_t(MemoryLayout<KernelCredentials>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &raw, &length) == 0 else {
            return .failure(PeerCredentialError(errno: errno))
        }
        guard length == socklen_t(MemoryLayout<KernelCredentials>.size) else {
            return .failure(PeerCredentialError(errno: EPROTO))
        }
        return .success(PeerCredentials(pid: raw.pid, uid: raw.uid, gid: raw.gid))
    }
}

public struct PeerCredentialError: Error, Equatable, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var description: String { "cannot read the peer's credentials (SO_PEERCRED): \(errnoDescription(errno))" }
}

/// Whether a user belongs to a group: injected so that tests can play any uid.
public protocol GroupMembership: Sendable {
    /// True when the user `uid` (primary group `gid`) is a member of `group`.
    /// Throws `.noSuchGroup` when the group does not exist, so refusals can say so.
    func isMember(uid: UInt32, gid: UInt32, of group: String) throws(GroupLookupError) -> Bool
}

public enum GroupLookupError: Error, Equatable, Sendable, CustomStringConvertible {
    case noSuchGroup(String)
    case system(String, errno: Int32)

    public var description: String {
        switch self {
        case .noSuchGroup(let group): "group \(group) does not exist (create it with `sudo groupadd --system \(group)`)"
        case .system(let what, let code): "cannot look up \(what): \(errnoDescription(code))"
        }
    }
}

/// The system's user and group databases (NSS): getgrnam_r, getpwuid_r and getgrouplist, read
/// at every check, so adding someone to a group takes effect without a restart.
public struct SystemGroupMembership: GroupMembership {
    public init() {}

    public func isMember(uid: UInt32, gid: UInt32, of group: String) throws(GroupLookupError) -> Bool {
        let groupID: gid_t
        do {
            groupID = try ControlSocketServer.groupID(named: group, path: "the control socket")
        } catch {
            if case .system(_, _, let code) = error { throw .system("group \(group)", errno: code) }
            throw .noSuchGroup(group)
        }
        if gid == groupID { return true }
        guard let name = try userName(uid) else { return false }  // no passwd entry: no supplementary groups
        var count: Int32 = 32
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            let capacity = count
            if getgrouplist(name, gid, &groups, &count) >= 0 {
                return groups.prefix(Int(count)).contains(groupID)
            }
            // -1 with count raised to what is needed; guard against a count that does not grow.
            guard count > capacity, count < 65_536 else { throw .system("the groups of uid \(uid)", errno: ERANGE) }
        }
    }

    /// getpwuid_r (thread-safe), growing the buffer while it says ERANGE; nil when there is no such user.
    private func userName(_ uid: UInt32) throws(GroupLookupError) -> String? {
        var bufferSize = 1024
        while true {
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>? = nil
            var buffer = [CChar](repeating: 0, count: bufferSize)
            let status = getpwuid_r(uid, &entry, &buffer, bufferSize, &result)
            if status == 0 { return result == nil ? nil : String(cString: entry.pw_name) }
            if status == ERANGE, bufferSize < 1 << 20 {
                bufferSize *= 4
                continue
            }
            if [ENOENT, ESRCH, EBADF, EPERM].contains(status) { return nil }
            throw .system("uid \(uid)", errno: status)
        }
    }
}

/// The daemon's own user, who may do anything its process could be made to do anyway.
public func effectiveUserID() -> UInt32 { geteuid() }
#endif
