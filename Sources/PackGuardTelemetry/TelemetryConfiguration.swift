import Glibc
import PackGuardConfig
import Yams

/// `telemetry.yaml`: everything the telemetry process needs. It never reads packguard.yaml's
/// safety settings; it only needs the daemon's control socket.
public struct TelemetryConfiguration: Sendable, Equatable {
    public struct MQTT: Sendable, Equatable {
        /// mqtt://HOST[:PORT] (1883) or mqtts://HOST[:PORT] (8883, TLS).
        public var url: BrokerURL
        public var clientID: String?
        public var username: String?
        /// A file holding the password (one line); kept out of the YAML, which is world-readable.
        public var passwordFile: String?
        public var caFile: String?
        public var keepaliveS = 30

        public init(url: BrokerURL) { self.url = url }
    }

    public struct HomeAssistant: Sendable, Equatable {
        public var discovery = true
        public var discoveryPrefix = "homeassistant"
        /// A button that sends `force-off on` (the safe direction only). Off by default.
        public var forceOffButton = false
    }

    public struct Prometheus: Sendable, Equatable {
        /// node_exporter's --collector.textfile.directory; nil: no metrics file.
        public var directory: String?
        public var intervalS = 5
    }

    public var socket = "/run/packguard/control.sock"
    /// Names this pack in topics and Home Assistant ids: letters, digits, _ and -.
    public var nodeID = "packguard"
    public var pollIntervalMs = 250
    public var mqtt: MQTT?
    /// Events kept while the broker is away; the oldest beyond this are dropped and counted.
    public var eventQueue = 1000
    public var homeAssistant = HomeAssistant()
    public var prometheus = Prometheus()
    /// HOST:PORT for the read-only status page; nil (the default): no page.
    public var statusPage: ListenAddress?

    public init() {}

    public static let defaultPath = "/etc/packguard/telemetry.yaml"
}

public struct BrokerURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var tls: Bool

    public init(host: String, port: Int, tls: Bool) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    /// nil with a reason when `text` is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT].
    public static func parse(_ text: String) -> Result<BrokerURL, TelemetryConfigurationProblem> {
        let tls: Bool
        let rest: Substring
        if text.hasPrefix("mqtt://") { tls = false; rest = text.dropFirst(7) }
        else if text.hasPrefix("mqtts://") { tls = true; rest = text.dropFirst(8) }
        else { return .failure(.init("must start with mqtt:// or mqtts://, got \"\(text)\"")) }
        let authority = rest.hasSuffix("/") ? rest.dropLast() : rest
        guard !authority.isEmpty, !authority.contains("/"), !authority.contains("@") else {
            return .failure(.init("must be mqtt://HOST[:PORT] (no path, no user@: use mqtt.username), got \"\(text)\""))
        }
        switch HostPort.split(String(authority)) {
        case .failure(let problem): return .failure(problem)
        case .success(let (host, port)): return .success(BrokerURL(host: host, port: port ?? (tls ? 8883 : 1883), tls: tls))
        }
    }

    public var description: String { "\(tls ? "mqtts" : "mqtt")://\(host):\(port)" }
}

public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// An IPv4 address (0.0.0.0 for every interface).
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public static func parse(_ text: String) -> Result<ListenAddress, TelemetryConfigurationProblem> {
        switch HostPort.split(text) {
        case .failure(let problem): return .failure(problem)
        case .success(let (host, port)):
            guard let port else { return .failure(.init("needs a port: HOST:PORT, e.g. 192.168.1.20:8080")) }
            let parts = host.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else {
                return .failure(.init("must be an IPv4 address and port, e.g. 192.168.1.20:8080 or 0.0.0.0:8080, got \"\(text)\""))
            }
            return .success(ListenAddress(host: host, port: port))
        }
    }

    public var description: String { "\(host):\(port)" }
}

public struct TelemetryConfigurationProblem: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

enum HostPort {
    static func split(_ text: String) -> Result<(String, Int?), TelemetryConfigurationProblem> {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let host = parts.first, !host.isEmpty else {
            return .failure(.init("must be HOST or HOST:PORT, got \"\(text)\""))
        }
        guard parts.count == 2 else { return .success((String(host), nil)) }
        guard let port = Int(parts[1]), (1...65535).contains(port) else {
            return .failure(.init("port must be 1...65535, got \"\(parts[1])\""))
        }
        return .success((String(host), port))
    }
}

