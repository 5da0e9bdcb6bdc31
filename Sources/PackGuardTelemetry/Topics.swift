import PackGuardDaemon

/// The MQTT topics of one pack, all under `packguard/<nodeId>/`.
public struct TopicNames: Sendable, Equatable {
    public let nodeID: String
    public let base: String

    public init(nodeID: String) {
        self.nodeID = nodeID
        base = "packguard/\(nodeID)"
    }

    /// Retained "online"/"offline"; "offline" is also the Last Will.
    public var availability: String { "\(base)/availability" }
    /// Retained controller state ("running", "forcedOff", ..., or "daemonUnreachable").
    public var state: String { "\(base)/state" }
    public func relay(_ name: String) -> String { "\(base)/relays/\(name)" }
    public func input(_ name: String) -> String { "\(base)/inputs/\(name)" }
    /// Retained JSON: {"active": n, "latched": n, "faults": [{code, description, latched}]}.
    public var faults: String { "\(base)/faults" }
    public var soc: String { "\(base)/soc" }
    public func currentLimit(_ direction: String) -> String { "\(base)/limits/\(direction)" }
    public func can(_ quantity: String) -> String { "\(base)/can/\(quantity)" }
    /// QoS 1, not retained: one JSON object per controller event.
    public var event: String { "\(base)/event" }
    /// Retained count of events dropped since telemetry started (queue overflow or missed by the follower).
    public var eventsDropped: String { "\(base)/events_dropped" }
    /// The Home Assistant button's command topic (only subscribed when the button is enabled).
    public var forceOffCommand: String { "\(base)/command/force_off" }

    /// Home Assistant ids allow only these (and a topic level must not hold +, # or /).
    public static func isValidNodeID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-")
        }
    }

    public static func isValidTopicLevel(_ text: String) -> Bool {
        !text.isEmpty && !text.contains(where: { "+#/".contains($0) || $0 == "\0" })
    }
}

/// Output keys that are contactor relays. The heartbeat and status LED toggle many times a second
/// and mean nothing to a phone, so they are not published.
public func isRelay(_ outputKey: String) -> Bool { outputKey.hasSuffix("Relay") }

/// One message to publish: retained state or discovery.
public struct OutgoingMessage: Sendable, Equatable {
    public var topic: String
    public var payload: String
    public var retain: Bool

    public init(topic: String, payload: String, retain: Bool = true) {
        self.topic = topic
        self.payload = payload
        self.retain = retain
    }
}

/// The retained state topics for one status report. Home Assistant takes "ON"/"OFF" for binary
/// sensors and "None" as "unknown".
public enum StateMessages {
    public static let unknown = "None"

    public static func all(for status: StatusReport, topics: TopicNames) -> [OutgoingMessage] {
        var messages = [OutgoingMessage(topic: topics.state, payload: status.state)]
        for (key, output) in status.outputs.sorted(by: { $0.key < $1.key }) where isRelay(key) {
            messages.append(OutgoingMessage(topic: topics.relay(key), payload: output.logical == "active" ? "ON" : "OFF"))
        }
        for (key, input) in status.inputs.sorted(by: { $0.key < $1.key }) {
            let payload = switch input.logical {
            case "active": "ON"
            case "inactive": "OFF"
            default: unknown  // "unread": the line could not be read
            }
            messages.append(OutgoingMessage(topic: topics.input(key), payload: payload))
        }
        messages.append(OutgoingMessage(topic: topics.faults, payload: faultsPayload(status.faults)))
        messages.append(OutgoingMessage(topic: topics.soc, payload: number(status.soc)))
        messages.append(OutgoingMessage(topic: topics.currentLimit("charge"), payload: number(status.chargeCurrentLimit)))
        messages.append(OutgoingMessage(topic: topics.currentLimit("discharge"), payload: number(status.dischargeCurrentLimit)))
        if let can = status.can {
            for (quantity, value) in can.values.sorted(by: { $0.key < $1.key }) {
                messages.append(OutgoingMessage(topic: topics.can(quantity), payload: decimal(value)))
            }
        }
        return messages
    }

    struct FaultsPayload: Encodable {
        var active: Int
        var latched: Int
        var faults: [StatusReport.FaultEntry]
    }

    static func faultsPayload(_ faults: [StatusReport.FaultEntry]) -> String {
        ControlCodec.encode(FaultsPayload(active: faults.count, latched: faults.filter(\.latched).count, faults: faults))
    }

    static func number(_ analog: StatusReport.Analog?) -> String {
        guard let analog, analog.valid, let value = analog.value else { return unknown }
        return decimal(value)
    }

    /// One decimal: what the sensors resolve, and stable enough not to republish on noise.
    static func decimal(_ value: Double) -> String {
        guard value.isFinite else { return unknown }
        let tenths = Int((abs(value) * 10).rounded())
        return "\(value < 0 && tenths > 0 ? "-" : "")\(tenths / 10).\(tenths % 10)"
    }
}

/// Home Assistant MQTT discovery: `<prefix>/<component>/<nodeId>/<object>/config`, retained, each
/// with the availability topic and one device block, so every entity lands on one "PackGuard" device.
public enum HomeAssistantDiscovery {
    public struct Availability: Codable, Sendable, Equatable {
        public var topic: String
        public var payload_available = "online"
        public var payload_not_available = "offline"

