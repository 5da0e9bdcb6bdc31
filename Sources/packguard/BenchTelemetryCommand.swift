import ArgumentParser
import PackGuardCommandLine
import Glibc
import PackGuardDaemon

struct BenchTelemetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-telemetry",
        abstract: "Measure the control loop's step latency with a live, a hung (SIGSTOP) and a killed (SIGKILL) telemetry follower.",
        discussion: """
            Starts the daemon in this process on the mocked chip (as bench-socket does) and, for --seconds each: \
            no follower; `packguard telemetry --socket …` (this binary, a separate process, polling every 250 ms, \
            no broker); the same process stopped with SIGSTOP (a hung follower, possibly in the middle of a \
            request) plus --stalled-requests connections that send `events` and never read the reply; and after \
            SIGKILL of the follower. The step latencies (from when a step was due to when it finished) come \
            from the daemon's own histogram; deadline misses are the internal watchdog's trips. Prints one \
            `bench-telemetry:` line per stretch; exit 1 when a deadline was missed or a contactor relay opened.
            """)

    @Option(help: "Seconds per stretch.")
    var seconds = 10

    @Option(help: "Connections that send an events request and never read the reply, during the hung stretch.")
    var stalledRequests = 8

    func validate() throws {
        guard seconds >= 1, (0...64).contains(stalledRequests) else {
            throw ValidationError("--seconds >= 1, --stalled-requests 0...64")
        }
    }

    func run() throws {
        let daemon: InProcessDaemon
        do { daemon = try InProcessDaemon() } catch { throw failed("cannot start the daemon on the mocked chip: \(error)") }
        defer { daemon.stop() }
        let path = daemon.socketPath
        guard waitForClosedRelays(path) else { throw failed("the relays did not close within 10 s") }

        var results: [(String, StepLatencyReport, Int, Bool)] = []
        func stretch(_ name: String) throws {
            guard let before = status(path) else { throw failed("no status before \(name)") }
            sleepNanoseconds(Int64(seconds) * 1_000_000_000)
            guard let after = status(path), let early = before.stepLatency, let late = after.stepLatency else {
                throw failed("no status after \(name)")
            }
            results.append((name, late.since(early), after.watchdogs.internalTrips - before.watchdogs.internalTrips, closed(after)))
        }

        try stretch("no follower")
        let follower = try spawnTelemetry(socket: path)
        sleepNanoseconds(1_000_000_000)  // its first polls
        try stretch("live follower (250 ms polls)")
        kill(follower, SIGSTOP)
        var stalled: [Int32] = []
        for _ in 0..<stalledRequests { if let descriptor = stalledRequest(path) { stalled.append(descriptor) } }
        try stretch("hung follower (SIGSTOP) + \(stalled.count) unread requests")
        for descriptor in stalled { _ = close(descriptor) }
        kill(follower, SIGKILL)
        var exitStatus: Int32 = 0
        _ = waitpid(follower, &exitStatus, 0)
        try stretch("after SIGKILL of the follower")

        var ok = true
        for (name, latency, misses, stillClosed) in results {
            ok = ok && misses == 0 && stillClosed
            print("bench-telemetry: \(name): step latency p50 \(latency.p50Us) us, p99 \(latency.p99Us) us, max \(latency.maxUs) us "
                + "over \(latency.count) steps; deadline misses \(misses); relays \(stillClosed ? "closed" : "OPENED")")
        }
        print("bench-telemetry: \(ok ? "ok" : "FAILED")")
        if !ok { throw ExitCode(1) }
    }

    private func failed(_ why: String) -> ExitCode {
        print("bench-telemetry: could not run: \(why)")
        return ExitCode(1)
    }

    /// This binary's `telemetry` subcommand, its output discarded.
    private func spawnTelemetry(socket: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = ["/proc/self/exe", "telemetry", "--simulate", "--socket", socket]
        var cArguments = arguments.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var child: pid_t = 0
        let code = posix_spawn(&child, arguments[0], &actions, nil, &cArguments, environ)
        guard code == 0 else { throw failed("cannot start packguard telemetry: \(String(cString: strerror(code)))") }
        return child
    }

    /// A connection that asks for every event and never reads: the reply sits in its socket buffer.
    private func stalledRequest(_ path: String) -> Int32? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in pathBytes.enumerated() { buffer[index] = byte }
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        let line = Array((ControlCodec.encode(ControlRequest(command: .events, since: 0)) + "\n").utf8)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0,
              line.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == line.count
        else {
            _ = close(descriptor)
            return nil
        }
        return descriptor
    }

    /// The daemon's status, asked again for up to 3 s while it starts; when it never answers, the
    /// last failure is printed, so a broken run says why.
    private func status(_ path: String) -> StatusReport? {
        var lastFailure = "no reply"
        for _ in 0..<60 {
            do {
                let line = try ControlSocketClient.request(path: path, line: ControlCodec.encode(ControlRequest(command: .status)), timeoutMs: 1000)
                let reply = try ControlCodec.decode(ControlReply.self, from: line)
                if let report = reply.status { return report }
                lastFailure = "a reply without status: \(reply.error ?? "no error given")"
            } catch {
                lastFailure = "\(error)"
            }
            sleepNanoseconds(50_000_000)
        }
        printError("bench-telemetry: no status from \(path) within 3 s: \(lastFailure)")
        return nil
    }

    private func waitForClosedRelays(_ path: String) -> Bool {
        for _ in 0..<200 {
            if let report = status(path), closed(report) { return true }
            sleepNanoseconds(50_000_000)
        }
        return false
    }

    private func closed(_ report: StatusReport) -> Bool {
        report.outputs["chargeRelay"]?.logical == "active" && report.outputs["dischargeRelay"]?.logical == "active"
    }
}
