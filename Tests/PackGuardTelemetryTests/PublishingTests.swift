import PackGuardDaemon
import PackGuardTelemetry
import Testing

/// Discovery payloads against Home Assistant's MQTT discovery documentation
/// (home-assistant.io/integrations/mqtt, binary_sensor.mqtt, sensor.mqtt, button.mqtt):
/// topic `<prefix>/<component>/[<node_id>/]<object_id>/config` with ids of [a-zA-Z0-9_-];
/// `state_topic` required for binary_sensor and sensor, `command_topic` for button; `unique_id` for
/// the entity and device registries; a device block with `identifiers` (or connections);
/// `availability` entries each with a `topic`.
@Suite struct DiscoveryTests {
    let topics = TopicNames(nodeID: "garage")

    func decoded(_ status: StatusReport, button: Bool = false) throws -> [(topic: String, config: HomeAssistantDiscovery.Config?)] {
        try HomeAssistantDiscovery.messages(for: status, topics: topics, prefix: "homeassistant", forceOffButton: button, version: "0.1")
            .map { message in
                (message.topic, message.payload.isEmpty ? nil : try ControlCodec.decode(HomeAssistantDiscovery.Config.self, from: message.payload))
            }
    }

    @Test func everyPayloadHasHomeAssistantsRequiredKeys() throws {
        let messages = try decoded(runningStatus(), button: true)
        var uniqueIDs = Set<String>()
        for (topic, config) in messages {
            let config = try #require(config, "\(topic) has an empty payload")
            let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
            #expect(levels.count == 5 && levels[0] == "homeassistant" && levels[2] == "garage" && levels[4] == "config", "\(topic)")
            #expect(levels[3].allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }, "\(topic)")
            let component = String(levels[1])
            #expect(["binary_sensor", "sensor", "button"].contains(component))
            switch component {
            case "button":
                #expect(config.command_topic == topics.forceOffCommand)
                #expect(config.state_topic == nil)
            default:
                let state = try #require(config.state_topic, "\(topic) lacks state_topic")
                #expect(state.hasPrefix("packguard/garage/"))
                #expect(config.command_topic == nil, "\(topic): only the button may command anything")
            }
            #expect(!config.name.isEmpty)
            #expect(uniqueIDs.insert(config.unique_id).inserted, "unique_id \(config.unique_id) twice")
            #expect(config.availability == [.init(topic: "packguard/garage/availability")])
            #expect(config.availability.first?.payload_available == "online")
            #expect(config.availability.first?.payload_not_available == "offline")
            #expect(config.device.identifiers == ["packguard_garage"])
            #expect(!config.device.name.isEmpty)
            if component == "binary_sensor" { #expect(config.payload_on == "ON" && config.payload_off == "OFF") }
        }
        // The raw JSON uses Home Assistant's full key names.
        let raw = try #require(HomeAssistantDiscovery.messages(for: runningStatus(), topics: topics, prefix: "homeassistant",
                                                            forceOffButton: false, version: "0.1").first?.payload)
        for key in ["\"name\"", "\"unique_id\"", "\"state_topic\"", "\"availability\"", "\"device\"", "\"identifiers\""] {
            #expect(raw.contains(key), "\(key) missing from \(raw)")
        }
    }

    @Test func aBinarySensorPerRelayAndInputAndTheSensors() throws {
        let status = try runningStatus()
        let topicsPublished = Set(try decoded(status).compactMap { $0.config == nil ? nil : $0.topic })
        for key in status.outputs.keys where key.hasSuffix("Relay") {
            #expect(topicsPublished.contains("homeassistant/binary_sensor/garage/relay_\(key)/config"))
        }
        for key in status.inputs.keys {
            #expect(topicsPublished.contains("homeassistant/binary_sensor/garage/input_\(key)/config"))
        }
        for object in ["state", "soc", "charge_current_limit", "discharge_current_limit", "faults", "latched_faults"] {
            #expect(topicsPublished.contains("homeassistant/sensor/garage/\(object)/config"), "\(object)")
        }
        // The heartbeat and status LED toggle many times a second: not entities.
        #expect(!topicsPublished.contains { $0.contains("heartbeat") || $0.contains("statusLed") })
    }

    /// Off by default; when off, an empty retained config removes a button announced earlier.
    @Test func forceOffButtonOnlyWhenEnabled() throws {
        let off = try decoded(runningStatus(), button: false)
        #expect(off.contains { $0.topic == "homeassistant/button/garage/force_off/config" && $0.config == nil })
        let on = try decoded(runningStatus(), button: true)
        let button = try #require(on.first { $0.topic == "homeassistant/button/garage/force_off/config" }?.config)
        #expect(button.payload_press == HomeAssistantDiscovery.forceOffPayload)
    }
}

