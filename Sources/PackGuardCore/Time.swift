/// A point on a monotonic clock, in nanoseconds from an arbitrary origin. The policy never reads
/// a clock: the shell passes `now` in.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func milliseconds(_ ms: Int64) -> Instant { Instant(nanoseconds: ms * 1_000_000) }

    public static let zero = Instant(nanoseconds: 0)

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    public static func + (lhs: Instant, rhs: Interval) -> Instant {
        Instant(nanoseconds: lhs.nanoseconds &+ rhs.nanoseconds)
    }
    public static func - (lhs: Instant, rhs: Instant) -> Interval {
        Interval(nanoseconds: lhs.nanoseconds &- rhs.nanoseconds)
    }

    public var description: String { "t+\(nanoseconds / 1_000_000)ms" }
}

/// A span of time in nanoseconds.
public struct Interval: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func milliseconds(_ ms: Int) -> Interval { Interval(nanoseconds: Int64(ms) * 1_000_000) }
    public static func seconds(_ s: Int) -> Interval { .milliseconds(s * 1000) }
    public static func hours(_ h: Int) -> Interval { .seconds(h * 3600) }

    public var milliseconds: Int64 { nanoseconds / 1_000_000 }

    public static func < (lhs: Interval, rhs: Interval) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    public var description: String {
        let ms = milliseconds
        if ms % 3_600_000 == 0 && ms >= 3_600_000 { return "\(ms / 3_600_000) h" }
        if ms % 1000 == 0 && ms >= 1000 { return "\(ms / 1000) s" }
        return "\(ms) ms"
    }
}
