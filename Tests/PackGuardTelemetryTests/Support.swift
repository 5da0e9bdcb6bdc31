import Glibc
import PackGuardDaemon
import PackGuardTelemetry
import Synchronization
import Testing

/// A real status report of `packguard run --simulate` (both relays closed), trimmed.
let runningStatusJSON = #"""
{"backend": "simulated GPIO chip", "balancing": {"active": false}, "chargeCurrentLimit": {"unit": "A", "valid": true, "value": 50.001875}, "configuration": "<built-in default: hardware/pi/packguard.yaml>", "dischargeCurrentLimit": {"unit": "A", "valid": true, "value": 50.001875}, "events": [{"kind": "chargeRelay.on", "reason": "charge relay closed: Charge Enable (BMS pin 1) asserted for 500 ms", "sequence": 2, "uptimeMs": 3508}, {"kind": "dischargeRelay.on", "reason": "discharge relay closed: Discharge Enable (BMS pin 3) asserted for 500 ms", "sequence": 3, "uptimeMs": 3508}], "faults": [], "forceOff": false, "inputs": {"balanceSwitch": {"line": "GPIO23", "logical": "inactive", "raw": 1}, "chargeEnable": {"line": "GPIO17", "logical": "active", "raw": 0}, "chargerSafety": {"line": "GPIO22", "logical": "inactive", "raw": 1}, "dischargeEnable": {"line": "GPIO27", "logical": "active", "raw": 0}}, "outputs": {"balancePowerRelay": {"line": "GPIO21", "logical": "inactive", "raw": 0}, "chargeRelay": {"line": "GPIO16", "logical": "active", "raw": 1}, "dischargeRelay": {"line": "GPIO20", "logical": "active", "raw": 1}, "heartbeat": {"line": "GPIO12", "logical": "inactive", "raw": 0}, "shoreChargerRelay": {"line": "GPIO26", "logical": "inactive", "raw": 0}, "statusLed": {"line": "GPIO13", "logical": "active", "raw": 1}}, "soc": {"unit": "%", "valid": true, "value": 80.00125}, "state": "running", "stepLatency": {"buckets": [[320, 1], [352, 10], [368, 9], [384, 10]], "count": 30, "maxUs": 7536, "p50Us": 479, "p99Us": 7536}, "steps": 92, "uptimeS": 3, "watchdogs": {"hardware": "not used", "internalTrips": 0, "loopDeadlineMs": 200, "systemd": "not under systemd"}}
"""#

func runningStatus() throws -> StatusReport {
    try ControlCodec.decode(StatusReport.self, from: runningStatusJSON)
}

/// The same controller with a latched welded-contactor fault: every relay open.
func faultedStatus() throws -> StatusReport {
    var status = try runningStatus()
    status.state = "faulted"
    status.outputs["chargeRelay"]?.logical = "inactive"
    status.outputs["dischargeRelay"]?.logical = "inactive"
    status.faults = [try ControlCodec.decode(StatusReport.FaultEntry.self, from:
        #"{"code":"welded","description":"charge contactor welded: its auxiliary contact stays closed while the coil is off","latched":true}"#)]
    return status
}

func temporaryDirectory() -> String {
    var template = Array("/tmp/packguard-telemetry-test-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp: errno \(errno)")
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func removeTree(_ path: String) {
    _ = runProcess(["/bin/rm", "-rf", path])
}

/// A child process (mosquitto, packguard telemetry, chromium), killed on deinit.
final class ChildProcess {
    let pid: pid_t
    private var reaped = false

    init(_ arguments: [String], output: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let target = output ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, target, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, target, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        // The test runner's threads block some signals, and a child inherits that mask: without
        // this, mosquitto would ignore the SIGTERM that stops it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArguments = arguments.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var child: pid_t = 0
        let code = posix_spawn(&child, arguments[0], &actions, &attributes, &cArguments, environ)
        guard code == 0 else { throw SpawnError(program: arguments[0], code: code) }
        pid = child
    }

    func signal(_ number: Int32) { kill(pid, number) }

    /// Waits for exit; the status as waitpid gives it.
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        if !reaped { waitpid(pid, &status, 0); reaped = true }
        return status
    }

    /// True once the child has exited (then it is reaped), polling for up to `seconds`.
    func exits(within seconds: Double) -> Bool {
        waitUntil(seconds: seconds) {
            var status: Int32 = 0
            if !reaped, waitpid(pid, &status, WNOHANG) == pid { reaped = true }
            return reaped
        }
    }

    deinit {
        if !reaped {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

struct SpawnError: Error, CustomStringConvertible {
    var program: String
    var code: Int32
    var description: String { "cannot start \(program): \(String(cString: strerror(code)))" }
}

@discardableResult
func runProcess(_ arguments: [String], output: String? = nil) -> Int32 {
    guard let child = try? ChildProcess(arguments, output: output) else { return -1 }
    return child.wait()
}

func sleepMs(_ milliseconds: Int) { usleep(UInt32(milliseconds) * 1000) }

/// Polls `condition` every 20 ms for up to `seconds`.
func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        sleepMs(20)
    }
    return condition()
}

/// A TCP port nobody listens on now (bound to 0 and released: another process could take it, but
/// on a test machine that race is rare and shows up as a failed broker start, not a wrong result).
func freePort() -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            _ = bind(descriptor, pointer, length)
            return getsockname(descriptor, pointer, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

func canConnect(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// Debian's mosquitto broker on 127.0.0.1:port, with persistence in `directory` (so a durable
/// subscriber's session and queued messages survive a restart, like a real home broker's).
final class Broker {
    private(set) var port: Int
    let directory: String
    private var process: ChildProcess?

    /// `listenerOptions`: lines for the listener instead of anonymous access (TLS, a password file).
    init(directory: String, port: Int = freePort(), listenerOptions: String = "allow_anonymous true\n") throws {
        self.port = port
        self.directory = directory
        self.listenerOptions = listenerOptions
        // Started as root, mosquitto drops to user mosquitto: its database needs a directory it may write.
        let database = directory + "/mosquitto-db"
        mkdir(database, 0o777)
        chmod(database, 0o777)
        chmod(directory, 0o755)
        // freePort() only finds a port that was free: a test running beside this one can take it
        // before mosquitto binds it (seen in CI: "Error: Address already in use"). Then, and only
        // then, another free port; any other failure to start is the test's failure.
        for attempt in 1...3 {
            writeConfiguration()
            do {
                try start()
                return
            } catch let error as SpawnError where attempt < 3 && error.program.contains("Address already in use") {
                stop()
                self.port = freePort()
            }
        }
    }

    private let listenerOptions: String

    private func writeConfiguration() {
        let database = directory + "/mosquitto-db"
        let config = "listener \(port) 127.0.0.1\n\(listenerOptions)persistence true\npersistence_location \(database)/\nautosave_interval 1\n"
        let file = fopen(directory + "/mosquitto.conf", "w")
        fputs(config, file)
        fclose(file)
    }

    func start() throws {
        process = try ChildProcess(["/usr/sbin/mosquitto", "-c", directory + "/mosquitto.conf"], output: directory + "/mosquitto.log")
        guard waitUntil(seconds: 5, { canConnect(port: port) }) else {
            let log = Self.tail(of: directory + "/mosquitto.log")
            throw SpawnError(program: "mosquitto (not listening on \(port); its log: \(log))", code: ETIMEDOUT)
        }
    }

    /// The last lines of mosquitto's log, so that a broker that did not start says why.
    private static func tail(of path: String) -> String {
        guard let file = fopen(path, "r") else { return "(no log)" }
        defer { fclose(file) }
        var lines: [String] = []
        var buffer = [CChar](repeating: 0, count: 512)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            lines.append(String(decoding: buffer.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return lines.suffix(4).joined(separator: " | ")
    }

    /// SIGSTOP/SIGCONT: a broker that keeps its connections open but answers nothing.
    func pause() { process?.signal(SIGSTOP) }
    func resume() { process?.signal(SIGCONT) }

    /// SIGTERM (mosquitto saves its database), and wait; SIGKILL after 5 s so no test can hang here.
    func stop() {
        guard let process else { return }
        process.signal(SIGTERM)
        if !process.exits(within: 5) {
            Issue.record("mosquitto ignored SIGTERM for 5 s")
            process.signal(SIGKILL)
        }
        process.wait()
        self.process = nil
    }
}

/// A test subscriber: a durable session (clean session off) so nothing is lost across a broker restart.
final class Subscriber {
    let client: MosquittoClient
    private(set) var received: [MQTTMessage] = []

    init(port: Int, topic: String, id: String) throws {
        client = try MosquittoClient(settings: MQTTConnectionSettings(
            host: "127.0.0.1", port: port, clientID: id, willTopic: "test/\(id)/will", cleanSession: false),
            messageLimit: 100_000)
        try client.start()
        #expect(waitUntil(seconds: 5) { client.state.connected })
        #expect(client.subscribe(topic: topic) == nil)
        sleepMs(100)  // the SUBACK
    }

    func collect() -> [MQTTMessage] {
        received += client.takeMessages()
        return received
    }

    /// The last payload on `topic`, waiting up to `seconds` for `expected` when given.
    func waitFor(_ topic: String, _ expected: String, seconds: Double = 5) -> Bool {
        waitUntil(seconds: seconds) { collect().last(where: { $0.topic == topic })?.payload == expected }
    }
}

/// Stands in for the daemon: answers status and events on a unix socket from a state the test
/// changes, with the daemon's own types (ControlSocketServer, EventLog, ControlCodec).
final class FakeDaemon: @unchecked Sendable {
    let path: String
    let events = EventLog(capacity: 500)
    private let status: Mutex<StatusReport>
    private var server: ControlSocketServer?
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    let forceOffRequests = Atomic<Int>(0)
    private let started = ContinuousClock.now

    init(path: String, status: StatusReport) throws {
        self.path = path
        self.status = Mutex(status)
        server = try ControlSocketServer(path: path)
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { context in
            let daemon = Unmanaged<FakeDaemon>.fromOpaque(context!).takeRetainedValue()
            if let server = daemon.server { daemon.serve(server) }
            daemon.server = nil  // closes the socket and removes its file: a daemon gone
            daemon.finished.store(true, ordering: .relaxed)
            return nil
        }, context)
        pthread_detach(thread)
    }

    func update(_ change: (inout StatusReport) -> Void) { status.withLock { change(&$0) } }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        _ = waitUntil(seconds: 2) { finished.load(ordering: .relaxed) }
    }

    private func serve(_ server: ControlSocketServer) {
        while !stopping.load(ordering: .relaxed) {
            var entry = pollfd(fd: server.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 50) > 0 else { continue }
            guard let connection = try? server.acceptRequest() else { continue }
            var line: String?
            for _ in 0..<100 where line == nil {
                line = try? connection.readAvailable()
                if line == nil { sleepMs(2) }
            }
            guard let line, let request = try? ControlCodec.decode(ControlRequest.self, from: line) else { continue }
            let reply: ControlReply
            switch request.command {
            case .status:
                var report = status.withLock { $0 }
                // Uptime runs on, as the real daemon's does.
                report.uptimeS += Int64((ContinuousClock.now - started).components.seconds)
                report.events = events.last(10)
                reply = ControlReply(ok: true, status: report)
            case .events:
                reply = ControlReply(ok: true, events: events.since(sequence: request.since ?? 0))
            case .forceOff where request.on == true:
                forceOffRequests.add(1, ordering: .relaxed)
                reply = ControlReply(ok: true, message: "operator force-off: every relay held open")
            default:
                reply = ControlReply(ok: false, error: "not in the fake daemon")
            }
            try? connection.queueReply(ControlCodec.encode(reply))
            for _ in 0..<100 { if (try? connection.sendAvailable()) ?? true { break }; sleepMs(2) }
        }
    }
}

/// The telemetry service on its own thread, as `packguard telemetry` runs it.
final class RunningService: @unchecked Sendable {
    let service: TelemetryService
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)

    init(_ service: TelemetryService) throws {
        self.service = service
        try service.start()
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { context in
            let running = Unmanaged<RunningService>.fromOpaque(context!).takeRetainedValue()
            running.service.run { running.stopping.load(ordering: .relaxed) }
            running.finished.store(true, ordering: .relaxed)
            return nil
        }, context)
        pthread_detach(thread)
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        _ = waitUntil(seconds: 5) { finished.load(ordering: .relaxed) }
    }
}

/// LoggedEvent's memberwise init is the daemon's own; tests build one as the socket sends it.
func loggedEvent(_ sequence: Int, uptimeMs: Int64, kind: String, reason: String) -> LoggedEvent {
    do {
        return try ControlCodec.decode(LoggedEvent.self, from:
            #"{"sequence":\#(sequence),"uptimeMs":\#(uptimeMs),"kind":"\#(kind)","reason":"\#(reason)"}"#)
    } catch {
        preconditionFailure("\(error)")
    }
}