/// Strict, located validation like the daemon's loader: unknown keys, wrong types and values out of
/// range are all reported with file:line and key path; nothing is silently defaulted away.
public enum TelemetryConfigurationLoader {
    /// Keys the file leaves out keep their value in `defaults` (`--simulate` starts from its own).
    public static func parse(_ text: String, file: String,
                             defaults: TelemetryConfiguration = TelemetryConfiguration()) throws(ConfigurationError) -> TelemetryConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(issues: [ConfigurationIssue(
                file: file, line: nil, column: nil, keyPath: "", message: "not valid YAML: \(error)")])
        }
        guard let root else {
            throw ConfigurationError(issues: [ConfigurationIssue(
                file: file, line: nil, column: nil, keyPath: "", message: "the file is empty")])
        }
        var reader = Reader(file: file)
        let configuration = reader.document(root, defaults: defaults)
        guard reader.issues.isEmpty else { throw ConfigurationError(issues: reader.issues) }
        return configuration
    }

    struct Reader {
        let file: String
        var issues: [ConfigurationIssue] = []

        mutating func issue(_ node: Node?, _ path: String, _ message: String) {
            issues.append(ConfigurationIssue(file: file, line: node.map { $0.mark.map { $0.line } } ?? nil,
                                             column: node.map { $0.mark.map { $0.column } } ?? nil,
                                             keyPath: path, message: message))
        }

        /// The mapping's entries by key, reporting keys not in `known`.
        mutating func mapping(_ node: Node, _ path: String, known: [String]) -> [String: Node]? {
            guard let map = node.mapping else {
                issue(node, path, "must be a mapping")
                return nil
            }
            var entries: [String: Node] = [:]
            for (key, value) in map {
                guard let name = key.string else { issue(key, path, "keys must be strings"); continue }
                let keyPath = path.isEmpty ? name : "\(path).\(name)"
                guard known.contains(name) else {
                    issue(key, keyPath, "unknown key (known here: \(known.joined(separator: ", ")))")
                    continue
                }
                entries[name] = value
            }
            return entries
        }

        mutating func string(_ node: Node?, _ path: String) -> String? {
            guard let node else { return nil }
            guard let scalar = node.scalar, !scalar.string.isEmpty else {
                issue(node, path, "must be a non-empty string")
                return nil
            }
            return scalar.string
        }

        mutating func integer(_ node: Node?, _ path: String, range: ClosedRange<Int>) -> Int? {
            guard let node else { return nil }
            guard let text = node.scalar?.string, let value = Int(text) else {
                issue(node, path, "must be an integer")
                return nil
            }
            guard range.contains(value) else {
                issue(node, path, "must be \(range.lowerBound)...\(range.upperBound), got \(value)")
                return nil
            }
            return value
        }

        mutating func bool(_ node: Node?, _ path: String) -> Bool? {
            guard let node else { return nil }
            switch node.scalar?.string {
            case "true": return true
            case "false": return false
            default:
                issue(node, path, "must be true or false")
                return nil
            }
        }

        mutating func absolutePath(_ node: Node?, _ path: String) -> String? {
            guard let value = string(node, path) else { return nil }
            guard value.hasPrefix("/") else {
                issue(node, path, "must be an absolute path, got \"\(value)\"")
                return nil
            }
            return value
        }

        mutating func document(_ root: Node, defaults: TelemetryConfiguration) -> TelemetryConfiguration {
            var configuration = defaults
            guard let top = mapping(root, "", known: ["telemetry"]) else { return configuration }
            guard let telemetryNode = top["telemetry"] else {
                issue(root, "telemetry", "missing: the file must have a top-level telemetry: mapping")
                return configuration
            }
            guard let entries = mapping(telemetryNode, "telemetry", known: [
                "socket", "nodeId", "pollIntervalMs", "mqtt", "eventQueue", "homeAssistant", "prometheus", "statusPage",
            ]) else { return configuration }
            if let value = absolutePath(entries["socket"], "telemetry.socket") { configuration.socket = value }
            if let value = string(entries["nodeId"], "telemetry.nodeId") {
                if TopicNames.isValidNodeID(value) { configuration.nodeID = value }
                else { issue(entries["nodeId"], "telemetry.nodeId", "must be 1 to 64 letters, digits, _ or -, got \"\(value)\"") }
            }
            if let value = integer(entries["pollIntervalMs"], "telemetry.pollIntervalMs", range: 50...5000) {
                configuration.pollIntervalMs = value
            }
            if let value = integer(entries["eventQueue"], "telemetry.eventQueue", range: 1...1_000_000) {
                configuration.eventQueue = value
            }
            if let node = entries["mqtt"] { configuration.mqtt = mqtt(node) }
            if let node = entries["homeAssistant"],
               let ha = mapping(node, "telemetry.homeAssistant", known: ["discovery", "discoveryPrefix", "forceOffButton"]) {
                if let value = bool(ha["discovery"], "telemetry.homeAssistant.discovery") { configuration.homeAssistant.discovery = value }
                if let value = string(ha["discoveryPrefix"], "telemetry.homeAssistant.discoveryPrefix") {
                    if TopicNames.isValidTopicLevel(value) { configuration.homeAssistant.discoveryPrefix = value }
                    else { issue(ha["discoveryPrefix"], "telemetry.homeAssistant.discoveryPrefix", "must be one topic level without +, # or /") }
                }
                if let value = bool(ha["forceOffButton"], "telemetry.homeAssistant.forceOffButton") {
                    configuration.homeAssistant.forceOffButton = value
                }
            }
            if let node = entries["prometheus"],
               let prometheus = mapping(node, "telemetry.prometheus", known: ["directory", "intervalS"]) {
                configuration.prometheus.directory = absolutePath(prometheus["directory"], "telemetry.prometheus.directory")
                if let value = integer(prometheus["intervalS"], "telemetry.prometheus.intervalS", range: 1...3600) {
                    configuration.prometheus.intervalS = value
                }
            }
            if let node = entries["statusPage"],
               let page = mapping(node, "telemetry.statusPage", known: ["listen"]),
               let text = string(page["listen"], "telemetry.statusPage.listen") {
                switch ListenAddress.parse(text) {
                case .success(let address): configuration.statusPage = address
                case .failure(let problem): issue(page["listen"], "telemetry.statusPage.listen", problem.message)
                }
            }
            return configuration
        }

        mutating func mqtt(_ node: Node) -> TelemetryConfiguration.MQTT? {
            guard let entries = mapping(node, "telemetry.mqtt", known: [
                "url", "clientId", "username", "passwordFile", "caFile", "keepaliveS",
            ]) else { return nil }
            guard let urlNode = entries["url"] else {
                issue(node, "telemetry.mqtt.url", "missing: e.g. url: mqtt://192.168.1.10:1883")
                return nil
            }
            guard let text = string(urlNode, "telemetry.mqtt.url") else { return nil }
            let url: BrokerURL
            switch BrokerURL.parse(text) {
            case .success(let parsed): url = parsed
            case .failure(let problem):
                issue(urlNode, "telemetry.mqtt.url", problem.message)
                return nil
            }
            var mqtt = TelemetryConfiguration.MQTT(url: url)
            mqtt.clientID = string(entries["clientId"], "telemetry.mqtt.clientId")
            if let id = mqtt.clientID, id.utf8.count > 23 {
                // MQTT 3.1.1 only promises ids up to 23 bytes.
                issue(entries["clientId"], "telemetry.mqtt.clientId", "must be at most 23 bytes (MQTT 3.1.1), got \(id.utf8.count)")
            }
            mqtt.username = string(entries["username"], "telemetry.mqtt.username")
            mqtt.passwordFile = absolutePath(entries["passwordFile"], "telemetry.mqtt.passwordFile")
            mqtt.caFile = absolutePath(entries["caFile"], "telemetry.mqtt.caFile")
            if mqtt.passwordFile != nil, mqtt.username == nil {
                issue(entries["passwordFile"], "telemetry.mqtt.passwordFile", "needs telemetry.mqtt.username")
            }
            if mqtt.caFile != nil, !url.tls {
                issue(entries["caFile"], "telemetry.mqtt.caFile", "needs an mqtts:// url (TLS)")
            }
            if let value = integer(entries["keepaliveS"], "telemetry.mqtt.keepaliveS", range: 5...3600) { mqtt.keepaliveS = value }
            return mqtt
        }
    }
}

