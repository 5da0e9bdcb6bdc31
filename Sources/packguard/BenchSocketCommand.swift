import ArgumentParser
import Glibc
import Logging
import PackGuardConfig
import PackGuardCore
import PackGuardDaemon
import PackGuardGPIO

struct BenchSocketCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-socket",
        abstract: "Flood the control socket and measure whether the control loop keeps its deadline.",
        discussion: """
            Without --socket, starts the daemon in this process on the mocked chip (the built-in configuration, \
            both BMS enables asserted, its socket in a temporary directory) and waits until both contactor \
            relays are closed. Then, against that daemon or the one at --socket: --baseline-seconds of \
            --status-rate `status` requests per second alone, then --seconds of the same plus --silent-clients \
            connections that never send a byte (each one the daemon closes reconnects at once).

            The step latencies come from the daemon's own histogram in `status --json` (stepLatency: from \
            when a step was due to when it finished). Deadline misses are the internal watchdog's trips \
            (watchdogs.internalTrips) during the two stretches. Prints one summary line starting \
            `bench-socket:`; exit 1 when a deadline was missed, a contactor relay opened, or the benchmark \
            could not run.
            """
    )

    @Option(help: "A running daemon's control socket (default: start one on the mocked chip here).")
    var socket: String?

    @Option(help: "Silent connections kept open during the flood.")
    var silentClients = 200

    @Option(help: "status requests per second, in both stretches.")
    var statusRate = 100

    @Option(help: "Seconds of flood.")
    var seconds = 30

    @Option(help: "Seconds of status requests alone, before the flood.")
    var baselineSeconds = 5

    @Option(help: "Milliseconds a silent connection the daemon closed waits before reconnecting (0: at once).")
    var reconnectDelayMs = 0

    func validate() throws {
        guard silentClients >= 0, statusRate >= 1, statusRate <= 1000, seconds >= 1, baselineSeconds >= 1,
              reconnectDelayMs >= 0
        else {
            throw ValidationError("--silent-clients >= 0, --status-rate 1...1000, --seconds and --baseline-seconds >= 1, --reconnect-delay-ms >= 0")
        }
    }

    func run() throws {
        var inProcess: InProcessDaemon?
        let path: String
        if let socket {
            path = socket
        } else {
            do {
                inProcess = try InProcessDaemon()
            } catch {
                throw couldNotRun("cannot start the daemon on the mocked chip: \(error)")
            }
            path = inProcess!.socketPath
        }
        defer { inProcess?.stop() }

        guard waitForClosedRelays(path: path, seconds: 10) != nil else {
            throw couldNotRun("\(path) did not report both contactor relays closed within 10 s")
        }
        guard let start = snapshot(path) else { throw couldNotRun("no status from \(path)") }
        let baseline = requestStatus(path: path, seconds: baselineSeconds)
        guard let afterBaseline = snapshot(path) else { throw couldNotRun("no status after the baseline") }

        let flood = SilentClientFlood(path: path, count: silentClients, reconnectDelayMilliseconds: reconnectDelayMs)
        guard flood.start() else { throw couldNotRun("cannot start the flood thread") }
        let flooded = requestStatus(path: path, seconds: seconds)
        let floodCounters = flood.stop()
        guard let end = snapshot(path) else { throw couldNotRun("no status after the flood (daemon gone?)") }

        guard let startLatency = start.stepLatency, let baselineLatency = afterBaseline.stepLatency,
              let endLatency = end.stepLatency
        else { throw couldNotRun("\(path) reports no stepLatency (an older packguard?)") }
        let quiet = baselineLatency.since(startLatency)
        let loud = endLatency.since(baselineLatency)
        let quietMisses = afterBaseline.watchdogs.internalTrips - start.watchdogs.internalTrips
        let loudMisses = end.watchdogs.internalTrips - afterBaseline.watchdogs.internalTrips
        let misses = quietMisses + loudMisses
        let relaysOpened = baseline.relaysOpen + flooded.relaysOpen + (closed(end) ? 0 : 1)

        func latency(_ report: StepLatencyReport) -> String {
            "p50 \(report.p50Us) us, p99 \(report.p99Us) us, max \(report.maxUs) us (\(report.count) steps)"
        }
        let verdict = misses == 0 && relaysOpened == 0 ? "ok" : "FAILED"
        print("bench-socket: \(verdict): deadline misses \(misses) (\(quietMisses) without flood, \(loudMisses) with; "
            + "loopDeadlineMs \(end.watchdogs.loopDeadlineMs)); "
            + "step latency without flood \(latency(quiet)); with \(silentClients) silent clients + \(statusRate) status/s "
            + "for \(seconds) s \(latency(loud)); status answered \(flooded.answered)/\(flooded.sent) during the flood "
            + "(\(flooded.busy) busy, \(flooded.failed) failed), \(baseline.answered)/\(baseline.sent) before; "
            + "silent connections made \(floodCounters.connected), closed by the daemon \(floodCounters.closedByDaemon); "
            + "relays \(relaysOpened == 0 ? "closed throughout" : "OPENED in \(relaysOpened) replies")")
        if verdict != "ok" { throw ExitCode(1) }
    }

    private func couldNotRun(_ why: String) -> ExitCode {
        print("bench-socket: could not run: \(why)")
        return ExitCode(1)
    }

    struct Tally {
        var sent = 0
        var answered = 0
        var busy = 0
        var failed = 0
        var relaysOpen = 0
    }

    /// `statusRate` requests a second for `seconds`, on a fixed schedule (no catching up in bursts).
    private func requestStatus(path: String, seconds: Int) -> Tally {
        var tally = Tally()
        let period = 1_000_000_000 / Int64(statusRate)
        let begin = Int64(PackGuardGPIO.monotonicNanoseconds())
        let end = begin + Int64(seconds) * 1_000_000_000
        var next = begin
        while true {
            let now = Int64(PackGuardGPIO.monotonicNanoseconds())
            if now >= end { break }
            if now < next {
                sleepNanoseconds(next - now)
                continue
            }
            next += period
            if next < now { next = now + period }
            tally.sent += 1
            switch status(path, timeoutMs: 1000) {
            case .success(let report):
                tally.answered += 1
                if !closed(report) { tally.relaysOpen += 1 }
            case .failure(let error):
                if error.description.hasPrefix("busy") { tally.busy += 1 } else { tally.failed += 1 }
            }
        }
        return tally
    }

    /// A status, retried for up to 3 s (a flood's last clients may still hold every slot).
    private func snapshot(_ path: String) -> StatusReport? {
        for _ in 0..<60 {
            if case .success(let report) = status(path, timeoutMs: 1000) { return report }
            sleepNanoseconds(50_000_000)
        }
        return nil
    }

    private func waitForClosedRelays(path: String, seconds: Int) -> StatusReport? {
        for _ in 0..<(seconds * 20) {
            if case .success(let report) = status(path, timeoutMs: 1000), closed(report) { return report }
            sleepNanoseconds(50_000_000)
        }
        return nil
    }

    private func closed(_ report: StatusReport) -> Bool {
        report.outputs["chargeRelay"]?.logical == "active" && report.outputs["dischargeRelay"]?.logical == "active"
    }

    private func status(_ path: String, timeoutMs: Int32) -> Result<StatusReport, BenchSetupError> {
        do {
            let line = try ControlSocketClient.request(path: path, line: ControlCodec.encode(ControlRequest(command: .status)),
                                                       timeoutMs: timeoutMs)
            let reply = try ControlCodec.decode(ControlReply.self, from: line)
            guard let report = reply.status else {
                return .failure(BenchSetupError(description: reply.error ?? "no status in the reply"))
            }
            return .success(report)
        } catch {
            return .failure(BenchSetupError(description: "\(error)"))
        }
    }
}

