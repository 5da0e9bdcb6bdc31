import Glibc
import PackGuardCore
import Synchronization

/// The daemon's only source of time: monotonic, injectable.
public protocol DaemonClock: Sendable {
    func now() -> Instant
}

/// CLOCK_MONOTONIC, the clock the kernel stamps GPIO edge events with.
public struct SystemClock: DaemonClock {
    public init() {}

    public func now() -> Instant {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Instant(nanoseconds: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }
}

/// A clock that moves only when told to: for tests and the bench's virtual time.
public final class VirtualClock: DaemonClock {
    private let current: Mutex<Instant>

    public init(start: Instant = .milliseconds(1_000)) { current = Mutex(start) }

    public func now() -> Instant { current.withLock { $0 } }

    public func advance(_ interval: Interval) { current.withLock { $0 = $0 + interval } }

    public func set(_ instant: Instant) { current.withLock { $0 = instant } }
}
