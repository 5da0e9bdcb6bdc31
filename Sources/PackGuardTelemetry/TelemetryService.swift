import Glibc
import Logging
import PackGuardDaemon

/// The telemetry process: polls the daemon's control socket (status, and events since the last
/// sequence number seen), and publishes what it learns to MQTT, a Prometheus textfile and the
/// status page. Runs on one thread; libmosquitto and the status page have their own, and nothing
/// here waits on the network: publishing only queues inside libmosquitto.
///
/// Polling, not a push stream: `events since N` returns every event after N from the daemon's
/// ring of 500, so at 4 polls a second an event is missed only if more than 500 happen within
/// 250 ms, and a gap in the sequence numbers is counted as dropped. Each poll is one short
/// observe-level request the daemon's socket endpoint already serves without a step.
public final class TelemetryService {
    public let configuration: TelemetryConfiguration
    public let topics: TopicNames
    public let version: String
    private let logger: Logger
    private let client: MosquittoClient?
    private let page: StatusPageServer?
    public private(set) var queue: EventQueue

    private var lastSequence = 0
    private var firstContact = true
    /// The daemon's start in wall time (for the events' `time`) and in monotonic time (to tell a restart).
    private var daemonStartedAtMs: Int64?
    private var daemonStartedAtMonotonicS: Int64?
    public private(set) var status: StatusReport?
    public private(set) var daemonError: String?
    private var recentEvents: [LoggedEvent] = []
    private var published: [String: String] = [:]
    private var seenConnections = 0
    private var subscribed = false
    public private(set) var eventsPublished = 0
    private var discoveryKey: [String] = []
    private var discovery: [OutgoingMessage] = []
    private var nextDaemonAttempt = ContinuousClock.now
    private var daemonBackoffMs = 0
    private var nextPrometheus = ContinuousClock.now
    private var lastLoggedMQTTError: String?

    /// QoS 1 messages handed to libmosquitto and not yet acknowledged, at most.
    public static let maxUnacknowledged = 100

    public init(configuration: TelemetryConfiguration, mqtt: MQTTConnectionSettings?, version: String,
                logger: Logger) throws(TelemetryStartError) {
        self.configuration = configuration
        topics = TopicNames(nodeID: configuration.nodeID)
        self.version = version
        self.logger = logger
        queue = EventQueue(capacity: configuration.eventQueue)
        do {
            client = try mqtt.map { settings throws(MQTTError) in try MosquittoClient(settings: settings) }
        } catch {
            throw .mqtt(error)
        }
        do {
            page = try configuration.statusPage.map { address throws(TelemetryIOError) in
                try StatusPageServer(address: address, nodeID: configuration.nodeID, initial: TelemetrySnapshot())
            }
        } catch {
            throw .statusPage(error)
        }
    }

    /// Starts the MQTT and status page threads.
    public func start() throws(TelemetryStartError) {
        do { try client?.start() } catch { throw .mqtt(error) }
        do { try page?.start() } catch { throw .statusPage(error) }
        if let client { logger.notice("telemetry: MQTT broker \(client.settings.host):\(client.settings.port) as \(client.settings.clientID)\(client.settings.tls ? " (TLS)" : "")") }
        if let page { logger.notice("telemetry: status page on http://\(page.address.host):\(page.boundPort)/") }
        if let directory = configuration.prometheus.directory { logger.notice("telemetry: metrics in \(directory)/packguard.prom every \(configuration.prometheus.intervalS) s") }
    }

    /// Polls and publishes until `stop()` says so, then says "offline" and disconnects cleanly.
    public func run(until stop: () -> Bool) {
        while !stop() {
            tick()
            usleep(UInt32(configuration.pollIntervalMs) * 1000)
        }
        shutdown()
    }

    /// The status page's actual port (for tests binding port 0).
    public var statusPagePort: Int? { page?.boundPort }

    public var mqttState: MosquittoClient.ConnectionState? { client?.state }

    /// One round: poll the daemon (when due), publish, write metrics, update the page.
    public func tick() {
        let now = ContinuousClock.now
        if now >= nextDaemonAttempt { pollDaemon(now: now) }
        if let client { publish(client) }
        if let directory = configuration.prometheus.directory, now >= nextPrometheus {
            nextPrometheus = now + .seconds(configuration.prometheus.intervalS)
            let text = PrometheusText.render(status, counters: .init(
                daemonReachable: daemonError == nil && status != nil, mqttConnected: client?.state.connected ?? false,
                eventsDropped: queue.dropped, eventsPublished: eventsPublished))
            do { try PrometheusText.write(text, directory: directory) } catch {
                logger.warning("telemetry: cannot write metrics: \(error)")
            }
        }
        page?.update(snapshot)
    }

