// Time is injected: the driver sleeps and reads "now" only through this protocol.
import Synchronization

/// Nanoseconds since an arbitrary origin, from a monotonic clock (never steps backwards).
public typealias MonotonicNanoseconds = UInt64

/// The clock the ADS1115 driver waits on while a conversion runs.
public protocol ADCClock: Sendable {
    var now: MonotonicNanoseconds { get }
    /// Blocks the calling thread for about `nanoseconds`.
    func sleep(nanoseconds: UInt64)
}

/// A clock that only moves when slept on or advanced: deterministic tests and replays.
public final class ManualADCClock: ADCClock {
    private struct State {
        var now: MonotonicNanoseconds
        var sleepCount = 0
    }

    private let state: Mutex<State>
    /// False models a broken clock that never advances, to prove the driver still gives up.
    private let sleepAdvancesTime: Bool

    public init(start: MonotonicNanoseconds = 0, sleepAdvancesTime: Bool = true) {
        state = Mutex(State(now: start))
        self.sleepAdvancesTime = sleepAdvancesTime
    }

    public var now: MonotonicNanoseconds { state.withLock { $0.now } }

    /// How many times `sleep` was called.
    public var sleepCount: Int { state.withLock { $0.sleepCount } }

    public func sleep(nanoseconds: UInt64) {
        let advances = sleepAdvancesTime
        state.withLock {
            $0.sleepCount += 1
            if advances { $0.now += nanoseconds }
        }
    }

    public func advance(byNanoseconds nanoseconds: UInt64) {
        state.withLock { $0.now += nanoseconds }
    }

    public func advance(byMilliseconds milliseconds: UInt64) {
        advance(byNanoseconds: milliseconds * 1_000_000)
    }
}
