import PackGuardCore
import Synchronization

/// One line of the controller's history, as shown by `status` and `events`.
public struct LoggedEvent: Sendable, Equatable, Codable {
    /// Sequence number, increasing from 1, so followers can ask for what they missed.
    public var sequence: Int
    /// Milliseconds since the controller started.
    public var uptimeMs: Int64
    public var kind: String
    public var reason: String
}

/// The last events in memory (a bounded ring: a long-running controller must not grow).
public final class EventLog: Sendable {
    private struct State {
        var events: [LoggedEvent] = []
        var nextSequence = 1
    }

    private let state = Mutex(State())
    public let capacity: Int

    public init(capacity: Int = 500) { self.capacity = capacity }

    @discardableResult
    public func append(kind: String, reason: String, uptimeMs: Int64) -> LoggedEvent {
        state.withLock { state in
            let event = LoggedEvent(sequence: state.nextSequence, uptimeMs: uptimeMs, kind: kind, reason: reason)
            state.nextSequence += 1
            state.events.append(event)
            if state.events.count > capacity { state.events.removeFirst(state.events.count - capacity) }
            return event
        }
    }

    public func last(_ count: Int) -> [LoggedEvent] { state.withLock { Array($0.events.suffix(count)) } }

    public func since(sequence: Int) -> [LoggedEvent] {
        state.withLock { $0.events.filter { $0.sequence > sequence } }
    }
}

extension PolicyEvent.Kind {
    /// A short machine-friendly name for logs and JSON.
    var code: String {
        switch self {
        case .outputChanged(let output, let level): "\(output.rawValue).\(level.isActive ? "on" : "off")"
        case .faultRaised(let fault): "fault.raised.\(fault.code)"
        case .faultCleared(let fault): "fault.cleared.\(fault.code)"
        case .stateChanged(let state): "state.\(state.rawValue)"
        case .balancing(let on): "balancing.\(on ? "on" : "off")"
        case .socRule(let rule): "soc.\(rule.rawValue)"
        case .commandAccepted: "command.accepted"
        case .commandRefused: "command.refused"
        case .reconfigured: "configuration.reloaded"
        }
    }
}
