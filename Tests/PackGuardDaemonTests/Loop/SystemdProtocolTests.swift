#if os(Linux)
import Glibc
import Logging
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Testing
@testable import PackGuardDaemon

/// The controller speaking sd_notify to a real datagram socket, as systemd would receive it.
@Suite("Controller and systemd over a real NOTIFY_SOCKET")
struct SystemdProtocolTests {
    /// A controller on the mocked chip whose NOTIFY_SOCKET (WATCHDOG_USEC 2 s) is a socket the test reads.
    struct Systemd {
        let directory = PlatformTestDirectory()
        let path: String
        let receiver: BoundTestSocket
        let gpio = SimulatedGPIO.raspberryPi()
        let clock = VirtualClock()
        let controller: Controller

        init(logger: Logger) throws {
            path = directory.file("notify")
            receiver = BoundTestSocket(type: SOCK_DGRAM, address: try #require(UnixSocketAddress(path: path)))
            let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000",
                                                         "WATCHDOG_PID": "\(getpid())"])
            let configuration = BuiltInConfiguration.load()
            controller = Controller(configuration: configuration,
                                    lines: try SignalLines(configuration: configuration, backend: gpio),
                                    backendDescription: "simulated", clock: clock, logger: logger, notifier: notifier)
        }
    }

    func datagrams(_ receiver: BoundTestSocket) -> [String] {
        var all: [String] = []
        while let datagram = receiver.receiveDatagram() { all.append(String(decoding: datagram, as: UTF8.self)) }
        return all
    }

    @Test func readyOnlyAfterInputsWatchdogOnlyWhileHealthyStoppingAtShutdown() throws {
        let systemd = try Systemd(logger: quietLogger)
        let (receiver, gpio, clock, controller) = (systemd.receiver, systemd.gpio, systemd.clock, systemd.controller)
        #expect(datagrams(receiver).isEmpty, "nothing before the first step")

        try controller.step(now: clock.now())
        let first = datagrams(receiver)
        #expect(first.first?.hasPrefix("READY=1\nSTATUS=") == true, "READY once every input was read: \(first)")
        #expect(first.contains("WATCHDOG=1"))

        for _ in 0..<8 {  // 2 s of healthy steps: WATCHDOG=1 at most every WATCHDOG_USEC / 4
            clock.advance(.milliseconds(250))
            try controller.step(now: clock.now())
        }
        let healthy = datagrams(receiver).filter { $0 == "WATCHDOG=1" }.count
        #expect((2...4).contains(healthy), "\(healthy) WATCHDOG=1 in 2 s")

        for _ in 0..<8 {  // 2 s of failing reads: no WATCHDOG=1 at all, systemd will restart us
            clock.advance(.milliseconds(250))
            gpio.failNextRead()
            try controller.step(now: clock.now())
        }
        let unhealthy = datagrams(receiver)
        #expect(!unhealthy.contains("WATCHDOG=1"), "\(unhealthy)")
        #expect(unhealthy.contains { $0.hasPrefix("STATUS=faulted") }, "the status line tells why: \(unhealthy)")
        #expect(!unhealthy.contains { $0.contains("READY=1") }, "READY is sent once")

        controller.shutdown(reason: "SIGTERM")
        #expect(datagrams(receiver).contains("STOPPING=1\nSTATUS=stopped: SIGTERM"))
    }

    /// Fills the receiver's queue (as a systemd that stops reading would) with datagrams of its own.
    func fill(_ path: String) -> Int {
        let filler = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        var sent = 0
        while sent < 10_000 {
            do throws(SystemdNotifyError) { try filler.status("filler") } catch { break }
            sent += 1
        }
        return sent
    }

    /// The control loop pets systemd itself: a systemd that does not read must cost it no step. A step
    /// goes on at once (a missed pet is systemd's to judge), the failure is logged once, READY=1 is sent
    /// again until it arrives, and pets resume when systemd reads again.
    @Test(.timeLimit(.minutes(1)))
    func aFullNotifySocketNeverStallsAStepAndReadyArrivesOnceItDrains() throws {
        let log = RecordedLog()
        let systemd = try Systemd(logger: log.logger)
        let (path, receiver, gpio, clock, controller) = (systemd.path, systemd.receiver, systemd.gpio, systemd.clock, systemd.controller)
        gpio.drive("GPIO17", .low)  // the BMS asserts Charge Enable and Discharge Enable (active-low)
        gpio.drive("GPIO27", .low)
        let queued = fill(path)
        #expect(queued >= 1)

        for _ in 0..<20 {  // 5 s: past the startup hold, so the relays close while systemd is deaf
            try controller.step(now: clock.now())
            clock.advance(.milliseconds(250))
        }
        #expect(controller.stepCount == 20)
        let result = try controller.step(now: clock.now())
        #expect(result.outputs[.chargeRelay] == .active && result.outputs[.dischargeRelay] == .active,
                "a deaf systemd is not a reason to open the relays (it restarts the service if it must)")
        let failures = log.all.filter { $0.0 == .error && $0.1.hasPrefix("sd_notify") }.map(\.1)
        #expect(failures == ["sd_notify READY=1 failed: cannot notify systemd at \(path): \(errnoDescription(EAGAIN)) (logged again when it works)"])
        #expect(log.all.filter { $0.1.hasPrefix("ready:") }.count == 1, "the ready line is logged once")

        let backlog = datagrams(receiver)
        #expect(backlog.count == queued && backlog.allSatisfy { $0 == "STATUS=filler" }, "nothing of ours fitted in")
        clock.advance(.milliseconds(250))
        try controller.step(now: clock.now())
        let ready = datagrams(receiver)
        #expect(ready.first?.hasPrefix("READY=1\nSTATUS=") == true, "READY at the first step systemd reads: \(ready)")
        #expect(log.all.contains { $0.0 == .notice && $0.1 == "sd_notify works again" })
        for _ in 0..<4 {  // 1 s: pets at most every WATCHDOG_USEC / 4 (500 ms)
            clock.advance(.milliseconds(250))
            try controller.step(now: clock.now())
        }
        let after = datagrams(receiver)
        #expect(after.contains("WATCHDOG=1"), "pets resume: \(after)")
        #expect(!after.contains { $0.contains("READY=1") }, "READY is sent once it arrived, never again")
    }
}
#endif
