/// How the control thread is scheduled and whether the process locks its memory (`realtime:`).
/// Without the permission (a manual run without CAP_SYS_NICE / RLIMIT_RTPRIO, or RLIMIT_MEMLOCK
/// too small) the daemon logs that once and runs as a normal process.
public struct RealtimeSettings: Sendable, Equatable {
    public enum Scheduling: String, Sendable, CaseIterable {
        /// SCHED_FIFO: the control thread preempts every normal process the moment an edge arrives.
        case fifo
        /// SCHED_OTHER: a normal process (no request is made).
        case other
    }

    public var scheduling = Scheduling.fifo
    /// The control thread's SCHED_FIFO priority; the internal watchdog thread runs one above it, so
    /// that a control thread stuck in a loop cannot starve it. Below the kernel's threaded IRQs (50).
    public var priority = 10
    /// mlockall(MCL_CURRENT | MCL_ONFAULT) once every thread runs: no page the loop has touched is
    /// ever paged out (a relay must not wait for the SD card). Pages are locked as they are first
    /// used, so the resident size does not grow to the whole mapped size.
    public var lockMemory = true

    public static let priorities = 1...47

    public init() {}
}
