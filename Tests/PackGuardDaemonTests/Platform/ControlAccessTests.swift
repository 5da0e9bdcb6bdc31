// Who may do what on the control socket (faked uids and groups), and force-off replies that wait
// for the state to be persisted.
#if os(Linux)
import Glibc
import PackGuardConfig
import PackGuardCore
import Synchronization
import Testing
@testable import PackGuardDaemon

/// A user database in a dictionary: uid -> the groups it belongs to.
struct FakeGroups: GroupMembership {
    var members: [UInt32: Set<String>]
    var existing: Set<String> = ["packguard", "packguard-admin", "wheel"]

    func isMember(uid: UInt32, gid: UInt32, of group: String) throws(GroupLookupError) -> Bool {
        guard existing.contains(group) else { throw .noSuchGroup(group) }
        return members[uid]?.contains(group) ?? false
    }
}

/// Records every lookup, for the warm-up.
final class RecordingGroups: GroupMembership, Sendable {
    let lookups = Mutex<[String]>([])
    func isMember(uid: UInt32, gid: UInt32, of group: String) throws(GroupLookupError) -> Bool {
        lookups.withLock { $0.append("\(uid):\(group)") }
        if group == "missing" { throw .noSuchGroup(group) }
        return false
    }
}

@Suite("Control access warm-up")
struct ControlAccessWarmUpTests {
    /// The first NSS lookup loads modules and reads files: done before the loop runs, for every
    /// group a client may need, as an unprivileged user; what is missing is told, never thrown.
    @Test func everyGroupIsLookedUpOnceBeforeAnyClient() {
        let groups = RecordingGroups()
        let access = ControlAccess(operatorGroup: "packguard", adminGroup: "missing", daemonUID: 990, membership: groups)
        let problems = access.warmUp()
        #expect(groups.lookups.withLock { $0 } == ["65534:packguard", "65534:missing"])
        #expect(problems == [.noSuchGroup("missing")])
        let simulated = ControlAccess(operatorGroup: nil, adminGroup: "packguard-admin", daemonUID: 990, membership: groups)
        simulated.warmUp()
        #expect(groups.lookups.withLock { $0 }.last == "65534:packguard-admin")
    }
}

let operatorUID: UInt32 = 1001  // in group packguard only
let adminUID: UInt32 = 1002  // in packguard-admin (and packguard)
let strangerUID: UInt32 = 1003  // in neither
let daemonUID: UInt32 = 990

let fakeAccess = ControlAccess(
    operatorGroup: "packguard", adminGroup: "packguard-admin", daemonUID: daemonUID,
    membership: FakeGroups(members: [operatorUID: ["packguard"], adminUID: ["packguard", "packguard-admin"],
                                     strangerUID: ["wheel"]]))

func peer(_ uid: UInt32, pid: Int32 = 4242) -> Result<PeerCredentials, PeerCredentialError> {
    .success(PeerCredentials(pid: pid, uid: uid, gid: 100))
}

/// Sends one request line as `uid` and decodes the reply.
func ask(_ rig: Rig, _ line: String, as uid: UInt32, access: ControlAccess = fakeAccess) throws -> ControlReply {
    try ControlCodec.decode(ControlReply.self, from: rig.controller.handle(requestLine: line, from: peer(uid), access: access))
}

let forceOffOn = #"{"command":"forceOff","on":true}"#
let forceOffOff = #"{"command":"forceOff","on":false}"#
let resetLine = #"{"command":"reset"}"#
let statusLine = #"{"command":"status"}"#

