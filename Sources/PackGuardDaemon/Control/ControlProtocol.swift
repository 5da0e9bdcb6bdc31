#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PackGuardCore

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

public enum ControlCodec {
    public static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            // Our own Codable types always encode; this is a programming error.
            preconditionFailure("cannot encode \(T.self): \(error)")
        }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from line: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(line.utf8))
    }
}

extension Controller {
    /// Answers one control request on the control thread. Commands are applied in a step of
    /// their own, so the reply says whether they were accepted and why.
    public func handle(requestLine: String) -> String {
        let request: ControlRequest
        do {
            request = try ControlCodec.decode(ControlRequest.self, from: requestLine)
        } catch {
            return ControlCodec.encode(ControlReply(ok: false, error: "bad request: \(error)"))
        }
        switch request.command {
        case .status:
            return ControlCodec.encode(ControlReply(ok: true, status: statusReport))
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
            submit(command)
            let result: StepResult
            do {
                result = try step(now: clock.now())
            } catch {
                return ControlCodec.encode(ControlReply(ok: false, error: "\(error)"))
            }
            let refused = result.events.first { $0.kind == .commandRefused(command) }
            let accepted = result.events.first { $0.kind == .commandAccepted(command) }
            if let refused { return ControlCodec.encode(ControlReply(ok: false, error: refused.reason)) }
            return ControlCodec.encode(ControlReply(ok: true, message: accepted?.reason ?? "done", status: statusReport))
        }
    }
}
