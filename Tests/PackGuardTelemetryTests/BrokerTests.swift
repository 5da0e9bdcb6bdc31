import Glibc
import Logging
import PackGuardDaemon
import PackGuardTelemetry
import Testing

/// Against Debian's mosquitto broker, started on 127.0.0.1 on a free port; the daemon is a
/// FakeDaemon speaking the real control protocol. Serialized: each test starts a broker.
@Suite(.serialized) struct BrokerTests {
    func service(socket: String, port: Int, node: String, queue: Int = 1000, button: Bool = false) throws -> TelemetryService {
        var configuration = TelemetryConfiguration()
        configuration.socket = socket
        configuration.nodeID = node
        configuration.pollIntervalMs = 100
        configuration.eventQueue = queue
        configuration.homeAssistant.forceOffButton = button
        let settings = try #require(try configuration.connectionSettings(overrideURL: BrokerURL(host: "127.0.0.1", port: port, tls: false)))
        return try TelemetryService(configuration: configuration, mqtt: settings, version: "test", logger: Logger(label: "test"))
    }

    @Test func discoveryThenARelayChangeReachesItsTopicWithinOneSecond() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try Broker(directory: directory)
        defer { broker.stop() }
        let daemon = try FakeDaemon(path: directory + "/control.sock", status: try runningStatus())
        defer { daemon.stop() }
        let subscriber = try Subscriber(port: broker.port, topic: "#", id: "relay-test")
        let running = try RunningService(try service(socket: daemon.path, port: broker.port, node: "relay"))
        defer { running.stop() }
        #expect(subscriber.waitFor("packguard/relay/relays/chargeRelay", "ON"))
        #expect(subscriber.waitFor("packguard/relay/availability", "online"))
        let discovered = Set(subscriber.collect().map(\.topic).filter { $0.hasPrefix("homeassistant/") })
        #expect(discovered.contains("homeassistant/binary_sensor/relay/relay_chargeRelay/config"))
        #expect(discovered.contains("homeassistant/binary_sensor/relay/input_chargeEnable/config"))