extension TelemetryConfiguration {
    /// The broker settings: `mqtt` of the file, with `overrideURL` (--mqtt-url) replacing its url
    /// (or standing alone). nil: no MQTT. Reads the password file, so errors name it.
    public func connectionSettings(overrideURL: BrokerURL?) throws(TelemetryIOError) -> MQTTConnectionSettings? {
        guard let url = overrideURL ?? mqtt?.url else { return nil }
        var password: String?
        if let file = mqtt?.passwordFile {
            let text = try readSmallFile(file)
            password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
            if password?.isEmpty ?? true { throw .other("\(file): the first line (the MQTT password) is empty") }
        }
        let clientID = mqtt?.clientID ?? String("packguard-\(nodeID)".prefix(23))
        return MQTTConnectionSettings(
            host: url.host, port: url.port, tls: url.tls, caFile: mqtt?.caFile, username: mqtt?.username,
            password: password, clientID: clientID, keepaliveS: mqtt?.keepaliveS ?? 30,
            willTopic: TopicNames(nodeID: nodeID).availability)
    }
}

/// A small file (a password), at most 4 KB.
func readSmallFile(_ path: String) throws(TelemetryIOError) -> String {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw .system("open", path: path, errno: errno) }
    defer { _ = close(descriptor) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
    guard count >= 0 else { throw .system("read", path: path, errno: errno) }
    return String(decoding: buffer[0..<count], as: UTF8.self)
}
