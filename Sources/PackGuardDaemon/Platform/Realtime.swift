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
                if let monitor {
                    let watchdog = system.setFIFO(monitor, priority: priority + 1)
                    if watchdog == 0 {
                        text += ", internal watchdog thread SCHED_FIFO \(priority + 1)"
                    } else {
                        refused.append("SCHED_FIFO \(priority + 1) for the internal watchdog thread refused (errno \(watchdog): \(Self.describe(watchdog)))")
                    }
                }
                if let reflex {
                    // Above both: it only ever opens a relay, and it must wait for nothing.
                    let reflexResult = system.setFIFO(reflex, priority: priority + 2)
                    if reflexResult == 0 {
                        text += ", off reflex thread SCHED_FIFO \(priority + 2)"
                    } else {
                        refused.append("SCHED_FIFO \(priority + 2) for the off reflex thread refused (errno \(reflexResult): \(Self.describe(reflexResult)))")
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
