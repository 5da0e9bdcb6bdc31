import Glibc
import PackGuardConfig
import PackGuardTelemetry
import Testing

@Suite struct TelemetryConfigurationTests {
    @Test func fullFileParses() throws {
        let text = """
            telemetry:
              socket: /run/packguard/control.sock
              nodeId: garage-1
              pollIntervalMs: 200
              eventQueue: 50
              mqtt:
                url: mqtts://broker.lan
                clientId: pg-garage
                username: packguard
                passwordFile: /etc/packguard/mqtt-password
                caFile: /etc/packguard/ca.pem
                keepaliveS: 20
              homeAssistant:
                discovery: true
                discoveryPrefix: ha
                forceOffButton: true
              prometheus:
                directory: /var/lib/prometheus/node-exporter
                intervalS: 10
              statusPage:
                listen: 192.168.1.20:8080
            """
        let configuration = try TelemetryConfigurationLoader.parse(text, file: "t.yaml")
        #expect(configuration.nodeID == "garage-1")
        #expect(configuration.pollIntervalMs == 200)
        #expect(configuration.eventQueue == 50)
        #expect(configuration.mqtt?.url == BrokerURL(host: "broker.lan", port: 8883, tls: true))
        #expect(configuration.mqtt?.caFile == "/etc/packguard/ca.pem")
        #expect(configuration.mqtt?.keepaliveS == 20)
        #expect(configuration.homeAssistant.forceOffButton)
        #expect(configuration.homeAssistant.discoveryPrefix == "ha")
        #expect(configuration.prometheus.directory == "/var/lib/prometheus/node-exporter")
        #expect(configuration.prometheus.intervalS == 10)
        #expect(configuration.statusPage == ListenAddress(host: "192.168.1.20", port: 8080))
    }

    @Test func defaultsAreSafe() throws {
        let configuration = try TelemetryConfigurationLoader.parse("telemetry: {}\n", file: "t.yaml")
        #expect(configuration.homeAssistant.forceOffButton == false)
        #expect(configuration.statusPage == nil)
        #expect(configuration.mqtt == nil)
        #expect(configuration.prometheus.directory == nil)
        #expect(configuration.socket == "/run/packguard/control.sock")
    }

    /// Every problem at once, each with its line and key.
    @Test func problemsAreLocated() {
        let text = """
            telemetry:
              nodeId: "my pack"
              pollIntervalMs: 10
              mqtt:
                url: http://broker
              homeAssistant:
                forceOffButon: true
              statusPage:
                listen: localhost
            """
        #expect(throws: ConfigurationError.self) { try TelemetryConfigurationLoader.parse(text, file: "t.yaml") }
        do {
            _ = try TelemetryConfigurationLoader.parse(text, file: "t.yaml")
        } catch {
            let lines = error.issues.map(\.description)
            #expect(lines.contains { $0.hasPrefix("t.yaml:2:") && $0.contains("telemetry.nodeId") })
            #expect(lines.contains { $0.hasPrefix("t.yaml:3:") && $0.contains("telemetry.pollIntervalMs: must be 50...5000, got 10") })
            #expect(lines.contains { $0.hasPrefix("t.yaml:5:") && $0.contains("telemetry.mqtt.url: must start with mqtt:// or mqtts://") })
            #expect(lines.contains { $0.hasPrefix("t.yaml:7:") && $0.contains("telemetry.homeAssistant.forceOffButon: unknown key") })
            #expect(lines.contains { $0.hasPrefix("t.yaml:9:") && $0.contains("telemetry.statusPage.listen") })
            #expect(error.issues.count == 5)
        }
    }

    @Test func missingTopLevelMapping() {
        #expect(throws: ConfigurationError.self) { try TelemetryConfigurationLoader.parse("mqtt: {url: mqtt://x}\n", file: "t.yaml") }
        #expect(throws: ConfigurationError.self) { try TelemetryConfigurationLoader.parse("", file: "t.yaml") }
        #expect(throws: ConfigurationError.self) { try TelemetryConfigurationLoader.parse("telemetry: [1, 2]\n", file: "t.yaml") }
    }

    @Test func caFileNeedsTLSAndPasswordNeedsUser() {
        let text = "telemetry:\n  mqtt:\n    url: mqtt://broker:1883\n    caFile: /ca.pem\n    passwordFile: /pw\n"
        do {
            _ = try TelemetryConfigurationLoader.parse(text, file: "t.yaml")
            Issue.record("accepted a CA file without TLS")
        } catch {
            #expect(error.issues.contains { $0.keyPath == "telemetry.mqtt.caFile" && $0.message.contains("mqtts://") })
            #expect(error.issues.contains { $0.keyPath == "telemetry.mqtt.passwordFile" && $0.message.contains("username") })
        }
    }

    @Test func brokerURLs() throws {
        #expect(try BrokerURL.parse("mqtt://127.0.0.1:1884").get() == BrokerURL(host: "127.0.0.1", port: 1884, tls: false))
        #expect(try BrokerURL.parse("mqtt://broker").get().port == 1883)
        #expect((try? BrokerURL.parse("mqtt://broker:0").get()) == nil)
        #expect((try? BrokerURL.parse("mqtt://user@broker").get()) == nil)
        #expect((try? BrokerURL.parse("mqtt://broker/path").get()) == nil)
        #expect((try? BrokerURL.parse("tcp://broker").get()) == nil)
    }

    @Test func overrideURLAndPasswordFile() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let password = directory + "/pw"
        let file = fopen(password, "w")
        fputs("s3cret\n", file)
        fclose(file)
        var configuration = try TelemetryConfigurationLoader.parse(
            "telemetry:\n  nodeId: pack\n  mqtt:\n    url: mqtt://broker\n    username: u\n    passwordFile: \(password)\n", file: "t.yaml")
        let overridden = try #require(try configuration.connectionSettings(overrideURL: BrokerURL(host: "127.0.0.1", port: 1999, tls: false)))
        #expect(overridden.host == "127.0.0.1" && overridden.port == 1999)
        #expect(overridden.password == "s3cret")
        #expect(overridden.willTopic == "packguard/pack/availability")
        #expect(overridden.clientID == "packguard-pack")
        configuration.mqtt?.passwordFile = directory + "/missing"
        #expect(throws: TelemetryIOError.self) { try configuration.connectionSettings(overrideURL: nil) }
        configuration.mqtt = nil
        #expect(try configuration.connectionSettings(overrideURL: nil) == nil)
    }
}

@Suite struct ShippedTelemetryConfigurationTests {
    /// hardware/pi/telemetry.yaml, as installed to /etc/packguard, is valid and keeps the button off.
    @Test func theExampleFileIsValid() throws {
        let path = String(#filePath.dropLast("Tests/PackGuardTelemetryTests/TelemetryConfigurationTests.swift".count)) + "hardware/pi/telemetry.yaml"
        let file = try #require(fopen(path, "r"), "cannot open \(path)")
        defer { fclose(file) }
        var text = ""
        var buffer = [CChar](repeating: 0, count: 1024)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            text += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let configuration = try TelemetryConfigurationLoader.parse(text, file: path)
        #expect(configuration.mqtt?.url == BrokerURL(host: "192.168.1.10", port: 1883, tls: false))
        #expect(configuration.homeAssistant.forceOffButton == false)
        #expect(configuration.statusPage == nil)
        #expect(configuration.socket == "/run/packguard/control.sock")
    }
}