@Suite struct StateMessageTests {
    @Test func relaysInputsAndValues() throws {
        var status = try runningStatus()
        let topics = TopicNames(nodeID: "p")
        var messages = Dictionary(uniqueKeysWithValues: StateMessages.all(for: status, topics: topics).map { ($0.topic, $0.payload) })
        #expect(messages["packguard/p/state"] == "running")
        #expect(messages["packguard/p/relays/chargeRelay"] == "ON")
        #expect(messages["packguard/p/inputs/chargeEnable"] == "ON")
        #expect(messages["packguard/p/inputs/balanceSwitch"] == "OFF")
        #expect(messages["packguard/p/soc"] == "80.0")
        #expect(messages["packguard/p/limits/charge"] == "50.0")
        #expect(messages["packguard/p/faults"] == #"{"active":0,"faults":[],"latched":0}"#)
        #expect(messages["packguard/p/relays/heartbeat"] == nil)
        status = try faultedStatus()
        status.soc?.valid = false
        status.inputs["chargeEnable"]?.logical = "unread"
        messages = Dictionary(uniqueKeysWithValues: StateMessages.all(for: status, topics: topics).map { ($0.topic, $0.payload) })
        #expect(messages["packguard/p/relays/chargeRelay"] == "OFF")
        #expect(messages["packguard/p/soc"] == "None", "an invalid reading is unknown, not a number")
        #expect(messages["packguard/p/inputs/chargeEnable"] == "None")
        #expect(messages["packguard/p/faults"]?.contains(#""active":1"#) == true)
        #expect(messages["packguard/p/faults"]?.contains(#""latched":1"#) == true)
    }

    @Test func eventMessageNamesRelayAndUID() throws {
        let relays: Set = ["chargeRelay", "dischargeRelay"]
        let opened = EventMessage(event: loggedEvent(5, uptimeMs: 2500, kind: "chargeRelay.off", reason: "charge relay opened: operator force-off"),
                                  daemonStartedAtMs: 1_700_000_000_000, relays: relays)
        #expect(opened.relay == "chargeRelay")
        #expect(opened.uid == nil)
        #expect(opened.time == "2023-11-14T22:13:22Z")
        let command = EventMessage(event: loggedEvent(6, uptimeMs: 2500, kind: "control.command", reason: "force-off on by uid 1001 pid 42: ok"),
                                   daemonStartedAtMs: nil, relays: relays)
        #expect(command.uid == 1001)
        #expect(command.relay == nil)
        #expect(command.reason == "force-off on by uid 1001 pid 42: ok")
    }

    @Test func boundedQueueCountsOverflow() {
        var queue = EventQueue(capacity: 3)
        for sequence in 1...5 {
            queue.append(EventMessage(event: loggedEvent(sequence, uptimeMs: 0, kind: "k", reason: "r"), daemonStartedAtMs: 0, relays: []))
        }
        #expect(queue.dropped == 2)
        #expect(queue.pending.map(\.sequence) == [3, 4, 5], "the oldest are dropped, the newest kept")
        queue.countMissed(4)
        #expect(queue.dropped == 6)
    }
}