    public var snapshot: TelemetrySnapshot {
        let mqttText: String
        if let state = client?.state {
            mqttText = state.connected ? "connected" : "disconnected\(state.lastError.map { " (\($0))" } ?? "")"
        } else {
            mqttText = "not configured"
        }
        return TelemetrySnapshot(status: status, daemonError: daemonError, recentEvents: recentEvents,
                                 mqtt: mqttText, eventsDropped: queue.dropped)
    }

    private func request(_ request: ControlRequest) throws -> ControlReply {
        let line = try ControlSocketClient.request(path: configuration.socket, line: ControlCodec.encode(request), timeoutMs: 1000)
        let reply = try ControlCodec.decode(ControlReply.self, from: line)
        guard reply.ok else { throw TelemetryStartError.refused(reply.error ?? "refused") }
        return reply
    }

    private func pollDaemon(now: ContinuousClock.Instant) {
        do {
            guard let report = try request(ControlRequest(command: .status)).status else {
                throw TelemetryStartError.refused("the status reply has no status")
            }
            // A new daemon run: its sequence numbers start again at 1, and every event of it is new.
            // Either its start (monotonic now minus uptime: a wall-clock step, NTP at boot, must not
            // look like a restart) moves by more than rounding, or its newest event goes back.
            let newest = report.events.last?.sequence ?? 0
            let startedAtMonotonicS = monotonicSeconds() - report.uptimeS
            let moved = daemonStartedAtMonotonicS.map { abs(startedAtMonotonicS - $0) > 3 } ?? false
            if !firstContact, moved || newest < lastSequence {
                logger.notice("telemetry: the controller restarted; following its new run")
                lastSequence = 0
                daemonStartedAtMs = nil
            }
            daemonStartedAtMonotonicS = startedAtMonotonicS
            if daemonStartedAtMs == nil { daemonStartedAtMs = Int64(time(nil)) * 1000 - report.uptimeS * 1000 }
            // The status carries the latest events: ask for the rest only when there is something new.
            let events = firstContact || newest != lastSequence
                ? try request(ControlRequest(command: .events, since: lastSequence)).events ?? [] : []
            if firstContact {
                // What happened before telemetry started is history, not news: the page shows it,
                // MQTT gets what happens from now on.
                firstContact = false
            } else {
                if let first = events.first, first.sequence > lastSequence + 1 {
                    queue.countMissed(first.sequence - lastSequence - 1)
                    logger.warning("telemetry: missed \(first.sequence - lastSequence - 1) events (the daemon's event ring moved past them)")
                }
                if client != nil {
                    let relays = Set(report.outputs.keys.filter(isRelay))
                    for event in events {
                        // A burst larger than the queue goes straight to the broker while it takes it;
                        // the bound is for what has to wait.
                        if queue.isFull, let client { drainEvents(client) }
                        queue.append(EventMessage(event: event, daemonStartedAtMs: daemonStartedAtMs, relays: relays))
                    }
                }
            }
            if let last = events.last { lastSequence = last.sequence }
            recentEvents = Array((recentEvents + events).suffix(20))
            if daemonError != nil { logger.notice("telemetry: controller reachable at \(configuration.socket)") }
            status = report
            daemonError = nil
            daemonBackoffMs = 0
            nextDaemonAttempt = now
        } catch {
            let text = "\(error)"
            if daemonError != text { logger.warning("telemetry: cannot reach the controller: \(text); retrying with backoff") }
            daemonError = text
            status = nil
            daemonBackoffMs = min(max(daemonBackoffMs * 2, configuration.pollIntervalMs), 5000)
            nextDaemonAttempt = now + .milliseconds(daemonBackoffMs)
        }
    }

