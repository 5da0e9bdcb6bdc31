// The daemon's end of the control socket: a unix stream socket that never blocks the control loop.
#if os(Linux)
import Glibc

/// Listens on a unix stream socket for one-line requests (`packguard status` and friends).
///
/// Non-blocking throughout: poll(2) `fileDescriptor` for POLLIN in the control loop, then call
/// `acceptRequest()`, which returns at once; the connections it returns never wait either. The socket file is removed on deinit, unless another
/// process has replaced it meanwhile.
public final class ControlSocketServer: Sendable {
    public static let defaultMaxRequestBytes = 64 * 1024

    public let path: String
    /// The listening socket, for poll(2) (POLLIN means a client is waiting). Owned by this server.
    public let fileDescriptor: Int32
    /// Longest request line accepted, in bytes, newline excluded.
    public let maxRequestBytes: Int
    // The socket file this server created, so deinit removes that file and no other.
    private let socketDevice: UInt64
    private let socketInode: UInt64

    /// Creates the socket at `path`. A socket file left by a crashed daemon is replaced; a live one
    /// (another packguard answering) or anything that is not a socket is an error and left alone.
    /// The file gets `mode`, and `group` (by name) when given, so members of that group may connect.
    public init(
        path: String, mode: mode_t = 0o660, group: String? = nil,
        maxRequestBytes: Int = defaultMaxRequestBytes
    ) throws(ControlSocketError) {
        guard let address = UnixSocketAddress(path: path) else { throw .pathTooLong(path: path) }
        // Before touching the filesystem: a typo in the group must not leave a socket behind.
        let groupID = try group.map { name throws(ControlSocketError) in try Self.groupID(named: name, path: path) }
        try Self.removeStaleSocket(at: path, address: address)

        let created = makeUnixSocket(type: SOCK_STREAM, nonBlocking: true)
        guard created >= 0 else { throw .system(.socket, path: path, errno: errno) }
        let descriptor = ScopedDescriptor(created)
        guard address.withSockaddr({ bind(descriptor.raw, $0, $1) }) == 0 else {
            throw .system(.bind, path: path, errno: errno)
        }
        // Between bind and chmod the file has the umask's mode; the usual umask (022) only makes it
        // stricter, since connecting needs write permission.
        var identity = stat()
        do throws(ControlSocketError) {
            guard chmod(path, mode) == 0 else { throw .system(.chmod, path: path, errno: errno) }
            if let groupID {
                // (uid_t)-1 leaves the owner as it is.
                guard chown(path, uid_t.max, groupID) == 0 else { throw .system(.chown, path: path, errno: errno) }
            }
            guard listen(descriptor.raw, 16) == 0 else { throw .system(.listen, path: path, errno: errno) }
            guard lstat(path, &identity) == 0 else { throw .system(.inspect, path: path, errno: errno) }
        } catch {
            // The file is ours and useless; the error being thrown says what went wrong, and a
            // leftover socket file is replaced by the next start anyway.
            _ = unlink(path)
            throw error
        }
        self.path = path
        self.maxRequestBytes = maxRequestBytes
        socketDevice = UInt64(identity.st_dev)
        socketInode = UInt64(identity.st_ino)
        fileDescriptor = descriptor.release()
    }

    deinit {
        var identity = stat()
        if lstat(path, &identity) == 0, UInt64(identity.st_dev) == socketDevice,
            UInt64(identity.st_ino) == socketInode
        {
            // Shutting down: a file left behind is only cosmetic (the next start replaces it), and a
            // deinit has nobody to report to.
            _ = unlink(path)
        }
        // Linux releases the descriptor even when close reports an error.
        _ = close(fileDescriptor)
    }

    /// The next waiting client, or nil at once when there is none. Throws only for trouble on the
    /// server's side (out of descriptors, say), which the caller should log; the server stays usable.
    public func acceptRequest() throws(ControlSocketError) -> ControlConnection? {
        while true {
            // accept4 is a GNU extension the Glibc module does not import, so the flags follow in
            // fcntl calls. PackGuard does not fork, so close-on-exec a moment late loses nothing.
            let accepted = accept(fileDescriptor, nil, nil)
            if accepted >= 0 {
                let connection = ControlConnection(
                    fileDescriptor: accepted, path: path, maxRequestBytes: maxRequestBytes,
                    peer: PeerCredentials.of(socket: accepted))
                // The accepted socket does not inherit O_NONBLOCK on Linux; without it a silent
                // client would block the control loop in read.
                let statusFlags = fcntl(accepted, F_GETFL)
                guard statusFlags >= 0, fcntl(accepted, F_SETFL, statusFlags | O_NONBLOCK) == 0,
                    fcntl(accepted, F_SETFD, FD_CLOEXEC) == 0
                else { throw .system(.accept, path: path, errno: errno) }
                return connection
            }
            let code = errno
            switch code {
            case EINTR: continue
            // Nobody waiting, or a client that gave up before we got to it.
            case EAGAIN, EWOULDBLOCK, ECONNABORTED: return nil
            default: throw .system(.accept, path: path, errno: code)
            }
        }
    }