@Suite("control access: peer credentials decide")
struct ControlAccessTests {
    @Test("group packguard may read and hold off, but not release or reset; the refusal names the group")
    func operatorGroup() throws {
        let rig = try Rig()
        try rig.step()
        #expect(try ask(rig, statusLine, as: operatorUID).ok)
        #expect(try ask(rig, #"{"command":"events"}"#, as: operatorUID).ok)
        #expect(try ask(rig, forceOffOn, as: operatorUID).ok)
        #expect(rig.controller.currentPolicy.isForcedOff)

        let release = try ask(rig, forceOffOff, as: operatorUID)
        #expect(!release.ok)
        #expect(release.error == "force-off off refused: uid 1001 is not root and not in group packguard-admin")
        #expect(rig.controller.currentPolicy.isForcedOff, "the hold stays")

        let reset = try ask(rig, resetLine, as: operatorUID)
        #expect(reset.error == "reset refused: uid 1001 is not root and not in group packguard-admin")
    }

    @Test("packguard-admin, root and the daemon's own user may release and reset")
    func adminGroup() throws {
        for uid in [adminUID, 0, daemonUID] {
            let rig = try Rig()
            try rig.step()
            #expect(try ask(rig, forceOffOn, as: uid).ok)
            let release = try ask(rig, forceOffOff, as: uid)
            #expect(release.ok, "uid \(uid): \(release.error ?? "")")
            #expect(!rig.controller.currentPolicy.isForcedOff)
            #expect(try ask(rig, resetLine, as: uid).ok)
        }
    }

    @Test("a user in neither group may not even read status; the refusal names both groups")
    func stranger() throws {
        let rig = try Rig()
        try rig.step()
        let status = try ask(rig, statusLine, as: strangerUID)
        #expect(!status.ok && status.status == nil)
        #expect(status.error == "status refused: uid 1003 is not root and not in group packguard or group packguard-admin")
        #expect(try !ask(rig, forceOffOn, as: strangerUID).ok)
        #expect(!rig.controller.currentPolicy.isForcedOff, "a refused hold is not applied either")
    }

    @Test("an admin group that does not exist: refused, and the reply says how to create it")
    func missingAdminGroup() throws {
        let rig = try Rig()
        try rig.step()
        let access = ControlAccess(operatorGroup: "packguard", adminGroup: "pg-admins", daemonUID: daemonUID,
                                   membership: FakeGroups(members: [operatorUID: ["packguard"]]))
        let reset = try ask(rig, resetLine, as: operatorUID, access: access)
        #expect(reset.error == "reset refused: uid 1001 is not root and not in group pg-admins "
            + "(group pg-admins does not exist (create it with `sudo groupadd --system pg-admins`))")
    }

    @Test("without a socket group (--simulate) anyone who could connect may read, but only admins release")
    func noOperatorGroup() throws {
        let rig = try Rig()
        try rig.step()
        let access = ControlAccess(operatorGroup: nil, adminGroup: "packguard-admin", daemonUID: daemonUID,
                                   membership: FakeGroups(members: [:]))
        #expect(try ask(rig, statusLine, as: strangerUID, access: access).ok)
        #expect(try ask(rig, forceOffOn, as: strangerUID, access: access).ok)
        #expect(try !ask(rig, forceOffOff, as: strangerUID, access: access).ok)
    }

    @Test("unreadable peer credentials refuse everything")
    func unknownPeer() throws {
        let rig = try Rig()
        try rig.step()
        let reply = try ControlCodec.decode(ControlReply.self, from: rig.controller.handle(
            requestLine: statusLine, from: .failure(PeerCredentialError(errno: ENOTSOCK)), access: fakeAccess))
        #expect(!reply.ok)
        #expect(reply.error?.hasPrefix("status refused: cannot read the peer's credentials (SO_PEERCRED)") == true)
    }

    @Test("every command and every refusal is an event with uid, pid, command and result")
    func commandEvents() throws {
        let rig = try Rig()
        try rig.step()
        _ = try ask(rig, statusLine, as: operatorUID)
        _ = try ask(rig, forceOffOn, as: operatorUID)
        _ = try ask(rig, resetLine, as: operatorUID)
        _ = try ask(rig, forceOffOff, as: adminUID)
        let control = rig.controller.events.last(50).filter { $0.kind.hasPrefix("control.") }
        #expect(control.map(\.kind) == ["control.command", "control.refused", "control.command"])
        #expect(control.map(\.reason) == [
            "force-off on by uid 1001 pid 4242: ok: operator force-off: every relay held open",
            "reset by uid 1001 pid 4242: refused: uid 1001 is not root and not in group packguard-admin",
            "force-off off by uid 1002 pid 4242: ok: operator force-off released: relays must qualify again",
        ])
    }

    @Test("the level each request needs")
    func levels() {
        #expect(ControlAccess.level(for: ControlRequest(command: .status)) == .observe)
        #expect(ControlAccess.level(for: ControlRequest(command: .events)) == .observe)
        #expect(ControlAccess.level(for: ControlRequest(command: .forceOff, on: true)) == .observe)
        #expect(ControlAccess.level(for: ControlRequest(command: .forceOff, on: false)) == .admin)
        #expect(ControlAccess.level(for: ControlRequest(command: .reset)) == .admin)
    }
}