    private func publish(_ client: MosquittoClient) {
        let state = client.state
        if state.lastError != lastLoggedMQTTError {
            if let error = state.lastError { logger.warning("telemetry: MQTT: \(error); reconnecting with backoff") }
            lastLoggedMQTTError = state.lastError
        }
        guard state.connected else { return }
        if state.connections != seenConnections {
            // A new connection (first, or after the broker went away): the broker may have lost
            // every retained message, so all of them go out again, and the button's subscription.
            logger.notice("telemetry: MQTT connected (connection \(state.connections))")
            seenConnections = state.connections
            published.removeAll()
            subscribed = false
        }
        if configuration.homeAssistant.forceOffButton, !subscribed {
            if let error = client.subscribe(topic: topics.forceOffCommand) {
                logger.warning("telemetry: \(error)")
            } else {
                subscribed = true
            }
        }
        for message in client.takeMessages() where message.topic == topics.forceOffCommand {
            pressForceOff(message.payload)
        }
        var messages: [OutgoingMessage] = []
        if let status {
            if configuration.homeAssistant.discovery { messages += discoveryMessages(for: status) }
            messages += StateMessages.all(for: status, topics: topics)
            messages.append(OutgoingMessage(topic: topics.availability, payload: "online"))
        } else {
            messages.append(OutgoingMessage(topic: topics.state, payload: "daemonUnreachable"))
            messages.append(OutgoingMessage(topic: topics.availability, payload: "offline"))
        }
        messages.append(OutgoingMessage(topic: topics.eventsDropped, payload: "\(queue.dropped)"))
        for message in messages where published[message.topic] != message.payload {
            switch client.publish(topic: message.topic, payload: message.payload, qos: 1, retain: message.retain) {
            case .handedOver: published[message.topic] = message.payload
            case .notConnected: return
            case .failed(let error): logger.warning("telemetry: \(error)")
            }
        }
        drainEvents(client)
    }

    /// Hands queued events to libmosquitto while connected.
    private func drainEvents(_ client: MosquittoClient) {
        guard client.state.connected else { return }
        // A broker that is connected but does not acknowledge (hung, or a saturated link) must not
        // grow libmosquitto's own queue without bound: beyond this many unacknowledged messages,
        // events wait in (and overflow from) the bounded queue instead.
        while let event = queue.first, client.state.pendingAcks.count < Self.maxUnacknowledged {
            switch client.publish(topic: topics.event, payload: ControlCodec.encode(event), qos: 1, retain: false) {
            case .handedOver:
                queue.removeFirst()
                eventsPublished += 1
            case .notConnected:
                return
            case .failed(let error):
                logger.warning("telemetry: \(error)")
                return
            }
        }
    }

    private func discoveryMessages(for status: StatusReport) -> [OutgoingMessage] {
        let key = status.outputs.keys.sorted() + ["|"] + status.inputs.keys.sorted() + ["|"] + (status.can?.values.keys.sorted() ?? [])
        if key != discoveryKey {
            discoveryKey = key
            discovery = HomeAssistantDiscovery.messages(
                for: status, topics: topics, prefix: configuration.homeAssistant.discoveryPrefix,
                forceOffButton: configuration.homeAssistant.forceOffButton, version: version)
        }
        return discovery
    }

    /// The Home Assistant button: force-off ON only. Nothing received over MQTT can release or reset.
    private func pressForceOff(_ payload: String) {
        guard configuration.homeAssistant.forceOffButton, payload == HomeAssistantDiscovery.forceOffPayload else {
            logger.warning("telemetry: ignored \"\(payload)\" on \(topics.forceOffCommand) (only \(HomeAssistantDiscovery.forceOffPayload) is understood)")
            return
        }
        do {
            let reply = try request(ControlRequest(command: .forceOff, on: true))
            logger.notice("telemetry: Home Assistant button: force-off on: \(reply.message ?? "done")")
        } catch {
            logger.error("telemetry: Home Assistant button: force-off on failed: \(error)")
        }
    }

    private func shutdown() {
        page?.stop()
        guard let client else { return }
        // A clean stop is not a crash: say "offline" ourselves (the Last Will is only for crashes).
        _ = client.publish(topic: topics.availability, payload: "offline", qos: 1, retain: true)
        client.flush(waitingUpTo: 1000)
        logger.notice("telemetry: stopped; \(eventsPublished) events published, \(queue.dropped) dropped, \(queue.pending.count) still queued")
    }
}

public enum TelemetryStartError: Error, CustomStringConvertible {
    case mqtt(MQTTError)
    case statusPage(TelemetryIOError)
    case refused(String)

    public var description: String {
        switch self {
        case .mqtt(let error): "\(error)"
        case .statusPage(let error): "status page: \(error)"
        case .refused(let why): "the controller refused: \(why)"
        }
    }
}

/// Seconds of CLOCK_MONOTONIC (the daemon's uptime runs on the same kind of clock).
func monotonicSeconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec)
}