        public init(topic: String) { self.topic = topic }
    }

    public struct Device: Codable, Sendable, Equatable {
        public var identifiers: [String]
        public var name: String
        public var manufacturer = "PackGuard"
        public var model = "PackGuard contactor controller (Orion Jr. 2 BMS)"
        public var sw_version: String
    }

    public struct Origin: Codable, Sendable, Equatable {
        public var name = "packguard telemetry"
        public var sw_version: String
    }

    /// One entity's config payload (Home Assistant's full key names, not the abbreviations).
    public struct Config: Codable, Sendable, Equatable {
        public var name: String
        public var unique_id: String
        public var object_id: String
        public var state_topic: String?
        public var command_topic: String?
        public var payload_on: String?
        public var payload_off: String?
        public var payload_press: String?
        public var device_class: String?
        public var state_class: String?
        public var unit_of_measurement: String?
        public var value_template: String?
        public var json_attributes_topic: String?
        public var entity_category: String?
        public var icon: String?
        public var availability: [Availability]
        public var device: Device
        public var origin: Origin
    }

    public static let forceOffPayload = "PRESS"

    public static func messages(for status: StatusReport, topics: TopicNames, prefix: String,
                                forceOffButton: Bool, version: String) -> [OutgoingMessage] {
        let node = topics.nodeID
        let device = Device(identifiers: ["packguard_\(node)"], name: "PackGuard \(node)", sw_version: version)
        let availability = [Availability(topic: topics.availability)]
        func config(_ object: String, _ name: String) -> Config {
            Config(name: name, unique_id: "packguard_\(node)_\(object)", object_id: "packguard_\(node)_\(object)",
                   availability: availability, device: device, origin: Origin(sw_version: version))
        }
        var entries: [(component: String, object: String, config: Config)] = []
        for key in status.outputs.keys.sorted() where isRelay(key) {
            var entry = config("relay_\(key)", "Relay \(words(key))")
            entry.state_topic = topics.relay(key)
            entry.payload_on = "ON"
            entry.payload_off = "OFF"
            entry.device_class = "power"
            entries.append(("binary_sensor", "relay_\(key)", entry))
        }
        for key in status.inputs.keys.sorted() {
            var entry = config("input_\(key)", "Input \(words(key))")
            entry.state_topic = topics.input(key)
            entry.payload_on = "ON"
            entry.payload_off = "OFF"
            entries.append(("binary_sensor", "input_\(key)", entry))
        }
        var state = config("state", "Controller state")
        state.state_topic = topics.state
        state.icon = "mdi:battery-lock"
        entries.append(("sensor", "state", state))

        var soc = config("soc", "State of charge")
        soc.state_topic = topics.soc
        soc.device_class = "battery"
        soc.state_class = "measurement"
        soc.unit_of_measurement = "%"
        entries.append(("sensor", "soc", soc))
        for direction in ["charge", "discharge"] {
            var limit = config("\(direction)_current_limit", "\(direction == "charge" ? "Charge" : "Discharge") current limit")
            limit.state_topic = topics.currentLimit(direction)
            limit.device_class = "current"
            limit.state_class = "measurement"
            limit.unit_of_measurement = "A"
            entries.append(("sensor", "\(direction)_current_limit", limit))
        }
        var faults = config("faults", "Active faults")
        faults.state_topic = topics.faults
        faults.value_template = "{{ value_json.active }}"
        faults.json_attributes_topic = topics.faults
        faults.icon = "mdi:alert"
        entries.append(("sensor", "faults", faults))
        var latched = config("latched_faults", "Latched faults")
        latched.state_topic = topics.faults
        latched.value_template = "{{ value_json.latched }}"
        latched.icon = "mdi:lock-alert"
        entries.append(("sensor", "latched_faults", latched))
        var dropped = config("events_dropped", "Telemetry events dropped")
        dropped.state_topic = topics.eventsDropped
        dropped.entity_category = "diagnostic"
        dropped.state_class = "total_increasing"
        entries.append(("sensor", "events_dropped", dropped))
        if let can = status.can {
            for quantity in can.values.keys.sorted() {
                var value = config("can_\(quantity)", "CAN \(words(quantity))")
                value.state_topic = topics.can(quantity)
                value.state_class = "measurement"
                entries.append(("sensor", "can_\(quantity)", value))
            }
        }
        if forceOffButton {
            // The safe direction only: it opens every relay. Release and reset stay at the command line.
            var button = config("force_off", "Force off (open every relay)")
            button.command_topic = topics.forceOffCommand
            button.payload_press = forceOffPayload
            button.icon = "mdi:power-plug-off"
            entries.append(("button", "force_off", button))
        }
        var messages = entries.map { entry in
            OutgoingMessage(topic: "\(prefix)/\(entry.component)/\(node)/\(entry.object)/config",
                            payload: ControlCodec.encode(entry.config))
        }
        if !forceOffButton {
            // An empty retained config removes a button that an earlier configuration announced.
            messages.append(OutgoingMessage(topic: "\(prefix)/button/\(node)/force_off/config", payload: ""))
        }
        return messages
    }

    /// "chargeRelay" → "charge relay", for entity names.
    static func words(_ key: String) -> String {
        var text = ""
        for character in key {
            if character.isUppercase { text += " " + character.lowercased() } else { text.append(character) }
        }
        return text
    }
}
