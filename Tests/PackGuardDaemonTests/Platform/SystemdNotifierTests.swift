// sd_notify without libsystemd: what arrives at the socket, byte for byte, and the watchdog variables.
#if os(Linux)
import Glibc
import Testing
@testable import PackGuardDaemon

@Suite("systemd notify")
struct SystemdNotifierTests {
    @Test("READY with STATUS arrives at a path socket as exact bytes")
    func pathSocket() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("notify")
        let receiver = BoundTestSocket(type: SOCK_DGRAM, address: try #require(UnixSocketAddress(path: path)))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.isEnabled)
        #expect(notifier.address == .path(path))

        try notifier.ready(status: "running: charge closed, discharge closed")
        #expect(receiver.receiveDatagram() == Array("READY=1\nSTATUS=running: charge closed, discharge closed".utf8))
        try notifier.stopping()
        #expect(receiver.receiveDatagram() == Array("STOPPING=1".utf8))
        #expect(receiver.receiveDatagram() == nil)
    }

    @Test("an @name address reaches the abstract socket of that exact name")
    func abstractSocket() throws {
        let name = uniqueAbstractName("notify")
        let receiver = BoundTestSocket(type: SOCK_DGRAM, address: try #require(UnixSocketAddress(abstractName: name)))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "@" + name])
        #expect(notifier.address == .abstract(name))

        try notifier.watchdog()
        #expect(receiver.receiveDatagram() == Array("WATCHDOG=1".utf8))
        try notifier.send(["STATUS=fault:\ncell 3 over voltage\r\nREADY=1", "EXTEND_TIMEOUT_USEC=5000000"])
        #expect(receiver.receiveDatagram() == Array("STATUS=fault: cell 3 over voltage  READY=1\nEXTEND_TIMEOUT_USEC=5000000".utf8))
    }

    @Test("abstract addresses count the leading NUL and no terminator; path addresses count the terminator")
    func addressLengths() throws {
        let abstract = try #require(UnixSocketAddress(abstractName: "abc"))
        #expect(abstract.length == 2 + 1 + 3)
        let path = try #require(UnixSocketAddress(path: "/run/x"))
        #expect(path.length == 2 + 6 + 1)
        #expect(UnixSocketAddress.pathCapacity == 108)
        #expect(UnixSocketAddress(abstractName: String(repeating: "n", count: 107)) != nil)
        #expect(UnixSocketAddress(abstractName: String(repeating: "n", count: 108)) == nil)
        #expect(UnixSocketAddress(path: "/" + String(repeating: "p", count: 106)) != nil)
        #expect(UnixSocketAddress(path: "/" + String(repeating: "p", count: 107)) == nil)
    }

    @Test("STATUS is made one line")
    func oneLine() {
        #expect(SystemdNotifier.oneLine("a\nb\r\nc\u{0}d") == "a b  c d")
        #expect(SystemdNotifier.oneLine("running: ok") == "running: ok")
    }

    @Test("without NOTIFY_SOCKET the notifier is disabled and every send is a no-op")
    func disabled() throws {
        for environment in [[:], ["NOTIFY_SOCKET": ""], ["WATCHDOG_USEC": "1000000"]] {
            let notifier = SystemdNotifier(environment: environment)
            #expect(!notifier.isEnabled)
            #expect(notifier.watchdogInterval == nil)
            try notifier.ready(status: "running")
            try notifier.status("still running")
            try notifier.watchdog()
            try notifier.stopping()
        }
    }

    @Test("WATCHDOG_USEC becomes nanoseconds when WATCHDOG_PID is ours or absent")
    func watchdogInterval() {
        let socket = "/run/systemd/notify"
        let ours = SystemdNotifier(environment: [
            "NOTIFY_SOCKET": socket, "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": String(getpid()),
        ])
        #expect(ours.watchdogInterval == 5_000_000_000)
        let noPID = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket, "WATCHDOG_USEC": "250000"])
        #expect(noPID.watchdogInterval == 250_000_000)
        let none = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket])
        #expect(none.watchdogInterval == nil)
    }

    @Test("a WATCHDOG_PID naming another process means the watchdog is not ours")
    func watchdogForAnotherProcess() {
        let notifier = SystemdNotifier(environment: [
            "NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": String(getpid() + 1),
        ])
        #expect(notifier.isEnabled)
        #expect(notifier.watchdogInterval == nil)
    }

    @Test("unreadable watchdog values are ignored", arguments: [
        ("0", nil), ("-5", nil), ("five", nil), ("18446744073709551615", nil), ("5000000", "x1"),
    ] as [(String, String?)])
    func unreadableWatchdog(microseconds: String, pid: String?) {
        #expect(SystemdNotifier.watchdogInterval(microseconds: microseconds, pid: pid, processID: 1) == nil)
    }

    @Test("a path socket nobody bound is a typed error naming the path and errno")
    func unreachablePath() {
        let directory = PlatformTestDirectory()
        let path = directory.file("absent")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(throws: SystemdNotifyError.send(address: path, errno: ENOENT)) { try notifier.watchdog() }
        #expect("\(SystemdNotifyError.send(address: path, errno: ENOENT))"
            == "cannot notify systemd at \(path): No such file or directory (errno 2)")
    }

    /// A systemd that stops reading (PID 1 busy or stuck) fills the socket's queue
    /// (net.unix.max_dgram_qlen, 10 by default): a send must then fail at once, never wait, because the
    /// control loop is the one that sends. Before MSG_DONTWAIT this test hung in sendto(2).
    @Test("a receiver whose queue is full makes a send fail at once with EAGAIN, and sends work once it reads",
          .timeLimit(.minutes(1)))
    func fullReceiverNeverWaits() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("notify")
        let receiver = BoundTestSocket(type: SOCK_DGRAM, address: try #require(UnixSocketAddress(path: path)))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        var delivered = 0
        var failure: SystemdNotifyError?
        while failure == nil && delivered < 10_000 {
            do throws(SystemdNotifyError) {
                try notifier.watchdog()
                delivered += 1
            } catch {
                failure = error
            }
        }
        #expect(failure == .send(address: path, errno: EAGAIN), "after \(delivered) datagrams")
        #expect(delivered >= 1)
        #expect("\(try #require(failure))" == "cannot notify systemd at \(path): \(errnoDescription(EAGAIN))")

        var drained = 0
        while receiver.receiveDatagram() != nil { drained += 1 }
        #expect(drained == delivered, "every datagram that was sent arrived whole")
        try notifier.status("running")
        #expect(receiver.receiveDatagram() == Array("STATUS=running".utf8))
    }

    @Test("an abstract socket nobody bound is refused")
    func unreachableAbstract() {
        let name = uniqueAbstractName("absent")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "@" + name])
        #expect(throws: SystemdNotifyError.send(address: "@" + name, errno: ECONNREFUSED)) { try notifier.stopping() }
    }

    @Test("addresses PackGuard cannot use are typed errors, not silence")
    func unusableAddresses() {
        let vsock = SystemdNotifier(environment: ["NOTIFY_SOCKET": "vsock:2:1234"])
        #expect(throws: SystemdNotifyError.unsupportedAddress("vsock:2:1234")) { try vsock.watchdog() }
        let long = "/" + String(repeating: "d", count: 200)
        let tooLong = SystemdNotifier(environment: ["NOTIFY_SOCKET": long])
        #expect(throws: SystemdNotifyError.addressTooLong(long)) { try tooLong.watchdog() }
    }

    @Test("the process environment read through environ agrees with getenv")
    func processEnvironment() {
        // Read-only on purpose: setenv in a test would race getenv calls on the runner's other threads.
        let environment = SystemdNotifier.processEnvironment()
        #expect(!environment.isEmpty)
        for key in ["PATH", "HOME", "NOTIFY_SOCKET"] {
            #expect(environment[key] == getenv(key).map { String(cString: $0) })
        }
    }
}
#endif