@Suite struct PrometheusTests {
    @Test func metricsFromAStatus() throws {
        let text = PrometheusText.render(try faultedStatus(), counters: .init(daemonReachable: true, mqttConnected: false, eventsDropped: 3, eventsPublished: 9))
        #expect(text.contains(#"packguard_relay_closed{relay="chargeRelay",line="GPIO16"} 0"#))
        #expect(text.contains(#"packguard_input_active{input="chargeEnable",line="GPIO17"} 1"#))
        #expect(text.contains(#"packguard_input_level{input="chargeEnable"} 0"#))
        #expect(text.contains(#"packguard_fault_active{code="welded",latched="true"} 1"#))
        #expect(text.contains("packguard_telemetry_events_dropped_total 3"))
        #expect(text.contains("packguard_telemetry_mqtt_connected 0"))
        #expect(text.contains("packguard_steps_total "))
        #expect(text.contains("packguard_deadline_misses_total 0"))
        #expect(text.contains("packguard_soc_percent 80.00125"))
        #expect(text.contains("packguard_uptime_seconds "))
        #expect(text.contains("# TYPE packguard_step_latency_seconds histogram"))
        // Cumulative buckets never decrease and end at the count.
        let buckets = text.split(separator: "\n").filter { $0.hasPrefix("packguard_step_latency_seconds_bucket") }
            .compactMap { Int($0.split(separator: " ").last!) }
        #expect(buckets.count >= 2)
        #expect(buckets == buckets.sorted())
        let count = try #require(text.split(separator: "\n").first { $0.hasPrefix("packguard_step_latency_seconds_count") })
        #expect(count.hasSuffix(" \(buckets.last!)"))
        // Every sample line is NAME{labels} VALUE or NAME VALUE.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.hasPrefix("packguard_") && line.split(separator: " ").count >= 2, "\(line)")
        }
    }

    @Test func theOffReactionIsAHistogramWhenTheDaemonHasOne() throws {
        var status = try runningStatus()
        #expect(!PrometheusText.render(status, counters: .init(daemonReachable: true, mqttConnected: true, eventsDropped: 0, eventsPublished: 0)).contains("packguard_off_reaction_seconds"),
                "no release yet: no histogram")
        status.offReaction = StepLatencyReport(buckets: [[400, 3], [448, 1]], maxUs: 460)
        let text = PrometheusText.render(status, counters: .init(daemonReachable: true, mqttConnected: true, eventsDropped: 0, eventsPublished: 0))
        #expect(text.contains("# TYPE packguard_off_reaction_seconds histogram"))
        #expect(text.contains("packguard_off_reaction_seconds_bucket{le=\"+Inf\"} 4"))
        #expect(text.contains("packguard_off_reaction_seconds_count 4"))
        let buckets = text.split(separator: "\n").filter { $0.hasPrefix("packguard_off_reaction_seconds_bucket{le=\"0.") }
        #expect(buckets.map { $0.split(separator: " ").last! } == ["3", "4"])
    }

    @Test func watchdogPetsAreCountersWhenTheDaemonCountsThem() throws {
        var status = try faultedStatus()
        #expect(!PrometheusText.render(status, counters: .init(daemonReachable: true, mqttConnected: true, eventsDropped: 0, eventsPublished: 0))
            .contains("packguard_watchdog_pets_total"), "an older daemon without the counters: no metric rather than a wrong 0")
        status.watchdogs.systemdPets = 41
        status.watchdogs.hardwarePets = 7
        let text = PrometheusText.render(status, counters: .init(daemonReachable: true, mqttConnected: true, eventsDropped: 0, eventsPublished: 0))
        #expect(text.contains("# TYPE packguard_watchdog_pets_total counter"))
        #expect(text.contains(#"packguard_watchdog_pets_total{watchdog="systemd"} 41"#))
        #expect(text.contains(#"packguard_watchdog_pets_total{watchdog="hardware"} 7"#))
    }

    @Test func unreachableDaemonStillWritesTelemetryMetrics() {
        let text = PrometheusText.render(nil, counters: .init(daemonReachable: false, mqttConnected: true, eventsDropped: 0, eventsPublished: 0))
        #expect(text.contains("packguard_telemetry_daemon_reachable 0"))
        #expect(!text.contains("packguard_relay_closed"))
    }

    @Test func writeIsAtomic() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        try PrometheusText.write("a 1\n", directory: directory)
        try PrometheusText.write("a 2\n", directory: directory)
        #expect(runProcess(["/bin/grep", "-qx", "a 2", directory + "/packguard.prom"]) == 0)
        #expect(runProcess(["/bin/sh", "-c", "ls -A \(directory) | grep -q tmp"]) != 0, "no temporary file left")
        #expect(throws: TelemetryIOError.self) { try PrometheusText.write("a 1\n", directory: directory + "/missing") }
    }
}

