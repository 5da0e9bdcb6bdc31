import PackGuardDaemon

/// What the status page shows: the last status, the last events, and whether the daemon answered.
public struct TelemetrySnapshot: Sendable, Equatable {
    public var status: StatusReport?
    /// Why the last poll failed, when it did.
    public var daemonError: String?
    /// The latest events, oldest first (the follower keeps the last few).
    public var recentEvents: [LoggedEvent]
    public var mqtt: String
    public var eventsDropped: Int

    public init(status: StatusReport? = nil, daemonError: String? = nil, recentEvents: [LoggedEvent] = [],
                mqtt: String = "not configured", eventsDropped: Int = 0) {
        self.status = status
        self.daemonError = daemonError
        self.recentEvents = recentEvents
        self.mqtt = mqtt
        self.eventsDropped = eventsDropped
    }
}

/// "Why is it off", in plain words, from what the controller reports.
public enum OffExplanation {
    /// The BMS input each relay waits for.
    static let enablingInput = ["chargeRelay": ("chargeEnable", "charging", "Charge Enable"),
                                "dischargeRelay": ("dischargeEnable", "discharging", "Discharge Enable")]

    public static func lines(for snapshot: TelemetrySnapshot) -> [String] {
        guard let status = snapshot.status else {
            return ["The status page cannot reach the PackGuard controller"
                + (snapshot.daemonError.map { " (\($0))" } ?? "")
                + ", so what the relays do now is unknown. The controller works on without this page."]
        }
        let relays = status.outputs.keys.filter(isRelay).sorted { order($0) < order($1) }
        let open = relays.filter { status.outputs[$0]?.logical != "active" }
        let main = ["chargeRelay", "dischargeRelay"].filter { status.outputs[$0] != nil }
        if !main.isEmpty, main.allSatisfy({ !open.contains($0) }) {
            return ["Charge and discharge relays are closed: the BMS allows both and nothing is wrong."]
        }
        var lines: [String] = []
        if status.forceOff {
            lines.append("Force-off is on: an operator ran \"packguard force-off on\". Every relay stays open until "
                + "someone with admin rights runs \"packguard force-off off\".")
        }
        for fault in status.faults {
            lines.append("Fault: \(fault.description)."
                + (fault.latched ? " It is latched: it clears only with \"packguard reset\" once the cause is gone." : ""))
        }
        switch status.state {
        case "running", "forcedOff", "faulted": break
        case "starting":
            lines.append("The controller is starting: relays close only after the startup hold, once every input has been read.")
        default:
            lines.append("The controller is in state \"\(status.state)\".")
        }
        for relay in open where main.contains(relay) {
            let name = relay == "chargeRelay" ? "The charge relay" : "The discharge relay"
            var because: [String] = []
            if let (input, activity, label) = enablingInput[relay], let level = status.inputs[input] {
                if level.logical == "inactive" { because.append("the BMS does not allow \(activity) (its \(label) output is off)") }
                if level.logical == "unread" { because.append("its \(label) input cannot be read\(level.error.map { ": \($0)" } ?? "")") }
            }
            var text = "\(name) is open"
            if !because.isEmpty { text += ": " + because.joined(separator: "; ") }
            if let last = lastOff(relay, in: snapshot) { text += ". Last change: \(last)" }
            lines.append(text + ".")
        }
        if lines.isEmpty { lines.append("The relays are open; the controller gives no further reason.") }
        return lines
    }

    /// The reason of the latest event that opened `relay`, from the follower's events or the status.
    static func lastOff(_ relay: String, in snapshot: TelemetrySnapshot) -> String? {
        let events = snapshot.recentEvents.isEmpty ? (snapshot.status?.events ?? []) : snapshot.recentEvents
        return events.last { $0.kind.hasPrefix(relay + ".") && $0.kind.hasSuffix("off") }?.reason
    }

    static func order(_ key: String) -> Int {
        switch key {
        case "chargeRelay": 0
        case "dischargeRelay": 1
        default: 2
        }
    }
}

/// The page: plain HTML, inline CSS, a meta refresh. No script, no framework, no control actions.
public enum StatusPage {
    public static let refreshSeconds = 3

