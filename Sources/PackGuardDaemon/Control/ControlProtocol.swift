import PackGuardCore
import PackGuardJSON
import PackGuardWords

/// One request on the control socket: a JSON object on one line.
public struct ControlRequest: Codable, Sendable, Equatable {
    public enum Command: String, Codable, Sendable {
        case status
        case reset
        case forceOff
        case events
    }

    public var command: Command
    /// For `forceOff`: hold (true) or release (false).
    public var on: Bool?
    /// For `events`: only events after this sequence number.
    public var since: Int?

    public init(command: Command, on: Bool? = nil, since: Int? = nil) {
        self.command = command
        self.on = on
        self.since = since
    }
}

/// The answer: a JSON object on one line.
public struct ControlReply: Codable, Sendable, Equatable {
    public var ok: Bool
    public var message: String?
    public var error: String?
    public var status: StatusReport?
    public var events: [LoggedEvent]?

    public init(ok: Bool, message: String? = nil, error: String? = nil, status: StatusReport? = nil,
                events: [LoggedEvent]? = nil) {
        self.ok = ok
        self.message = message
        self.error = error
        self.status = status
        self.events = events
    }
}

/// JSON lines through PackGuardJSON (compact, keys sorted): Foundation's coders would cost the
/// daemon about 3 MiB of resident memory.
public enum ControlCodec {
    public static func encode<T: Encodable>(_ value: T) -> String {
        do {
            return try JSON.encode(value)
        } catch {
            // Our own Codable types always encode; this is a programming error.
            preconditionFailure("cannot encode \(T.self): \(error)")
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from line: String) throws -> T {
        try JSON.decode(type, from: line)
    }
}

extension Controller {
    /// Answers one control request from `peer` on the control thread. Commands are applied in a
    /// step of their own, so the reply says whether they were accepted and why. Every command
    /// (reset, force-off), and every refused request, is an event naming uid, pid and result.
    public func handle(requestLine: String, from peer: Result<PeerCredentials, PeerCredentialError>,
                       access: ControlAccess) -> String {
        let request: ControlRequest
        do {
            request = try ControlCodec.decode(ControlRequest.self, from: requestLine)
        } catch {
            return ControlCodec.encode(ControlReply(ok: false, error: "bad request: \(error)"))
        }
        let name = request.commandName
        let credentials: PeerCredentials
        switch peer {
        case .success(let found): credentials = found
        case .failure(let error):
            let why = "\(name) refused: \(error)"
            recordControl("\(name) by an unknown peer: refused: \(error)", refused: true)
            return ControlCodec.encode(ControlReply(ok: false, error: why))
        }
        if let why = access.refusal(of: ControlAccess.level(for: request), for: credentials) {
            recordControl("\(name) by \(credentials): refused: \(why)", refused: true)
            return ControlCodec.encode(ControlReply(ok: false, error: "\(name) refused: \(why)"))
        }
        switch request.command {
        case .status:
            var report = statusReport
            report?.stepLatency = stepLatency.report
            report?.offReaction = offReaction.report
            return ControlCodec.encode(ControlReply(ok: true, status: report))
        case .events:
            return ControlCodec.encode(ControlReply(ok: true, events: events.since(sequence: request.since ?? 0)))
        case .reset, .forceOff:
            let command: OperatorCommand
            if request.command == .reset {
                command = .reset
            } else {
                guard let on = request.on else {
                    return ControlCodec.encode(ControlReply(ok: false, error: "forceOff needs \"on\": true or false"))
                }
                command = .forceOff(on)
            }
            let reply = apply(command)
            let outcome = reply.ok ? "ok: \(reply.message ?? "done")" : "failed: \(reply.error ?? "?")"
            recordControl("\(name) by \(credentials): \(outcome)", refused: false, warn: !reply.ok)
            return ControlCodec.encode(reply)
        }
    }

    /// Runs an operator command in a step of its own. A force-off that could not be persisted is
    /// an error: `on` still holds every relay open (the safe half happens regardless), `off`
    /// releases nothing.
    private func apply(_ command: OperatorCommand) -> ControlReply {
        let persistFailure = submit(command)
        if case .forceOff(false) = command, let persistFailure {
            return ControlReply(ok: false, error: "force-off off not applied, every relay stays held open: "
                + "cannot persist the release (\(persistFailure))")
        }
        let result: StepResult
        do {
            result = try step(now: clock.now())
        } catch {
            return ControlReply(ok: false, error: "\(error)")
        }
        if let persistFailure {
            return ControlReply(ok: false, error: "force-off on applied (every relay held open) but not persisted, "
                + "so it would not survive a restart: \(persistFailure)", status: statusReport)
        }
        let refused = result.events.first { $0.kind == .commandRefused(command) }
        let accepted = result.events.first { $0.kind == .commandAccepted(command) }
        if let refused { return ControlReply(ok: false, error: refused.reason.words) }
        return ControlReply(ok: true, message: accepted?.reason.words ?? "done", status: statusReport)
    }

    /// One control event in the event log and the journal.
    /// `refused`: not allowed for that peer (kind control.refused); otherwise control.command.
    private func recordControl(_ reason: String, refused: Bool, warn: Bool = true) {
        let uptime = (startedAt.map { clock.now() - $0 } ?? Interval(nanoseconds: 0)).milliseconds
        events.append(kind: refused ? "control.refused" : "control.command", reason: reason, uptimeMs: uptime)
        if warn { logger.warning("control: \(reason)") } else { logger.notice("control: \(reason)") }
    }
}

extension ControlRequest {
    /// As typed at the command line: "status", "force-off on", "reset".
    public var commandName: String {
        switch command {
        case .status: "status"
        case .events: "events"
        case .reset: "reset"
        case .forceOff: on.map { "force-off \($0 ? "on" : "off")" } ?? "force-off"
        }
    }
}
