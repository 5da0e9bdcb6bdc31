import Glibc
import PackGuardDaemon

/// What `packguard/<id>/event` carries for one controller event. `reason` is the daemon's own
/// words, whatever the event kind; `relay` and `uid` are filled in when the event names them.
public struct EventMessage: Codable, Sendable, Equatable {
    /// UTC, ISO 8601, from the daemon's uptime (to about a second).
    public var time: String
    public var sequence: Int
    public var uptimeMs: Int64
    public var kind: String
    public var relay: String?
    public var reason: String
    /// Who gave an operator command (reset, force-off), from its event.
    public var uid: Int?

    /// `daemonStartedAtMs`: the daemon's start, in ms since the epoch; nil: treat the event as new.
    public init(event: LoggedEvent, daemonStartedAtMs: Int64?, relays: Set<String>) {
        let start = daemonStartedAtMs ?? (Int64(Glibc.time(nil)) * 1000 - event.uptimeMs)
        time = isoTime((start + event.uptimeMs) / 1000)
        sequence = event.sequence
        uptimeMs = event.uptimeMs
        kind = event.kind
        reason = event.reason
        let head = event.kind.split(separator: ".").first.map(String.init) ?? ""
        relay = relays.contains(head) ? head : nil
        uid = event.kind.hasPrefix("control.") ? Self.uid(in: event.reason) : nil
    }

    /// "force-off on by uid 1000 pid 4242: ok" → 1000.
    static func uid(in reason: String) -> Int? {
        guard let range = reason.range(of: "uid ") else { return nil }
        let digits = reason[range.upperBound...].prefix(while: \.isNumber)
        return Int(digits)
    }
}

/// "2026-12-01T21:45:58Z".
public func isoTime(_ secondsSinceEpoch: Int64) -> String {
    var value = time_t(secondsSinceEpoch)
    var parts = tm()
    guard gmtime_r(&value, &parts) != nil else { return "\(secondsSinceEpoch)" }
    func two(_ number: Int32) -> String { number < 10 ? "0\(number)" : "\(number)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}

/// Events waiting for the broker, oldest first. Bounded: when full, the oldest is dropped and
/// counted, so a long broker outage costs memory once and says how much it lost.
public struct EventQueue: Sendable {
    public let capacity: Int
    public private(set) var pending: [EventMessage] = []
    public private(set) var dropped = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    public mutating func append(_ event: EventMessage) {
        if pending.count >= capacity {
            pending.removeFirst()
            dropped += 1
        }
        pending.append(event)
    }

    /// Events the follower never saw (the daemon's ring moved past them): counted, not queued.
    public mutating func countMissed(_ count: Int) { dropped += count }

    public var first: EventMessage? { pending.first }
    public var isFull: Bool { pending.count >= capacity }
    public mutating func removeFirst() { pending.removeFirst() }
}
