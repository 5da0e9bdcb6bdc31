// The control socket endpoint's per-client state machine, driven by hand on a virtual clock: silent
// clients hold nobody up, time limits drop them, the cap refuses the rest, and a wake's work is bounded.
#if os(Linux)
import Glibc
import Logging
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Synchronization
import Testing
@testable import PackGuardDaemon

/// Keeps every log message, for checking what (and how often) the endpoint logs.
final class RecordedLog: Sendable {
    let messages = Mutex<[(Logger.Level, String)]>([])
    var all: [(Logger.Level, String)] { messages.withLock { $0 } }

    var logger: Logger {
        var logger = Logger(label: "test") { _ in RecordingLogHandler(log: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct RecordingLogHandler: LogHandler {
    let log: RecordedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.messages.withLock { $0.append((event.level, "\(event.message)")) }
    }
}

/// An endpoint on a fresh socket, serviced by hand the way the control loop does it.
final class EndpointRig {
    let directory = PlatformTestDirectory()
    let path: String
    let rig: Rig
    let loop: ControlLoop
    let endpoint: ControlSocketEndpoint
    let log = RecordedLog()
    let start: Instant

    init(limits: ControlSocketEndpoint.Limits = .init()) throws {
        path = directory.file("control.sock")
        rig = try Rig()
        try rig.step()
        loop = try ControlLoop(controller: rig.controller, logger: quietLogger)
        endpoint = try ControlSocketEndpoint(path: path, group: nil, access: fakeAccess, limits: limits, logger: log.logger)
        start = rig.clock.now()
    }

    /// One wake: poll (without waiting) what the endpoint watches, then service it at `after` ms
    /// (the virtual clock stays at `start`, so the wake's time budget never runs out unless
    /// `stepDue` is already past).
    func wake(after milliseconds: Int = 0, stepDue: Instant? = nil) {
        var set: [pollfd] = []
        endpoint.appendPollDescriptors(to: &set)
        _ = poll(&set, nfds_t(set.count), 0)
        let now = start + .milliseconds(milliseconds)
        endpoint.service(ready: set[...], loop: loop, now: now, stepDue: stepDue ?? now + .seconds(1))
    }

    func client() -> RawTestClient { RawTestClient(path: path) }
}

/// Reads what a client has been sent, without waiting longer than 2 s for the server to close.
func received(by client: RawTestClient) -> String {
    var timeout = timeval(tv_sec: 2, tv_usec: 0)
    _ = setsockopt(client.raw, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    return String(decoding: client.receiveAll(), as: UTF8.self)
}

@Suite("control socket endpoint: no client can stall the loop")
struct ControlEndpointTests {
    @Test("silent clients hold nobody up: a status request in the same wake is answered")
    func silentClientsDoNotBlock() throws {
        let rig = try EndpointRig()
        let silent = (0..<5).map { _ in rig.client() }
        let asking = rig.client()
        asking.send(Array(#"{"command":"status"}"#.utf8) + [10])
        rig.wake()
        let reply = try ControlCodec.decode(ControlReply.self, from: String(received(by: asking).dropLast()))
        #expect(reply.ok && reply.status != nil)
        #expect(rig.endpoint.clientCount == 5, "the silent ones wait in their slots, unserved")
        #expect(rig.endpoint.counters.answered == 1)
        withExtendedLifetime(silent) {}
    }

    @Test("a client that has not sent its line within the time limit is dropped, quietly")
    func timeLimit() throws {
        let rig = try EndpointRig()
        let silent = (0..<3).map { _ in rig.client() }
        rig.wake()
        #expect(rig.endpoint.clientCount == 3)
        #expect(rig.endpoint.nextDeadline == rig.start + .seconds(1), "the loop wakes for the time limit")
        rig.wake(after: 999)
        #expect(rig.endpoint.clientCount == 3)
        rig.wake(after: 1_000)
        #expect(rig.endpoint.clientCount == 0)
        #expect(rig.endpoint.counters.timedOut == 3)
        #expect(rig.endpoint.nextDeadline == nil)
        for client in silent { #expect(received(by: client) == "", "closed without a reply") }
        #expect(rig.log.all.allSatisfy { $0.0 <= .info }, "a silent client is no warning")
    }

    @Test("a client that does not take its reply is dropped after the time limit")
    func replyNotTaken() throws {
        var limits = ControlSocketEndpoint.Limits()
        limits.writeBudget = 16  // the reply goes out 16 bytes per wake
        let rig = try EndpointRig(limits: limits)
        let client = rig.client()
        client.send(Array(#"{"command":"status"}"#.utf8) + [10])
        rig.wake(after: 100)
        #expect(rig.endpoint.clientCount == 1)
        var set: [pollfd] = []
        rig.endpoint.appendPollDescriptors(to: &set)
        #expect(set.last?.events == Int16(POLLOUT), "replying: the loop waits for the socket to take more")
        rig.wake(after: 600)
        #expect(rig.endpoint.clientCount == 1)
        rig.wake(after: 1_100)
        #expect(rig.endpoint.clientCount == 0)
        #expect(rig.endpoint.counters.timedOut == 1 && rig.endpoint.counters.answered == 0)
        #expect(received(by: client).count == 32, "two wakes' worth, then closed")
    }

    @Test("beyond maxClients a connection gets a busy reply naming the limit, and is closed")
    func capRefuses() throws {
        var limits = ControlSocketEndpoint.Limits(maxClients: 4)
        limits.maxAcceptsPerWake = 8
        let rig = try EndpointRig(limits: limits)
        let clients = (0..<6).map { _ in rig.client() }
        rig.wake()
        #expect(rig.endpoint.clientCount == 4)
        #expect(rig.endpoint.counters.refusedBusy == 2)
        let busy = try ControlCodec.decode(ControlReply.self, from: String(received(by: clients[5]).dropLast()))
        #expect(!busy.ok)
        #expect(busy.error == "busy: 4 clients already connected (control.maxClients); try again")
    }

    @Test("refusals are logged once per interval, with the count of those not logged")
    func refusalLogRateLimited() throws {
        var limits = ControlSocketEndpoint.Limits(maxClients: 1)
        limits.maxAcceptsPerWake = 64
        let rig = try EndpointRig(limits: limits)
        var clients = [rig.client()]
        rig.wake()
        for round in 0..<5 {
            clients += (0..<10).map { _ in rig.client() }
            rig.wake(after: round * 100)  // within the first 10 s (and the first client's 1 s)
        }
        let refusals = { rig.log.all.filter { $0.1.contains("refused a connection") } }
        #expect(rig.endpoint.counters.refusedBusy == 50)
        #expect(refusals().count == 1)
        #expect(refusals().first?.0 == .notice)
        clients.append(rig.client())
        rig.wake(after: 10_000)
        #expect(refusals().count == 1, "the first client timed out: the newcomer got its slot")
        clients.append(rig.client())
        rig.wake(after: 10_001)
        #expect(refusals().count == 2)
        #expect(refusals().last?.1.hasSuffix("(and 49 more since the last such message)") == true)
    }

    @Test("one wake accepts at most maxAcceptsPerWake; the rest wait for the next")
    func acceptsBoundedPerWake() throws {
        var limits = ControlSocketEndpoint.Limits()
        limits.maxAcceptsPerWake = 8
        let rig = try EndpointRig(limits: limits)
        let clients = (0..<12).map { _ in rig.client() }
        rig.wake()
        #expect(rig.endpoint.counters.accepted == 8)
        rig.wake()
        #expect(rig.endpoint.counters.accepted == 12)
        withExtendedLifetime(clients) {}
    }

    @Test("a wake whose step is already due does nothing; the waiting clients are served at the next")
    func timeBudget() throws {
        let rig = try EndpointRig()
        let asking = rig.client()
        asking.send(Array(#"{"command":"status"}"#.utf8) + [10])
        rig.wake(stepDue: rig.rig.clock.now())
        #expect(rig.endpoint.counters.accepted == 0, "out of time before the first accept")
        rig.wake()
        #expect(rig.endpoint.counters.answered == 1)
        #expect(received(by: asking).contains(#""ok":true"#))
    }

    @Test("the poll set changes only when clients come, go or switch to replying")
    func pollGeneration() throws {
        let rig = try EndpointRig()
        let idle = rig.endpoint.pollGeneration
        rig.wake()
        #expect(rig.endpoint.pollGeneration == idle, "nothing happened: the loop keeps its poll set")
        let client = rig.client()
        rig.wake()
        let joined = rig.endpoint.pollGeneration
        #expect(joined != idle)
        var set: [pollfd] = []
        rig.endpoint.appendPollDescriptors(to: &set)
        #expect(set.count == 2 && set[1].events == Int16(POLLIN))
        rig.wake(after: 10)
        #expect(rig.endpoint.pollGeneration == joined)
        withExtendedLifetime(client) {}
    }

    @Test("a request over the size limit gets an error reply; a hang-up without a line is no error")
    func badRequests() throws {
        let rig = try EndpointRig()
        let huge = rig.client()
        huge.send([UInt8](repeating: UInt8(ascii: "a"), count: 70_000) + [10])
        for _ in 0..<8 { rig.wake() }
        #expect(received(by: huge).contains("is longer than 65536 bytes"))
        do { _ = rig.client() }  // connects and hangs up: a liveness probe
        rig.wake()
        #expect(rig.endpoint.counters.hungUp == 1)
        #expect(rig.endpoint.clientCount == 0)
    }
}

@Suite("control socket flood against the running loop", .serialized)
struct ControlFloodTests {
    @Test("100 silent clients: the relays stay closed, the internal watchdog never trips, status answers after")
    func silentFlood() throws {
        let directory = temporaryDirectory()
        let socketPath = directory + "/control.sock"
        let gpio = SimulatedGPIO.raspberryPi()
        gpio.drive("GPIO17", .low)
        gpio.drive("GPIO27", .low)
        var configuration = BuiltInConfiguration.load()
        configuration.policy.timing.startupHoldMs = 50
        configuration.policy.timing.qualifyMs = 20
        let lines = try SignalLines(configuration: configuration, backend: gpio)
        let controller = Controller(configuration: configuration, lines: lines, backendDescription: "simulated",
                                    clock: SystemClock(), logger: quietLogger)
        let loop = try ControlLoop(controller: controller, logger: quietLogger)
        let endpoint = try ControlSocketEndpoint(path: socketPath, group: nil, access: fakeAccess, logger: quietLogger)
        loop.add(endpoint)
        let thread = startThread { _ = try? loop.run() }
        defer {
            loop.requestStop(reason: "test over")
            if let thread { pthread_join(thread, nil) }
        }
        for _ in 0..<200 where !(gpio.physicalLevel("GPIO16") && gpio.physicalLevel("GPIO20")) { sleepMilliseconds(10) }
        #expect(gpio.physicalLevel("GPIO16") && gpio.physicalLevel("GPIO20"))

        var silent: [RawTestClient] = []
        for _ in 0..<100 { silent.append(RawTestClient(path: socketPath)) }
        var relaysHeld = true
        for _ in 0..<150 {  // 1.5 s: past every silent client's time limit
            relaysHeld = relaysHeld && gpio.physicalLevel("GPIO16") && gpio.physicalLevel("GPIO20")
            sleepMilliseconds(10)
        }
        #expect(relaysHeld, "no relay opened during the flood")
        let reply = try ControlCodec.decode(ControlReply.self, from: try ControlSocketClient.request(
            path: socketPath, line: statusLine))
        let status = try #require(reply.status, "\(reply.error ?? "")")
        #expect(status.watchdogs.internalTrips == 0)
        #expect(status.state == "running")
        #expect((status.stepLatency?.count ?? 0) > 0, "status carries the step latencies")
        withExtendedLifetime(silent) {}
    }

    @Test("socket traffic alone makes the loop serve it, not step: 200 status requests, a handful of steps")
    func requestsDoNotStep() throws {
        let directory = temporaryDirectory()
        let socketPath = directory + "/control.sock"
        let gpio = SimulatedGPIO.raspberryPi()
        let configuration = BuiltInConfiguration.load()
        // Timer steps: the heartbeat's guaranteed rate wakes the loop at 90 % of its interval
        // (45 ms at 20 toggles/s), sooner than reconcileMs.
        let timerStepMs = Double(min(configuration.loop.reconcileMs, configuration.heartbeat.toggleIntervalMs * 9 / 10))
        let lines = try SignalLines(configuration: configuration, backend: gpio)
        let controller = Controller(configuration: configuration, lines: lines, backendDescription: "simulated",
                                    clock: SystemClock(), logger: quietLogger)
        let loop = try ControlLoop(controller: controller, logger: quietLogger)
        loop.add(try ControlSocketEndpoint(path: socketPath, group: nil, access: fakeAccess, logger: quietLogger))
        let thread = startThread { _ = try? loop.run() }
        defer {
            loop.requestStop(reason: "test over")
            if let thread { pthread_join(thread, nil) }
        }
        func steps() throws -> Int {
            let reply = try ControlCodec.decode(ControlReply.self, from: try ControlSocketClient.request(
                path: socketPath, line: statusLine))
            return try #require(reply.status).steps
        }
        let before = try steps()
        let started = ContinuousClock.now
        for _ in 0..<200 { _ = try steps() }
        let elapsedMs = (ContinuousClock.now - started) / .milliseconds(1)
        let stepped = try steps() - before
        // Timer steps only: one per timer interval of the time taken, and a few for the ADC and slack.
        #expect(Double(stepped) <= elapsedMs / timerStepMs + 5, "\(stepped) steps in \(elapsedMs) ms for 200 requests")
    }

    @Test("after a command's own step the loop steps and re-arms the deadline monitor for its next wake")
    func commandsReArmTheDeadline() throws {
        let directory = temporaryDirectory()
        let socketPath = directory + "/control.sock"
        let gpio = SimulatedGPIO.raspberryPi()
        var configuration = BuiltInConfiguration.load()
        configuration.loop.reconcileMs = 2_000  // timer steps far apart; loopDeadlineMs stays 200
        let lines = try SignalLines(configuration: configuration, backend: gpio)
        let controller = Controller(configuration: configuration, lines: lines, backendDescription: "simulated",
                                    clock: SystemClock(), logger: quietLogger)
        let loop = try ControlLoop(controller: controller, logger: quietLogger)
        loop.add(try ControlSocketEndpoint(path: socketPath, group: nil, access: fakeAccess, logger: quietLogger))
        let thread = startThread { _ = try? loop.run() }
        defer {
            loop.requestStop(reason: "test over")
            if let thread { pthread_join(thread, nil) }
        }
        func send(_ line: String) throws -> ControlReply {
            try ControlCodec.decode(ControlReply.self, from: try ControlSocketClient.request(path: socketPath, line: line))
        }
        for round in 0..<4 {
            let sent = SystemClock().now()
            #expect(try send(round.isMultiple(of: 2) ? forceOffOn : forceOffOff).ok)
            sleepMilliseconds(20)
            // The monitor waking 205 ms after the command: the command's step armed it for 200 ms,
            // so unless the loop has stepped since and re-armed it for its next wake, that is a trip.
            #expect(!controller.checkDeadline(now: sent + .milliseconds(205)), "round \(round)")
        }
        #expect(controller.health.withLock { $0.trips } == 0)
    }
}
#endif