@Suite struct StatusPageTests {
    @Test func closedRelaysSayAllGood() throws {
        let lines = OffExplanation.lines(for: TelemetrySnapshot(status: try runningStatus()))
        #expect(lines == ["Charge and discharge relays are closed: the BMS allows both and nothing is wrong."])
    }

    @Test func faultIsExplainedInPlainWords() throws {
        let status = try faultedStatus()
        let events = [loggedEvent(9, uptimeMs: 1, kind: "chargeRelay.off", reason: "charge relay opened: welded fault")]
        let lines = OffExplanation.lines(for: TelemetrySnapshot(status: status, recentEvents: events))
        #expect(lines.contains { $0.contains("charge contactor welded") && $0.contains("latched") && $0.contains("packguard reset") })
        #expect(lines.contains { $0.hasPrefix("The charge relay is open") && $0.contains("charge relay opened: welded fault") })
    }

    @Test func bmsInputOffAndForceOff() throws {
        var status = try runningStatus()
        status.outputs["chargeRelay"]?.logical = "inactive"
        status.inputs["chargeEnable"]?.logical = "inactive"
        var lines = OffExplanation.lines(for: TelemetrySnapshot(status: status))
        #expect(lines.contains { $0.contains("the BMS does not allow charging (its Charge Enable output is off)") })
        status.forceOff = true
        lines = OffExplanation.lines(for: TelemetrySnapshot(status: status))
        #expect(lines.first?.hasPrefix("Force-off is on") == true)
        lines = OffExplanation.lines(for: TelemetrySnapshot(status: nil, daemonError: "no socket"))
        #expect(lines.first?.contains("cannot reach the PackGuard controller (no socket)") == true)
    }

    @Test func readOnlyRoutes() throws {
        let snapshot = TelemetrySnapshot(status: try runningStatus())
        #expect(StatusPageRoutes.respond(requestLine: "GET / HTTP/1.1", snapshot: snapshot, nodeID: "n").status == 200)
        #expect(StatusPageRoutes.respond(requestLine: "GET /status.json HTTP/1.1", snapshot: snapshot, nodeID: "n").body.contains("\"chargeRelay\""))
        #expect(StatusPageRoutes.respond(requestLine: "POST / HTTP/1.1", snapshot: snapshot, nodeID: "n").status == 405)
        #expect(StatusPageRoutes.respond(requestLine: "GET /reset HTTP/1.1", snapshot: snapshot, nodeID: "n").status == 404)
        #expect(StatusPageRoutes.respond(requestLine: "garbage", snapshot: snapshot, nodeID: "n").status == 400)
        #expect(StatusPageRoutes.respond(requestLine: "GET /status.json HTTP/1.1", snapshot: TelemetrySnapshot(), nodeID: "n").status == 503)
        let page = StatusPageRoutes.respond(requestLine: "GET / HTTP/1.1", snapshot: snapshot, nodeID: "<n>").body
        #expect(page.contains("&lt;n&gt;") && !page.contains("<n>"), "names are escaped")
        #expect(!page.contains("<form") && !page.contains("<button") && !page.contains("<script"), "no control actions, no script")
    }
}
