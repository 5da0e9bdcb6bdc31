import Glibc
import Logging
import PackGuardConfig

/// The system calls behind `realtime:`, so that a test can refuse them as an unprivileged run would.
protocol RealtimeSystem {
    /// pthread_setschedparam: 0 or the errno.
    func setFIFO(_ thread: pthread_t, priority: Int32) -> Int32
    /// mlockall(MCL_CURRENT | MCL_ONFAULT): 0 or the errno.
    func lockMemory() -> Int32
}

struct LinuxRealtimeSystem: RealtimeSystem {
    func setFIFO(_ thread: pthread_t, priority: Int32) -> Int32 {
        var parameters = sched_param()
        parameters.sched_priority = priority
        return pthread_setschedparam(thread, SCHED_FIFO, &parameters)
    }

    func lockMemory() -> Int32 {
        // MCL_ONFAULT: pages are locked as they are first used, not all mapped files at once
        // (which would make every library fully resident). No MCL_FUTURE: with it, a later mmap
        // beyond RLIMIT_MEMLOCK would fail, and with it a malloc in the loop.
        mlockall(MCL_CURRENT | MCL_ONFAULT) == 0 ? 0 : errno
    }
}

/// Applies `realtime:` once, when every thread of the loop runs: SCHED_FIFO for the control
/// thread (the caller) at `priority`, for the internal watchdog thread one above it and for the
/// off reflex two above it, then the memory lock. A refusal (no CAP_SYS_NICE and RLIMIT_RTPRIO too low; RLIMIT_MEMLOCK too small)
/// is logged once, as a warning, and the daemon runs on as a normal process: it is no less safe,
/// only slower to react under load.
enum RealtimeSetup {
    /// Returns the one line it logged.
    @discardableResult
    static func apply(_ settings: RealtimeSettings, monitor: pthread_t?, reflex: pthread_t? = nil, logger: Logger,
                      system: any RealtimeSystem = LinuxRealtimeSystem()) -> String {
        var done: [String] = []
        var refused: [String] = []
        switch settings.scheduling {
        case .other:
            done.append("normal scheduling (realtime.scheduling: other)")
        case .fifo:
            let priority = Int32(settings.priority)
            let control = system.setFIFO(pthread_self(), priority: priority)
            if control == 0 {
                var text = "control thread SCHED_FIFO \(priority)"
                // Above the control thread: a control thread stuck in a loop cannot starve them.
                for (thread, above, name) in [(monitor, Int32(1), "internal watchdog thread"), (reflex, 2, "off reflex thread")] {
                    guard let thread else { continue }
                    let result = system.setFIFO(thread, priority: priority + above)
                    if result == 0 {
                        text += ", \(name) SCHED_FIFO \(priority + above)"
                    } else {
                        refused.append("SCHED_FIFO \(priority + above) for the \(name) refused (errno \(result): \(Self.describe(result)))")
                    }
                }
                done.append(text)
            } else {
                refused.append("SCHED_FIFO \(priority) refused (errno \(control): \(Self.describe(control))): normal scheduling; packguard.service grants it with LimitRTPRIO=\(priority + 2)")
            }
        }
        if settings.lockMemory {
            let locked = system.lockMemory()
            if locked == 0 {
                done.append("memory locked as used (mlockall)")
            } else {
                refused.append("mlockall refused (errno \(locked): \(Self.describe(locked))): memory may be paged out; packguard.service grants it with LimitMEMLOCK=")
            }
        }
        if refused.isEmpty {
            let line = "realtime: \(done.joined(separator: "; "))"
            logger.notice("\(line)")
            return line
        }
        let line = "realtime: \((done + refused).joined(separator: "; ")); running on as a normal process"
        logger.warning("\(line)")
        return line
    }

    private static func describe(_ code: Int32) -> String {
        switch code {
        case EPERM: "no permission"
        case ENOMEM: "over RLIMIT_MEMLOCK"
        case EINVAL: "invalid"
        default: String(cString: strerror(code))
        }
    }
}
