import Glibc
import PackGuardTelemetry
import Testing

/// TLS with a CA file, and username/password, against mosquitto configured to require both.
@Suite(.serialized) struct SecureBrokerTests {
    /// A throwaway CA and a server certificate for localhost / 127.0.0.1, made with openssl.
    func makeCertificates(in directory: String) throws {
        let script = """
            set -e
            cd \(directory)
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=packguard-test-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile san.ext 2>/dev/null
            chmod 0644 server.key
            mosquitto_passwd -b -c passwd telemetry right-password
            chmod 0644 passwd
            """
        #expect(runProcess(["/bin/sh", "-c", script]) == 0, "openssl or mosquitto_passwd failed")
    }

    func broker(_ directory: String) throws -> Broker {
        try makeCertificates(in: directory)
        return try Broker(directory: directory, listenerOptions: """
            cafile \(directory)/ca.crt
            certfile \(directory)/server.crt
            keyfile \(directory)/server.key
            allow_anonymous false
            password_file \(directory)/passwd

            """)
    }

    func settings(_ broker: Broker, _ directory: String, password: String, id: String, caFile: String? = nil) -> MQTTConnectionSettings {
        MQTTConnectionSettings(host: "localhost", port: broker.port, tls: true, caFile: caFile ?? directory + "/ca.crt",
                               username: "telemetry", password: password, clientID: id, willTopic: "packguard/secure/availability")
    }

    @Test func tlsAndPasswordConnectAndPublish() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try broker(directory)
        defer { broker.stop() }
        let listener = try MosquittoClient(settings: settings(broker, directory, password: "right-password", id: "secure-sub"), messageLimit: 100)
        try listener.start()
        #expect(waitUntil(seconds: 10) { listener.state.connected }, "\(listener.state.lastError ?? "")")
        #expect(listener.subscribe(topic: "packguard/secure/#") == nil)
        sleepMs(200)
        let publisher = try MosquittoClient(settings: settings(broker, directory, password: "right-password", id: "secure-pub"))
        try publisher.start()
        #expect(waitUntil(seconds: 10) { publisher.state.connected }, "\(publisher.state.lastError ?? "")")
        #expect(publisher.publish(topic: "packguard/secure/state", payload: "running", qos: 1, retain: true) != .notConnected)
        var received: [MQTTMessage] = []
        #expect(waitUntil(seconds: 5) { received += listener.takeMessages(); return received.contains { $0.payload == "running" } })
    }

    @Test func wrongPasswordIsRefusedAndSaysSo() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try broker(directory)
        defer { broker.stop() }
        let client = try MosquittoClient(settings: settings(broker, directory, password: "wrong", id: "secure-bad"))
        try client.start()
        #expect(waitUntil(seconds: 10) { client.state.lastError?.contains("refused") == true }, "\(client.state.lastError ?? "no error")")
        #expect(!client.state.connected)
        #expect(client.publish(topic: "x", payload: "y", qos: 1, retain: false) == .notConnected)
    }

    /// A CA that did not sign the broker's certificate: no connection.
    @Test func unknownCAIsNotTrusted() throws {
        let directory = temporaryDirectory()
        defer { removeTree(directory) }
        let broker = try broker(directory)
        defer { broker.stop() }
        #expect(runProcess(["/bin/sh", "-c", "cd \(directory) && openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 1 -subj /CN=other 2>/dev/null"]) == 0)
        let client = try MosquittoClient(settings: settings(broker, directory, password: "right-password", id: "secure-ca", caFile: directory + "/other.crt"))
        try client.start()
        sleepMs(2000)
        #expect(!client.state.connected)
        #expect(client.state.connections == 0)
    }
}
