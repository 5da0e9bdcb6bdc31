// The real clock: CLOCK_MONOTONIC and nanosleep.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `now` from CLOCK_MONOTONIC; `sleep` blocks the thread with nanosleep.
public struct SystemADCClock: ADCClock {
    public init() {}

    public var now: MonotonicNanoseconds {
        var time = timespec()
        // CLOCK_MONOTONIC cannot fail for a valid timespec pointer; a zero time would only delay the OS wait.
        guard clock_gettime(CLOCK_MONOTONIC, &time) == 0 else { return 0 }
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    public func sleep(nanoseconds: UInt64) {
        var remaining = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var unslept = timespec()
        // A signal cuts nanosleep short (EINTR): sleep the rest. Any other failure: give up sleeping,
        // which only makes the caller poll sooner; its own deadline still bounds it.
        while nanosleep(&remaining, &unslept) != 0 && errno == EINTR {
            remaining = unslept
        }
    }
}