    /// Removes a socket file nobody listens on. Anything else at the path is an error, never deleted.
    /// Telling stale from live takes a connect: a live server sees it as a client that hung up
    /// without a request (`closedWithoutLine`), which is why that error is routine, not alarming.
    private static func removeStaleSocket(at path: String, address: UnixSocketAddress) throws(ControlSocketError) {
        var existing = stat()
        guard lstat(path, &existing) == 0 else {
            let code = errno
            if code == ENOENT { return }
            throw .system(.inspect, path: path, errno: code)
        }
        guard existing.st_mode & S_IFMT == S_IFSOCK else {
            throw .notASocket(path: path, kind: fileKind(existing.st_mode))
        }
        let created = makeUnixSocket(type: SOCK_STREAM, nonBlocking: true)
        guard created >= 0 else { throw .system(.socket, path: path, errno: errno) }
        let probe = ScopedDescriptor(created)
        if address.withSockaddr({ connect(probe.raw, $0, $1) }) == 0 { throw .alreadyServing(path: path) }
        let code = errno
        switch code {
        case ECONNREFUSED: break  // a socket file with nobody behind it: left by a crash
        case EAGAIN: throw .alreadyServing(path: path)  // a live server with a full backlog
        default: throw .system(.probe, path: path, errno: code)
        }
        guard unlink(path) == 0 else { throw .system(.remove, path: path, errno: errno) }
    }

    private static func fileKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFLNK: "a symbolic link"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        default: "a file of unknown kind"
        }
    }

    /// getgrnam_r (thread-safe, unlike getgrnam), growing the buffer while it says ERANGE.
    static func groupID(named name: String, path: String) throws(ControlSocketError) -> gid_t {
        var bufferSize = 1024
        while true {
            var entry = Glibc.group()
            var result: UnsafeMutablePointer<Glibc.group>? = nil
            var buffer = [CChar](repeating: 0, count: bufferSize)
            let status = getgrnam_r(name, &entry, &buffer, bufferSize, &result)
            if status == 0 {
                guard result != nil else { throw .groupNotFound(group: name, path: path) }
                return entry.gr_gid
            }
            if status == ERANGE, bufferSize < 1 << 20 {
                bufferSize *= 4
                continue
            }
            // glibc reports "no such group" as 0 with no result, but POSIX lets it say ENOENT & co.
            if [ENOENT, ESRCH, EBADF, EPERM].contains(status) { throw .groupNotFound(group: name, path: path) }
            throw .system(.lookUpGroup, path: path, errno: status)
        }
    }
}

/// One accepted client: one request line in, one reply line out, closed on deinit. Nothing here
/// waits: each call does what the socket allows now, within a byte budget, and says whether it is
/// done, so one slow or silent client costs the control loop nothing but its slot.
public final class ControlConnection {
    /// The connected socket, owned by this connection.
    public let fileDescriptor: Int32
    /// The server's socket path, named in errors.
    public let path: String
    public let maxRequestBytes: Int
    /// Who connected (SO_PEERCRED), or why that could not be read.
    public let peer: Result<PeerCredentials, PeerCredentialError>
    private var received: [UInt8] = []
    private var outgoing: [UInt8] = []
    private var sent = 0

    init(fileDescriptor: Int32, path: String, maxRequestBytes: Int,
         peer: Result<PeerCredentials, PeerCredentialError>) {
        self.fileDescriptor = fileDescriptor
        self.path = path
        self.maxRequestBytes = maxRequestBytes
        self.peer = peer
    }

    deinit {
        // Linux releases the descriptor even when close reports an error, and a deinit has nobody to
        // report to.
        _ = close(fileDescriptor)
    }

    /// Reads what has arrived (at most `budget` bytes): the request line once it is complete, nil
    /// while it is not. Errors leave the connection open for a reply ("request too large").
    public func readAvailable(budget: Int = 16 * 1024) throws(ControlSocketError) -> String? {
        let outcome = try ControlLineIO.receiveAvailable(
            from: fileDescriptor, into: &received, path: path, limit: maxRequestBytes, budget: budget,
            tooLarge: .requestTooLarge(path: path, limit: maxRequestBytes))
        switch outcome {
        case .line(let line):
            received = []
            return line
        case .pending:
            return nil
        }
    }

    /// Queues `line` plus a newline for `sendAvailable`. `line` must not contain a newline itself.
    public func queueReply(_ line: String) throws(ControlSocketError) {
        let bytes = Array(line.utf8)
        guard !bytes.contains(ControlLineIO.newline) else { throw .lineContainsNewline(path: path) }
        outgoing = bytes + [ControlLineIO.newline]
        sent = 0
    }

    /// Sends what the socket takes now of the queued reply (at most `budget` bytes); true once all is out.
    public func sendAvailable(budget: Int = 256 * 1024) throws(ControlSocketError) -> Bool {
        try ControlLineIO.sendAvailable(outgoing, offset: &sent, to: fileDescriptor, path: path, budget: budget)
    }
}
#endif
