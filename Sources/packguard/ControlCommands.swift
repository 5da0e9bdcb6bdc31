import ArgumentParser
import PackGuardCommandLine
import Glibc
import PackGuardConfig
import PackGuardDaemon

/// Where to reach a running controller.
struct SocketOptions: ParsableArguments {
    @Option(help: "The control socket (default: paths.controlSocket of --config).")
    var socket: String?

    @Option(help: "The configuration whose control socket to use.")
    var config: String = defaultConfigurationPath

    @Flag(help: "Talk to `packguard run --simulate`.")
    var simulate = false

    func path() -> String {
        if let socket { return socket }
        if simulate { return simulationRuntimeDirectory + "/control.sock" }
        if fileExists(config) {
            do {
                return try loadConfiguration(config).paths.controlSocket
            } catch {
                printError("\(config) is invalid (\(error.issues.count) errors); trying the default socket")
            }
        }
        return PathSettings().controlSocket
    }

    func send(_ request: ControlRequest, timeoutMs: Int32 = 2000) throws -> ControlReply {
        let line: String
        do {
            line = try ControlSocketClient.request(path: path(), line: ControlCodec.encode(request), timeoutMs: timeoutMs)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        do {
            return try ControlCodec.decode(ControlReply.self, from: line)
        } catch {
            printError("unreadable reply from \(path()): \(error)")
            throw ExitCode(1)
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running controller's state, inputs, outputs, faults, SOC and last events.")

    @OptionGroup var options: SocketOptions

    @Flag(help: "Print the raw JSON.")
    var json = false

    func run() throws {
        let reply = try options.send(ControlRequest(command: .status))
        guard reply.ok, let status = reply.status else {
            printError(reply.error ?? "no status in the reply")
            throw ExitCode(1)
        }
        if json {
            print(ControlCodec.encode(status))
        } else {
            print(StatusText.render(status))
        }
    }
}

struct ResetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Clear latched faults (chatter, welded, failedToClose); refused with a reason while a cause persists.")

    @OptionGroup var options: SocketOptions

    func run() throws {
        let reply = try options.send(ControlRequest(command: .reset))
        guard reply.ok else {
            printError(reply.error ?? "refused")
            throw ExitCode(1)
        }
        print(reply.message ?? "reset")
    }
}

struct ForceOffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "force-off",
        abstract: "Hold every relay open for maintenance (on), or release that hold (off). Survives a reboot.")

    enum Setting: String, ExpressibleByArgument { case on, off }

    @Argument(help: "on or off")
    var setting: Setting

    @OptionGroup var options: SocketOptions

    func run() throws {
        let reply = try options.send(ControlRequest(command: .forceOff, on: setting == .on))
        guard reply.ok else {
            printError(reply.error ?? "refused")
            throw ExitCode(1)
        }
        print(reply.message ?? "done")
    }
}

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print the controller's recent events with their reasons; --follow keeps printing new ones.")

    @OptionGroup var options: SocketOptions

    @Flag(help: "Keep printing new events until interrupted.")
    var follow = false

    func run() throws {
        var since = 0
        repeat {
            let reply = try options.send(ControlRequest(command: .events, since: since))
            guard reply.ok else {
                printError(reply.error ?? "no events")
                throw ExitCode(1)
            }
            for event in reply.events ?? [] {
                print(StatusText.event(event))
                since = max(since, event.sequence)
            }
            if follow { usleep(250_000) }
        } while follow
    }
}

enum StatusText {
    static func render(_ s: StatusReport) -> String {
        var lines: [String] = []
        lines.append("PackGuard \(s.summary)")
        lines.append("  up \(s.uptimeS) s, \(s.steps) steps, \(s.backend), config \(s.configuration)")
        lines.append("inputs:")
        for (key, input) in s.inputs.sorted(by: { $0.key < $1.key }) {
            let raw = input.raw.map { $0 == 1 ? "high" : "low" } ?? "-"
            lines.append("  \(key.padding(28)) \(input.logical.padding(9)) (\(input.line) \(raw))\(input.error.map { "  error: \($0)" } ?? "")")
        }
        lines.append("outputs:")
        for (key, output) in s.outputs.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(key.padding(28)) \(output.logical.padding(9)) (\(output.line) \(output.raw == 1 ? "high" : "low"))")
        }
        lines.append("faults: " + (s.faults.isEmpty ? "none" : s.faults.map { "\($0.description)\($0.latched ? " [latched: packguard reset]" : "")" }.joined(separator: "; ")))
        if s.forceOff { lines.append("force-off: ON (packguard force-off off to release)") }
        if s.balancing.active { lines.append("balancing: on for \(s.balancing.elapsedS ?? 0) s, ends in \(s.balancing.remainingS ?? 0) s") }
        if let precharge = s.precharge { lines.append(precharge.summary) }
        if let can = s.can { lines.append(can.summary) }
        for (name, analog) in [("SOC", s.soc), ("charge current limit", s.chargeCurrentLimit), ("discharge current limit", s.dischargeCurrentLimit)] {
            guard let analog else { continue }
            lines.append(analog.valid ? "\(name): \(analog.value.map { String(Int($0.rounded())) } ?? "?") \(analog.unit)"
                                      : "\(name): invalid (\(analog.reason ?? "?"))")
        }
        lines.append("watchdogs: internal \(s.watchdogs.loopDeadlineMs) ms deadline (\(s.watchdogs.internalTrips) trips), systemd: \(s.watchdogs.systemd), hardware: \(s.watchdogs.hardware)")
        if let latency = s.stepLatency, latency.count > 0 {
            lines.append("step latency (due to done): p50 \(latency.p50Us) us, p99 \(latency.p99Us) us, max \(latency.maxUs) us over \(latency.count) steps")
        }
        if let reaction = s.offReaction, reaction.count > 0 {
            lines.append("off-reaction (kernel edge to relay written): p50 \(reaction.p50Us) us, p99 \(reaction.p99Us) us, max \(reaction.maxUs) us over \(reaction.count) releases")
        }
        lines.append("last events:")
        lines += s.events.map { "  " + event($0) }
        return lines.joined(separator: "\n")
    }

    static func event(_ e: LoggedEvent) -> String {
        let seconds = e.uptimeMs / 1000, millis = e.uptimeMs % 1000
        return "[\(seconds).\(String(repeating: "0", count: 3 - String(millis).count))\(millis)s] \(e.reason)"
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}