@Suite("force-off replies wait for the state to be persisted")
struct ForceOffPersistenceTests {
    /// A state directory that cannot be created: its parent is a regular file (ENOTDIR, even for root).
    func unwritableStore() -> (ForceOffStore, String) {
        let directory = temporaryDirectory()
        writeFile(directory + "/file", "in the way\n")
        return (ForceOffStore(directory: directory + "/file/state"), directory)
    }

    @Test("force-off on that cannot be persisted: an error reply, and every relay opens anyway")
    func onNotPersisted() throws {
        let (store, _) = unwritableStore()
        let rig = try Rig(store: store)
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.run(ms: 4_000)
        #expect(rig.gpio.physicalLevel("GPIO16"), "charge relay closed before the command")

        let reply = try ask(rig, forceOffOn, as: operatorUID)
        #expect(!reply.ok)
        #expect(reply.error?.hasPrefix("force-off on applied (every relay held open) but not persisted") == true)
        #expect(reply.error?.contains("errno \(ENOTDIR)") == true)
        #expect(rig.controller.currentPolicy.isForcedOff)
        #expect(!rig.gpio.physicalLevel("GPIO16") && !rig.gpio.physicalLevel("GPIO20"), "relays open regardless")
        let event = rig.controller.events.last(50).last { $0.kind == "control.command" }
        #expect(event?.reason.hasPrefix("force-off on by uid 1001 pid 4242: failed: force-off on applied") == true)
    }

    @Test("force-off off that cannot be persisted: an error reply, and the hold stays")
    func offNotPersisted() throws {
        let directory = temporaryDirectory()
        let store = ForceOffStore(directory: directory + "/state")
        let rig = try Rig(store: store)
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.run(ms: 4_000)
        #expect(try ask(rig, forceOffOn, as: adminUID).ok)
        #expect(access(store.path, F_OK) == 0, "persisted before the ok")
        // The state directory is replaced by a file: the latch can no longer be removed.
        #expect(unlink(store.path) == 0 && rmdir(store.directory) == 0)
        writeFile(store.directory, "in the way\n")

        let reply = try ask(rig, forceOffOff, as: adminUID)
        #expect(!reply.ok)
        #expect(reply.error?.hasPrefix("force-off off not applied, every relay stays held open: cannot persist the release") == true)
        try rig.run(ms: 2_000)
        #expect(rig.controller.currentPolicy.isForcedOff)
        #expect(!rig.gpio.physicalLevel("GPIO16") && !rig.gpio.physicalLevel("GPIO20"))
    }

    @Test("a writable state directory: ok only once the latch file exists, and gone after off")
    func persistedBeforeOK() throws {
        let directory = temporaryDirectory()
        let store = ForceOffStore(directory: directory + "/state")
        let rig = try Rig(store: store)
        try rig.step()
        #expect(try ask(rig, forceOffOn, as: adminUID).ok)
        #expect(try store.load())
        #expect(try ask(rig, forceOffOff, as: adminUID).ok)
        #expect(try !store.load())
    }
}
#endif
