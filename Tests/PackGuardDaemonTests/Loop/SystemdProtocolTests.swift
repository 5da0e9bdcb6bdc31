#if os(Linux)
import Glibc
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Testing
@testable import PackGuardDaemon

/// The controller speaking sd_notify to a real datagram socket, as systemd would receive it.
@Suite("Controller and systemd over a real NOTIFY_SOCKET")
struct SystemdProtocolTests {
    func datagrams(_ receiver: BoundTestSocket) -> [String] {
        var all: [String] = []
        while let datagram = receiver.receiveDatagram() { all.append(String(decoding: datagram, as: UTF8.self)) }
        return all
    }

    @Test func readyOnlyAfterInputsWatchdogOnlyWhileHealthyStoppingAtShutdown() throws {
        let directory = PlatformTestDirectory()
        let path = directory.file("notify")
        let receiver = BoundTestSocket(type: SOCK_DGRAM, address: try #require(UnixSocketAddress(path: path)))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000",
                                                     "WATCHDOG_PID": "\(getpid())"])
        let gpio = SimulatedGPIO.raspberryPi()
        let clock = VirtualClock()
        let configuration = BuiltInConfiguration.load()
        let controller = Controller(configuration: configuration,
                                    lines: try SignalLines(configuration: configuration, backend: gpio),
                                    backendDescription: "simulated", clock: clock, logger: quietLogger, notifier: notifier)
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
}
#endif