    public static func html(_ snapshot: TelemetrySnapshot, nodeID: String) -> String {
        var body = ""
        let status = snapshot.status
        let closed = status.map { s in ["chargeRelay", "dischargeRelay"].allSatisfy { s.outputs[$0]?.logical == "active" } } ?? false
        let headline = status.map { "\($0.state): \(relaySummary($0))" } ?? "controller unreachable"
        body += "<header class=\"\(closed ? "ok" : "off")\"><h1>PackGuard \(escape(nodeID))</h1><p id=\"headline\">\(escape(headline))</p></header>\n"
        body += "<section id=\"why\"><h2>\(closed ? "All good" : "Why is it off?")</h2>"
        for line in OffExplanation.lines(for: snapshot) { body += "<p>\(escape(line))</p>" }
        body += "</section>\n"
        if let status {
            body += "<section><h2>Relays</h2><table>"
            for (key, output) in status.outputs.sorted(by: { OffExplanation.order($0.key) < OffExplanation.order($1.key) || OffExplanation.order($0.key) == OffExplanation.order($1.key) && $0.key < $1.key }) where isRelay(key) {
                let on = output.logical == "active"
                body += "<tr><td>\(escape(HomeAssistantDiscovery.words(key)))</td><td class=\"\(on ? "on" : "no")\">\(on ? "closed" : "open")</td></tr>"
            }
            body += "</table></section>\n<section><h2>BMS inputs</h2><table>"
            for (key, input) in status.inputs.sorted(by: { $0.key < $1.key }) {
                let text = input.logical == "active" ? "on" : input.logical == "inactive" ? "off" : "unread"
                // An input that is off is information, not an alarm; one that cannot be read is.
                body += "<tr><td>\(escape(HomeAssistantDiscovery.words(key)))</td><td class=\"\(text == "on" ? "on" : text == "off" ? "" : "no")\">\(text)</td></tr>"
            }
            body += "</table></section>\n<section><h2>Faults</h2>"
            if status.faults.isEmpty { body += "<p>none</p>" }
            for fault in status.faults {
                body += "<p class=\"fault\">\(escape(fault.description))\(fault.latched ? " (latched)" : "")</p>"
            }
            body += "</section>\n<section><h2>Pack</h2><table>"
            for (name, analog) in [("State of charge", status.soc), ("Charge current limit", status.chargeCurrentLimit),
                                   ("Discharge current limit", status.dischargeCurrentLimit)] {
                guard let analog else { continue }
                let value = analog.valid ? analog.value.map { "\(StateMessages.decimal($0)) \(analog.unit)" } ?? "?" : "invalid (\(analog.reason ?? "?"))"
                body += "<tr><td>\(name)</td><td>\(escape(value))</td></tr>"
            }
            if let can = status.can {
                for (quantity, value) in can.values.sorted(by: { $0.key < $1.key }) {
                    body += "<tr><td>CAN \(escape(quantity))</td><td>\(StateMessages.decimal(value))</td></tr>"
                }
            }
            body += "</table></section>\n"
        }
        let events = snapshot.recentEvents.isEmpty ? (status?.events ?? []) : snapshot.recentEvents
        body += "<section><h2>Last events</h2><ol reversed>"
        for event in events.suffix(12).reversed() {
            body += "<li><span class=\"t\">\(uptime(event.uptimeMs))</span> \(escape(event.reason))</li>"
        }
        body += "</ol></section>\n"
        body += "<footer>Read-only. MQTT: \(escape(snapshot.mqtt)); events dropped: \(snapshot.eventsDropped). Refreshes every \(refreshSeconds) s.</footer>\n"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <title>PackGuard \(escape(nodeID))</title>
            <style>
            body{font:16px/1.4 system-ui,sans-serif;margin:0;background:#f4f4f4;color:#111}
            header{padding:12px 16px;color:#fff}header.ok{background:#2e7d32}header.off{background:#c62828}
            h1{font-size:20px;margin:0}#headline{margin:4px 0 0;font-size:18px}
            section{background:#fff;margin:10px;padding:8px 12px;border-radius:6px}
            h2{font-size:16px;margin:4px 0}table{width:100%;border-collapse:collapse}
            td{padding:4px 0;border-bottom:1px solid #eee}td+td{text-align:right;font-weight:600}
            .on{color:#2e7d32}.no{color:#c62828}.fault{color:#c62828}
            ol{padding-left:20px;margin:0}li{margin:2px 0;font-size:14px}.t{color:#666}
            footer{font-size:12px;color:#555;padding:0 12px 12px}
            </style></head><body>
            \(body)</body></html>

            """
    }

    static func relaySummary(_ status: StatusReport) -> String {
        ["chargeRelay", "dischargeRelay"].compactMap { key in
            status.outputs[key].map { "\(key == "chargeRelay" ? "charge" : "discharge") \($0.logical == "active" ? "closed" : "open")" }
        }.joined(separator: ", ")
    }

    static func uptime(_ milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        return "\(seconds / 3600)h\(seconds / 60 % 60 < 10 ? "0" : "")\(seconds / 60 % 60)m\(seconds % 60 < 10 ? "0" : "")\(seconds % 60)s"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
