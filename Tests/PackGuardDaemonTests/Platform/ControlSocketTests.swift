// The control socket transport: round trips, what the server may delete, limits, and the CLI's errors.
#if os(Linux)
import Glibc
import Testing
@testable import PackGuardDaemon

@Suite("control socket")
struct ControlSocketTests {
    @Test("a request line goes in and the reply line comes back")
    func roundTrip() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path)
        #expect(try server.acceptRequest() == nil)

        let client = PeerThread { () -> Result<String, ControlSocketError> in
            Result { () throws(ControlSocketError) in
                try ControlSocketClient.request(path: path, line: #"{"command":"status"}"#, timeoutMs: 10_000)
            }
        }
        #expect(waitUntilReadable(server.fileDescriptor))
        let connection = try #require(try server.acceptRequest())
        #expect(try connection.readRequest() == #"{"command":"status"}"#)
        try connection.reply(#"{"state":"running","charge":"closed"}"#)
        #expect(try client.join().get() == #"{"state":"running","charge":"closed"}"#)
    }

    @Test("the socket file gets the mode and group asked for, and goes away with the server")
    func modeGroupAndRemoval() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        do {
            let server = try ControlSocketServer(path: path, mode: 0o600, group: "root")
            var info = stat()
            #expect(lstat(path, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_mode & 0o777 == 0o600)
            #expect(info.st_gid == 0)
            withExtendedLifetime(server) {}
        }
        var after = stat()
        #expect(lstat(path, &after) == -1 && errno == ENOENT)
        let defaultMode = try ControlSocketServer(path: path)
        #expect(lstat(path, &after) == 0 && after.st_mode & 0o777 == 0o660)
        withExtendedLifetime(defaultMode) {}
    }

    @Test("a group that does not exist is a typed error naming it, and leaves no socket behind")
    func missingGroup() {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let expected = ControlSocketError.groupNotFound(group: "packguard-no-such-group", path: path)
        #expect(throws: expected) { try ControlSocketServer(path: path, group: "packguard-no-such-group") }
        #expect("\(expected)".contains("group packguard-no-such-group: no such group"))
        var info = stat()
        #expect(lstat(path, &info) == -1)
    }

    @Test("a socket file left by a crashed daemon is replaced")
    func staleSocketReplaced() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        // Bound and closed at once: the file stays, with nobody behind it, as after a crash.
        do { _ = BoundTestSocket(type: SOCK_STREAM, address: try #require(UnixSocketAddress(path: path))) }
        var info = stat()
        #expect(lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK)

        let server = try ControlSocketServer(path: path)
        let client = RawTestClient(path: path)
        #expect(client.send(Array("ping\n".utf8)) == 5)
        #expect(waitUntilReadable(server.fileDescriptor))
        #expect(try #require(try server.acceptRequest()).readRequest() == "ping")
    }

    @Test("a live server is not replaced")
    func liveServerKept() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let first = try ControlSocketServer(path: path)
        #expect(throws: ControlSocketError.alreadyServing(path: path)) { try ControlSocketServer(path: path) }
        // The second server's probe shows up at the first as a connection closed without a line.
        #expect(waitUntilReadable(first.fileDescriptor))
        let probe = try #require(try first.acceptRequest())
        #expect(throws: ControlSocketError.closedWithoutLine(.read, path: path)) { try probe.readRequest() }
        let client = RawTestClient(path: path)
        #expect(client.send(Array("still here\n".utf8)) == 11)
        #expect(waitUntilReadable(first.fileDescriptor))
        #expect(try #require(try first.acceptRequest()).readRequest() == "still here")
    }

    @Test("a regular file at the socket path is never deleted")
    func regularFileKept() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        #expect(descriptor >= 0)
        let owner = ScopedDescriptor(descriptor)
        #expect(write(owner.raw, "keep me", 7) == 7)

        let expected = ControlSocketError.notASocket(path: path, kind: "a regular file")
        #expect(throws: expected) { try ControlSocketServer(path: path) }
        #expect("\(expected)".contains("a regular file is in the way; not deleting it"))
        var info = stat()
        #expect(lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && info.st_size == 7)
    }

    @Test("a request of exactly the limit is read; one byte more is rejected, and a reply still goes out")
    func requestLimit() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path, maxRequestBytes: 8)

        let fits = RawTestClient(path: path)
        fits.send(Array("12345678\n".utf8))
        #expect(waitUntilReadable(server.fileDescriptor))
        #expect(try #require(try server.acceptRequest()).readRequest() == "12345678")

        let tooLong = RawTestClient(path: path)
        tooLong.send(Array("123456789\n".utf8))
        #expect(waitUntilReadable(server.fileDescriptor))
        do {
            let connection = try #require(try server.acceptRequest())
            #expect(throws: ControlSocketError.requestTooLarge(path: path, limit: 8)) { try connection.readRequest() }
            try connection.reply(#"{"error":"request too large"}"#)
        }
        #expect(tooLong.receiveAll() == Array(#"{"error":"request too large"}"#.utf8) + [10])
    }

    @Test("the default limit rejects a request over 64 KiB without reading it all")
    func defaultLimit() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path)
        #expect(server.maxRequestBytes == 65_536)
        // Far more than the socket buffers hold, so the sender is still sending when the server gives up.
        let size = 16 * 1024 * 1024
        let sender = PeerThread { () -> Int in
            RawTestClient(path: path).send([UInt8](repeating: UInt8(ascii: "a"), count: size) + [10])
        }
        #expect(waitUntilReadable(server.fileDescriptor))
        do {
            let connection = try #require(try server.acceptRequest())
            #expect(throws: ControlSocketError.requestTooLarge(path: path, limit: 65_536)) { try connection.readRequest() }
        }
        // Closing with data unread resets the connection, which frees the sender.
        #expect(sender.join() < size + 1)
    }

    @Test("reading a line that has not fully arrived returns at once, and the rest completes it")
    func partialLine() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path)
        let client = RawTestClient(path: path)
        client.send(Array("stat".utf8))
        #expect(waitUntilReadable(server.fileDescriptor))
        let connection = try #require(try server.acceptRequest())
        #expect(try connection.readAvailable() == nil)
        #expect(try connection.readAvailable() == nil)  // nothing new: still no wait, still no line
        client.send(Array("us\n".utf8))
        #expect(try connection.readRequest() == "status")
    }

    @Test("a read budget bounds one pass; the line still completes over several")
    func readBudget() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path)
        let client = RawTestClient(path: path)
        client.send(Array(String(repeating: "x", count: 100).utf8) + [10])
        #expect(waitUntilReadable(server.fileDescriptor))
        let connection = try #require(try server.acceptRequest())
        var passes = 0
        var line: String?
        while line == nil && passes < 10 {
            line = try connection.readAvailable(budget: 30)
            passes += 1
        }
        #expect(line == String(repeating: "x", count: 100))
        #expect(passes == 4)  // 30 + 30 + 30 + 11 bytes
    }

    @Test("CRLF from a hand-typed request is trimmed; a line ended by hang-up counts")
    func lineEndings() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path)

        let typed = RawTestClient(path: path)
        typed.send(Array("status\r\n".utf8))
        #expect(waitUntilReadable(server.fileDescriptor))
        #expect(try #require(try server.acceptRequest()).readRequest() == "status")

        let hungUp = RawTestClient(path: path)
        hungUp.send(Array("status".utf8))
        #expect(shutdown(hungUp.raw, Int32(SHUT_WR)) == 0)
        #expect(waitUntilReadable(server.fileDescriptor))
        #expect(try #require(try server.acceptRequest()).readRequest() == "status")
    }

    @Test("a client that hangs up without a line, or sends bad UTF-8, is a typed error")
    func badClients() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path)

        // Connects and hangs up at once.
        do { _ = RawTestClient(path: path) }
        #expect(waitUntilReadable(server.fileDescriptor))
        let silent = try #require(try server.acceptRequest())
        #expect(throws: ControlSocketError.closedWithoutLine(.read, path: path)) { try silent.readRequest() }

        let garbled = RawTestClient(path: path)
        garbled.send([0xFF, 0xFE, 10])
        #expect(waitUntilReadable(server.fileDescriptor))
        let connection = try #require(try server.acceptRequest())
        #expect(throws: ControlSocketError.notUTF8(.read, path: path)) { try connection.readRequest() }
    }

    @Test("replying to a client that has gone is EPIPE, not a SIGPIPE that kills the daemon")
    func noSIGPIPE() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path)
        do {
            let client = RawTestClient(path: path)
            client.send(Array("status\n".utf8))
        }
        #expect(waitUntilReadable(server.fileDescriptor))
        let connection = try #require(try server.acceptRequest())
        #expect(try connection.readRequest() == "status")
        #expect(throws: ControlSocketError.system(.write, path: path, errno: EPIPE)) { try connection.reply("{}") }
        #expect("\(ControlSocketError.system(.write, path: path, errno: EPIPE))"
            == "cannot write to \(path): the other side closed the connection (Broken pipe (errno 32))")
    }

    @Test("a reply containing a newline is refused, since it would read as two lines")
    func replyWithNewline() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path)
        let client = RawTestClient(path: path)
        client.send(Array("status\n".utf8))
        #expect(waitUntilReadable(server.fileDescriptor))
        let connection = try #require(try server.acceptRequest())
        #expect(throws: ControlSocketError.lineContainsNewline(path: path)) { try connection.reply("a\nb") }
    }

    @Test("no socket at the path: is packguard running?")
    func clientNoSocket() {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let expected = ControlSocketError.system(.connect, path: path, errno: ENOENT)
        #expect(throws: expected) { try ControlSocketClient.request(path: path, line: "status") }
        #expect("\(expected)" == "is packguard running? (no socket at \(path))")
    }

    @Test("a socket file nobody listens on: is packguard running?")
    func clientNobodyListening() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let stale = BoundTestSocket(type: SOCK_STREAM, address: try #require(UnixSocketAddress(path: path)))
        let expected = ControlSocketError.system(.connect, path: path, errno: ECONNREFUSED)
        #expect(throws: expected) { try ControlSocketClient.request(path: path, line: "status") }
        #expect("\(expected)" == "is packguard running? (nothing listens on \(path))")
        withExtendedLifetime(stale) {}
    }

    @Test("a daemon that accepts but never answers is a timeout")
    func clientTimeout() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("control.sock")
        let server = try ControlSocketServer(path: path)
        #expect(throws: ControlSocketError.timedOut(.read, path: path, milliseconds: 20)) {
            try ControlSocketClient.request(path: path, line: "status", timeoutMs: 20)
        }
        withExtendedLifetime(server) {}
    }

    @Test("client error texts for permissions and bad paths")
    func clientTexts() {
        // Tests run as root here, which no permission stops, so the EACCES text is checked as text.
        let denied = "\(ControlSocketError.system(.connect, path: "/run/packguard/control.sock", errno: EACCES))"
        #expect(denied.hasPrefix("permission denied on /run/packguard/control.sock: join the packguard group"))
        let long = "/" + String(repeating: "x", count: 120)
        #expect(throws: ControlSocketError.pathTooLong(path: long)) { try ControlSocketClient.request(path: long, line: "status") }
        #expect(throws: ControlSocketError.pathTooLong(path: long)) { try ControlSocketServer(path: long) }
        #expect("\(ControlSocketError.system(.bind, path: "/run/x", errno: EADDRINUSE))"
            == "cannot bind /run/x: Address already in use (errno 98)")
    }
}
#endif
