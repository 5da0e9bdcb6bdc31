import Glibc
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import Synchronization
import Testing
@testable import PackGuardDaemon

func temporaryDirectory() -> String {
    var template = Array("/tmp/packguard-test-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { preconditionFailure("mkdtemp: errno \(errno)") }
    return String(cString: made)
}

func writeFile(_ path: String, _ text: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0)
    let bytes = Array(text.utf8)
    precondition(write(fd, bytes, bytes.count) == bytes.count)
    close(fd)
}

@Suite("Daemon: control socket", .serialized)
struct DaemonTests {
    @Test func statusResetAndForceOffOverTheControlSocket() throws {
        let directory = temporaryDirectory()
        let socketPath = directory + "/control.sock"
        let gpio = SimulatedGPIO.raspberryPi()
        gpio.drive("GPIO17", .low)
        var configuration = BuiltInConfiguration.load()
        configuration.policy.timing.startupHoldMs = 50
        configuration.policy.timing.qualifyMs = 20
        let lines = try SignalLines(configuration: configuration, backend: gpio)
        let controller = Controller(configuration: configuration, lines: lines, backendDescription: "simulated",
                                    clock: SystemClock(), logger: quietLogger,
                                    forceOffStore: ForceOffStore(directory: directory + "/state"))
        let loop = try ControlLoop(controller: controller, logger: quietLogger)
        loop.add(try ControlSocketEndpoint(path: socketPath, group: nil,
                                           access: ControlAccess(operatorGroup: nil, adminGroup: "packguard-admin"),
                                           logger: quietLogger))
        let thread = startThread { _ = try? loop.run() }
        defer {
            loop.requestStop(reason: "test over")
            if let thread { pthread_join(thread, nil) }
        }
        for _ in 0..<200 where !gpio.physicalLevel("GPIO16") { sleepMilliseconds(10) }

        let statusLine = try ControlSocketClient.request(path: socketPath, line: #"{"command":"status"}"#)
        let status = try #require(try ControlCodec.decode(ControlReply.self, from: statusLine).status)
        #expect(status.state == "running")
        #expect(status.outputs["chargeRelay"]?.logical == "active")
        #expect(status.inputs["chargeEnable"]?.raw == 0)
        #expect(status.events.contains { $0.reason.contains("charge relay closed") })

        let forced = try ControlCodec.decode(ControlReply.self, from: try ControlSocketClient.request(
            path: socketPath, line: #"{"command":"forceOff","on":true}"#))
        #expect(forced.ok)
        #expect(forced.message == "operator force-off: every relay held open")
        #expect(!gpio.physicalLevel("GPIO16"), "applied before the reply")
        #expect(access(directory + "/state/force-off", F_OK) == 0, "persisted")

        let reset = try ControlCodec.decode(ControlReply.self, from: try ControlSocketClient.request(
            path: socketPath, line: #"{"command":"reset"}"#))
        #expect(reset.ok && reset.message == "reset: cleared no latched faults")

        let bad = try ControlCodec.decode(ControlReply.self, from: try ControlSocketClient.request(
            path: socketPath, line: #"{"command":"explode"}"#))
        #expect(!bad.ok && bad.error?.hasPrefix("bad request") == true)
    }
}

extension String {
    func replacingOccurrences(_ target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
