/// Who may do what on the control socket, decided from the peer's credentials (SO_PEERCRED):
///
/// | request                  | allowed for                                                        |
/// |--------------------------|--------------------------------------------------------------------|
/// | status, events           | root, the daemon's user, group `packguard`, the admin group        |
/// | force-off on (safe side) | the same                                                           |
/// | force-off off, reset     | root, the daemon's user, the admin group (`control.adminGroup`)    |
///
/// The socket's mode (0660, group packguard) already keeps everyone else out; this is checked
/// anyway, so that a socket with looser permissions never hands out more than it should.
public struct ControlAccess: Sendable {
    public enum Level: Sendable, Equatable {
        /// status, events, force-off on: nothing that can close a relay.
        case observe
        /// reset, force-off off: can let a relay close again.
        case admin
    }

    /// The socket's group (`packguard`); nil when the socket keeps the daemon's group (`--simulate`),
    /// and then whoever could connect may observe.
    public var operatorGroup: String?
    public var adminGroup: String
    /// The daemon's own uid: it could stop or restart the daemon anyway.
    public var daemonUID: UInt32
    public var membership: any GroupMembership

    public init(operatorGroup: String?, adminGroup: String, daemonUID: UInt32 = effectiveUserID(),
                membership: any GroupMembership = SystemGroupMembership()) {
        self.operatorGroup = operatorGroup
        self.adminGroup = adminGroup
        self.daemonUID = daemonUID
        self.membership = membership
    }

    /// Looks every group up once, for an unprivileged user, before the control loop runs: the
    /// first lookup of each user and group database loads its NSS modules and reads its files,
    /// which must not happen on the control thread at a client's first request (in the rig's
    /// guest that first request held a step past the 200 ms loop deadline). Returns what could not
    /// be looked up; a client that needs it is told then.
    @discardableResult
    public func warmUp(uid: UInt32 = 65_534, gid: UInt32 = 65_534) -> [GroupLookupError] {
        var problems: [GroupLookupError] = []
        for group in [operatorGroup, adminGroup].compactMap({ $0 }) {
            do {
                _ = try membership.isMember(uid: uid, gid: gid, of: group)
            } catch {
                problems.append(error)
            }
        }
        return problems
    }

    /// The level a request needs.
    public static func level(for request: ControlRequest) -> Level {
        switch request.command {
        case .status, .events: .observe
        case .forceOff: request.on == false ? .admin : .observe
        case .reset: .admin
        }
    }

    /// nil when `peer` may; otherwise why not, naming the group it needs, e.g.
    /// "uid 1001 is not root and not in group packguard-admin".
    public func refusal(of level: Level, for peer: PeerCredentials) -> String? {
        if peer.uid == 0 || peer.uid == daemonUID { return nil }
        var groups = [adminGroup]
        if level == .observe {
            guard let operatorGroup else { return nil }
            groups.insert(operatorGroup, at: 0)
        }
        var problems: [String] = []
        for group in groups {
            do {
                if try membership.isMember(uid: peer.uid, gid: peer.gid, of: group) { return nil }
            } catch {
                problems.append("\(error)")
            }
        }
        let needed = groups.map { "group \($0)" }.joined(separator: " or ")
        return "uid \(peer.uid) is not root and not in \(needed)" + (problems.isEmpty ? "" : " (\(problems.joined(separator: "; ")))")
    }
}
