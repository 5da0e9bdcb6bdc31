import Glibc
import PackGuardDaemon

/// node_exporter's textfile-collector format for one status report.
public enum PrometheusText {
    /// Counters the telemetry process keeps itself.
    public struct TelemetryCounters: Sendable, Equatable {
        public var daemonReachable: Bool
        public var mqttConnected: Bool
        public var eventsDropped: Int
        public var eventsPublished: Int

        public init(daemonReachable: Bool, mqttConnected: Bool, eventsDropped: Int, eventsPublished: Int) {
            self.daemonReachable = daemonReachable
            self.mqttConnected = mqttConnected
            self.eventsDropped = eventsDropped
            self.eventsPublished = eventsPublished
        }
    }

    public static func render(_ status: StatusReport?, counters: TelemetryCounters) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            guard !samples.isEmpty else { return }
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { out += "\(name)\(sample.labels) \(sample.value)\n" }
        }
        func flag(_ on: Bool) -> String { on ? "1" : "0" }
        metric("packguard_telemetry_daemon_reachable", "gauge", "1 when the control socket answered the last poll.",
               [("", flag(counters.daemonReachable))])
        metric("packguard_telemetry_mqtt_connected", "gauge", "1 while connected to the MQTT broker.",
               [("", flag(counters.mqttConnected))])
        metric("packguard_telemetry_events_dropped_total", "counter",
               "Controller events not published: queue overflow while the broker was away, or missed by the follower.",
               [("", "\(counters.eventsDropped)")])
        metric("packguard_telemetry_events_published_total", "counter", "Controller events handed to the broker.",
               [("", "\(counters.eventsPublished)")])
        guard let status else { return out }
        metric("packguard_uptime_seconds", "gauge", "Seconds since the controller started.", [("", "\(status.uptimeS)")])
        metric("packguard_state", "gauge", "The controller's state (1 for the current one).",
               [("{state=\"\(escape(status.state))\"}", "1")])
        metric("packguard_relay_closed", "gauge", "1 when the relay is energised (contactor closed).",
               status.outputs.sorted(by: { $0.key < $1.key }).filter { isRelay($0.key) }.map {
                   ("{relay=\"\(escape($0.key))\",line=\"\(escape($0.value.line))\"}", flag($0.value.logical == "active"))
               })
        metric("packguard_input_active", "gauge", "1 when the BMS input is asserted; absent when unread.",
               status.inputs.sorted(by: { $0.key < $1.key }).compactMap { key, input in
                   input.logical == "unread" ? nil : ("{input=\"\(escape(key))\",line=\"\(escape(input.line))\"}", flag(input.logical == "active"))
               })
        metric("packguard_input_level", "gauge", "Physical level at the input pin (1 high, 0 low).",
               status.inputs.sorted(by: { $0.key < $1.key }).compactMap { key, input in
                   input.raw.map { ("{input=\"\(escape(key))\"}", "\($0)") }
               })
        metric("packguard_faults_active", "gauge", "Active faults.", [("", "\(status.faults.count)")])
        metric("packguard_fault_active", "gauge", "1 for each active fault.",
               status.faults.map { ("{code=\"\(escape($0.code))\",latched=\"\($0.latched)\"}", "1") })
        metric("packguard_force_off", "gauge", "1 while force-off holds every relay open.", [("", flag(status.forceOff))])
        metric("packguard_balancing", "gauge", "1 while balancing.", [("", flag(status.balancing.active))])
        metric("packguard_steps_total", "counter", "Control steps since start.", [("", "\(status.steps)")])
        metric("packguard_deadline_misses_total", "counter",
               "Steps that missed the loop deadline (the internal watchdog forced every relay off).",
               [("", "\(status.watchdogs.internalTrips)")])
        if let systemd = status.watchdogs.systemdPets, let hardware = status.watchdogs.hardwarePets {
            metric("packguard_watchdog_pets_total", "counter", "Watchdog pets that went through since the controller started.",
                   [("{watchdog=\"systemd\"}", "\(systemd)"), ("{watchdog=\"hardware\"}", "\(hardware)")])
        }
        metric("packguard_watchdog_info", "gauge", "The watchdogs as the controller describes them.",
               [("{systemd=\"\(escape(status.watchdogs.systemd))\",hardware=\"\(escape(status.watchdogs.hardware))\",deadline_ms=\"\(status.watchdogs.loopDeadlineMs)\"}", "1")])
        for (name, help, analog) in [
            ("packguard_soc_percent", "State of charge (ADC).", status.soc),
            ("packguard_charge_current_limit_amperes", "Charge current limit (ADC).", status.chargeCurrentLimit),
            ("packguard_discharge_current_limit_amperes", "Discharge current limit (ADC).", status.dischargeCurrentLimit),
        ] {
            guard let analog, analog.valid, let value = analog.value else { continue }
            metric(name, "gauge", help, [("", "\(value)")])
        }
        if let can = status.can {
            metric("packguard_can_value", "gauge", "Values the BMS reports over CAN, by quantity.",
                   can.values.sorted(by: { $0.key < $1.key }).map { ("{quantity=\"\(escape($0.key))\"}", "\($0.value)") })
        }
        for (name, help, report) in [
            ("packguard_step_latency_seconds", "How late control steps finished (from due to done).", status.stepLatency),
            ("packguard_off_reaction_seconds", "From the kernel's timestamp of a release edge to the end of the write that opened its relay.", status.offReaction),
        ] {
            guard let report, report.count > 0 else { continue }
            out += "# HELP \(name) \(help)\n"
            out += "# TYPE \(name) histogram\n"
            var cumulative: Int64 = 0
            var sum: Double = 0
            for bucket in report.buckets where bucket.count == 2 {
                cumulative += bucket[1]
                let upper = upperBoundMicros(ofBucketStartingAt: bucket[0])
                // Each one counted at its bucket's middle: the exact sum is not in the report.
                sum += Double(bucket[1]) * Double(bucket[0] + upper) / 2 / 1e6
                out += "\(name)_bucket{le=\"\(Double(upper) / 1e6)\"} \(cumulative)\n"
            }
            out += "\(name)_bucket{le=\"+Inf\"} \(report.count)\n"
            out += "\(name)_sum \(sum)\n"
            out += "\(name)_count \(report.count)\n"
        }
        return out
    }

    /// The daemon's histogram: 1 µs buckets below 16 µs, then 16 buckets per power of two.
    static func upperBoundMicros(ofBucketStartingAt lower: Int64) -> Int64 {
        if lower < 16 { return lower + 1 }
        let exponent = 63 - lower.leadingZeroBitCount
        return lower + (Int64(1) << (exponent - 4))
    }

    static func escape(_ value: String) -> String {
        var text = ""
        for character in value {
            switch character {
            case "\\": text += "\\\\"
            case "\"": text += "\\\""
            case "\n": text += "\\n"
            default: text.append(character)
            }
        }
        return text
    }

    /// Writes `text` to `directory/packguard.prom` atomically (a temporary file, then rename(2)),
    /// so node_exporter never reads half a file.
    public static func write(_ text: String, directory: String) throws(TelemetryIOError) {
        let final = directory + "/packguard.prom"
        let temporary = directory + "/.packguard.prom.\(getpid()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .system("open", path: temporary, errno: errno) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                let code = errno
                if code == EINTR { continue }
                _ = close(descriptor)
                _ = unlink(temporary)
                throw .system("write", path: temporary, errno: code)
            }
            offset += written
        }
        guard close(descriptor) == 0 else {
            let code = errno
            _ = unlink(temporary)
            throw .system("close", path: temporary, errno: code)
        }
        guard rename(temporary, final) == 0 else {
            let code = errno
            _ = unlink(temporary)
            throw .system("rename to \(final)", path: temporary, errno: code)
        }
    }
}

public enum TelemetryIOError: Error, Sendable, Equatable, CustomStringConvertible {
    case system(String, path: String, errno: Int32)
    case other(String)

    public var description: String {
        switch self {
        case .system(let operation, let path, let code): "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
        case .other(let text): text
        }
    }
}