        let changed = ContinuousClock.now
        daemon.update { $0.outputs["chargeRelay"]?.logical = "inactive" }
        daemon.events.append(kind: "chargeRelay.off", reason: "charge relay opened: Charge Enable (BMS pin 1) released", uptimeMs: 9000)
        #expect(subscriber.waitFor("packguard/relay/relays/chargeRelay", "OFF", seconds: 5))
        let latency = ContinuousClock.now - changed
        print("telemetry: relay change to its topic in \(latency) (poll interval 100 ms)")
        #expect(latency < .seconds(1))
        #expect(waitUntil(seconds: 5) {
            subscriber.collect().contains { $0.topic == "packguard/relay/event" && $0.payload.contains("\"relay\":\"chargeRelay\"") && $0.payload.contains("released") }
        })
    }

    /// Broker away: events queue (bounded); after the restart telemetry reconnects, and every event
    /// arrives or is counted (here the queue holds them all: none counted, all arrive).
    @Test func brokerRestartLosesNoEvent() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try Broker(directory: directory)
        defer { broker.stop() }
        let daemon = try FakeDaemon(path: directory + "/control.sock", status: try runningStatus())
        defer { daemon.stop() }
        let subscriber = try Subscriber(port: broker.port, topic: "packguard/restart/#", id: "restart-test")
        let running = try RunningService(try service(socket: daemon.path, port: broker.port, node: "restart"))
        defer { running.stop() }
        #expect(subscriber.waitFor("packguard/restart/availability", "online"))
        daemon.events.append(kind: "state.running", reason: "before the restart", uptimeMs: 1)
        #expect(waitUntil(seconds: 5) { subscriber.collect().contains { $0.payload.contains("before the restart") } })

        broker.stop()
        for index in 1...40 {
            daemon.events.append(kind: "chargeRelay.\(index % 2 == 0 ? "on" : "off")", reason: "while away \(index)", uptimeMs: Int64(1000 + index))
            sleepMs(10)
        }
        sleepMs(300)  // telemetry has polled them all into its queue
        try broker.start()
        let arrived = waitUntil(seconds: 20) {
            subscriber.collect().filter { $0.topic == "packguard/restart/event" && $0.payload.contains("while away") }.count >= 40
        }
        let payloads = subscriber.collect().filter { $0.topic == "packguard/restart/event" }.map(\.payload)
        for index in 1...40 { #expect(payloads.contains { $0.contains("\"while away \(index)\"") }, "event \(index) lost") }
        #expect(arrived)
        #expect(subscriber.waitFor("packguard/restart/events_dropped", "0"))
        #expect(subscriber.waitFor("packguard/restart/availability", "online"))
    }

    /// A queue of 5 and 12 events while the broker is away: the 7 oldest are dropped, the count is
    /// published on reconnect, and the 5 newest arrive.
    @Test func queueOverflowIsCountedAndPublished() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try Broker(directory: directory)
        defer { broker.stop() }
        let daemon = try FakeDaemon(path: directory + "/control.sock", status: try runningStatus())
        defer { daemon.stop() }
        let subscriber = try Subscriber(port: broker.port, topic: "packguard/overflow/#", id: "overflow-test")
        let running = try RunningService(try service(socket: daemon.path, port: broker.port, node: "overflow", queue: 5))
        defer { running.stop() }
        #expect(subscriber.waitFor("packguard/overflow/availability", "online"))
        broker.stop()
        for index in 1...12 { daemon.events.append(kind: "k", reason: "queued \(index)", uptimeMs: Int64(index)) }
        sleepMs(400)
        try broker.start()
        #expect(subscriber.waitFor("packguard/overflow/events_dropped", "7", seconds: 20))
        #expect(waitUntil(seconds: 10) { subscriber.collect().filter { $0.payload.contains("\"queued ") }.count >= 5 })
        let payloads = subscriber.collect().filter { $0.topic == "packguard/overflow/event" }.map(\.payload)
        for index in 8...12 { #expect(payloads.contains { $0.contains("\"queued \(index)\"") }) }
        for index in 1...7 { #expect(!payloads.contains { $0.contains("\"queued \(index)\"") }, "dropped event \(index) arrived") }
    }

    /// A hung broker (SIGSTOP: connected, silent): at most maxUnacknowledged events go to
    /// libmosquitto, the rest wait in the bounded queue and its overflow is counted; after SIGCONT
    /// everything handed over and queued arrives, and the count is published.
    @Test func hungBrokerBoundsWhatIsInFlight() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try Broker(directory: directory)
        defer { broker.stop() }
        let daemon = try FakeDaemon(path: directory + "/control.sock", status: try runningStatus())
        defer { daemon.stop() }
        let subscriber = try Subscriber(port: broker.port, topic: "packguard/hung/#", id: "hung-test")
        let running = try RunningService(try service(socket: daemon.path, port: broker.port, node: "hung", queue: 5))
        defer { running.stop() }
        #expect(subscriber.waitFor("packguard/hung/availability", "online"))
        sleepMs(300)  // every retained message acknowledged
        broker.pause()
        defer { broker.resume() }
        let total = TelemetryService.maxUnacknowledged + 50
        for index in 1...total { daemon.events.append(kind: "k", reason: "stalled \(index)", uptimeMs: Int64(index)) }
        sleepMs(600)  // polled, handed over up to the bound, the rest queued or dropped
        broker.resume()
        let expectedDropped = total - TelemetryService.maxUnacknowledged - 5
        #expect(subscriber.waitFor("packguard/hung/events_dropped", "\(expectedDropped)", seconds: 10))
        #expect(waitUntil(seconds: 10) {
            Set(subscriber.collect().filter { $0.topic == "packguard/hung/event" }.map(\.payload)).count == total - expectedDropped
        })
        let payloads = subscriber.collect().filter { $0.topic == "packguard/hung/event" }.map(\.payload)
        #expect(payloads.contains { $0.contains("\"stalled \(total)\"") }, "the newest event arrives")
        #expect(payloads.contains { $0.contains("\"stalled 1\"") }, "the first handed over before the bound arrives")
    }

    /// The daemon away: availability goes offline (entities unavailable), state says why, and the
    /// telemetry comes back by itself when the daemon does.
    @Test func daemonAwayAndBack() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try Broker(directory: directory)
        defer { broker.stop() }
        let subscriber = try Subscriber(port: broker.port, topic: "packguard/away/#", id: "away-test")
        let running = try RunningService(try service(socket: directory + "/control.sock", port: broker.port, node: "away"))
        defer { running.stop() }
        #expect(subscriber.waitFor("packguard/away/state", "daemonUnreachable"))
        #expect(subscriber.waitFor("packguard/away/availability", "offline"))
        let daemon = try FakeDaemon(path: directory + "/control.sock", status: try runningStatus())
        defer { daemon.stop() }
        #expect(subscriber.waitFor("packguard/away/state", "running", seconds: 10))
        #expect(subscriber.waitFor("packguard/away/availability", "online"))
    }

    /// A daemon restart (sequence numbers start again at 1): every event of the new run is published.
    @Test func daemonRestartIsFollowed() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try Broker(directory: directory)
        defer { broker.stop() }
        let first = try FakeDaemon(path: directory + "/control.sock", status: try runningStatus())
        let subscriber = try Subscriber(port: broker.port, topic: "packguard/rerun/event", id: "rerun-test")
        let running = try RunningService(try service(socket: first.path, port: broker.port, node: "rerun"))
        defer { running.stop() }
        sleepMs(300)
        for index in 1...5 { first.events.append(kind: "k", reason: "old run \(index)", uptimeMs: Int64(index)) }
        #expect(waitUntil(seconds: 5) { subscriber.collect().count >= 5 })
        first.stop()
        var restarted = try runningStatus()
        restarted.uptimeS = 1
        let second = try FakeDaemon(path: directory + "/control.sock", status: restarted)
        defer { second.stop() }
        for index in 1...3 { second.events.append(kind: "k", reason: "new run \(index)", uptimeMs: Int64(index)) }
        #expect(waitUntil(seconds: 10) { subscriber.collect().filter { $0.payload.contains("new run") }.count >= 3 })
        for index in 1...3 { #expect(subscriber.collect().contains { $0.payload.contains("\"new run \(index)\"") }) }
    }

    /// The button sends force-off ON (and nothing else) through the socket.
    @Test func forceOffButtonPress() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try Broker(directory: directory)
        defer { broker.stop() }
        let daemon = try FakeDaemon(path: directory + "/control.sock", status: try runningStatus())
        defer { daemon.stop() }
        let subscriber = try Subscriber(port: broker.port, topic: "homeassistant/button/#", id: "button-test")
        let running = try RunningService(try service(socket: daemon.path, port: broker.port, node: "button", button: true))
        defer { running.stop() }
        #expect(waitUntil(seconds: 5) { subscriber.collect().contains { $0.topic == "homeassistant/button/button/force_off/config" && !$0.payload.isEmpty } })
        sleepMs(300)  // the subscription
        _ = subscriber.client.publish(topic: "packguard/button/command/force_off", payload: "RELEASE", qos: 1, retain: false)
        sleepMs(500)
        #expect(daemon.forceOffRequests.load(ordering: .relaxed) == 0, "only PRESS is understood")
        _ = subscriber.client.publish(topic: "packguard/button/command/force_off", payload: HomeAssistantDiscovery.forceOffPayload, qos: 1, retain: false)
        #expect(waitUntil(seconds: 5) { daemon.forceOffRequests.load(ordering: .relaxed) == 1 })
    }

    /// SIGKILL of `packguard telemetry` (the real binary): the broker publishes the Last Will.
    @Test func sigkillPublishesTheLastWill() throws {
        let binary = try #require(packguardBinary(), "packguard is not built next to the tests (swift build first)")
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try Broker(directory: directory)
        defer { broker.stop() }
        let daemon = try FakeDaemon(path: directory + "/control.sock", status: try runningStatus())
        defer { daemon.stop() }
        let subscriber = try Subscriber(port: broker.port, topic: "packguard/simulated/availability", id: "will-test")
        let telemetry = try ChildProcess([binary, "telemetry", "--simulate", "--socket", daemon.path,
                                          "--mqtt-url", "mqtt://127.0.0.1:\(broker.port)"], output: directory + "/telemetry.log")
        #expect(subscriber.waitFor("packguard/simulated/availability", "online", seconds: 10))
        telemetry.signal(SIGKILL)
        telemetry.wait()
        #expect(subscriber.waitFor("packguard/simulated/availability", "offline", seconds: 10))
    }

    /// The status page in headless Chromium: relays closed, then a latched fault; checked by what
    /// the page's text says. Screenshots go to $PACKGUARD_SCREENSHOTS when set (else a temp dir).
    @Test func statusPageInHeadlessChromium() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let shots = getenv("PACKGUARD_SCREENSHOTS").map { String(cString: $0) } ?? directory
        let server = try StatusPageServer(address: ListenAddress(host: "127.0.0.1", port: 0), nodeID: "garage",
                                          initial: TelemetrySnapshot(status: try runningStatus()))
        try server.start()
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.boundPort)/"
        let closed = try chromium(["--dump-dom", url], directory: directory)
        #expect(closed.contains("running: charge closed, discharge closed"))
        #expect(closed.contains("Charge and discharge relays are closed"))
        #expect(!closed.contains("Why is it off?"))
        _ = try chromium(["--screenshot=\(shots)/status-closed.png", "--window-size=412,915", url], directory: directory)
        #expect(access("\(shots)/status-closed.png", R_OK) == 0)

        let fault = loggedEvent(12, uptimeMs: 60_000, kind: "chargeRelay.off", reason: "charge relay opened: welded fault")
        server.update(TelemetrySnapshot(status: try faultedStatus(), recentEvents: [fault]))
        let faulted = try chromium(["--dump-dom", url], directory: directory)
        #expect(faulted.contains("Why is it off?"))
        #expect(faulted.contains("charge contactor welded"))
        #expect(faulted.contains("packguard reset"))
        #expect(faulted.contains("charge relay opened: welded fault"))
        _ = try chromium(["--screenshot=\(shots)/status-fault.png", "--window-size=412,915", url], directory: directory)
        #expect(access("\(shots)/status-fault.png", R_OK) == 0)
    }

    private func chromium(_ arguments: [String], directory: String) throws -> String {
        let output = directory + "/chromium-\(arguments[0].prefix(8)).out"
        unlink(output)
        // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        let status = runProcess(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(directory)/chromium"]
                                + arguments, output: output)
        #expect(status == 0, "chromium exited with \(status)")
        let file = try #require(fopen(output, "r"))
        defer { fclose(file) }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            text += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return text
    }
}

/// `packguard`, built next to the test bundle.
func packguardBinary() -> String? {
    var path = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &path, path.count - 1)
    guard count > 0 else { return nil }
    let executable = String(decoding: path.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var directory = executable
    // …/debug/PackGuardPackageTests.xctest (the runner itself), or a swiftpm-testing-helper beside it.
    while let slash = directory.lastIndex(of: "/") {
        directory = String(directory[..<slash])
        let candidate = directory + "/packguard"
        if access(candidate, X_OK) == 0 { return candidate }
        if directory.hasSuffix("/.build") || directory.isEmpty { break }
    }
    return nil
}