struct BenchSetupError: Error, CustomStringConvertible {
    var description: String
}

/// `packguard run --simulate` in this process, its socket and state in a fresh temporary directory.
final class InProcessDaemon {
    let socketPath: String
    private let directory: String
    private let daemon: Daemon
    private var thread: pthread_t?

    init() throws {
        var template = Array("/tmp/packguard-bench-socket-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw BenchSetupError(description: "mkdtemp: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        socketPath = directory + "/control.sock"
        var configuration = BuiltInConfiguration.load()
        configuration.paths.controlSocket = socketPath
        configuration.paths.stateDirectory = directory + "/state"
        // Only the waiting before the measurement gets shorter; loop and deadlines are the shipped ones.
        configuration.policy.timing.startupHoldMs = 500
        var logger = Logger(label: "packguard") { JournalLogHandler(label: $0) }
        logger.logLevel = .warning  // refusals and drops are notices/debug; a missed deadline is critical
        daemon = try Daemon(configuration: configuration, simulate: true, configPath: nil, logger: logger)
        let daemon = daemon
        thread = startThread { _ = daemon.run() }
        guard thread != nil else { throw BenchSetupError(description: "cannot start the daemon thread") }
    }

    func stop() {
        daemon.loop.requestStop(reason: "bench-socket done")
        if let thread { pthread_join(thread, nil) }
        thread = nil
        // The benchmark's scratch directory: leftovers under /tmp hide no failure.
        _ = unlink(directory + "/state/force-off")
        _ = rmdir(directory + "/state")
        _ = rmdir(directory)
    }
}

func sleepNanoseconds(_ nanoseconds: Int64) {
    var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
