import Glibc
import Logging
import PackGuardConfig
import Synchronization
import Testing
@testable import PackGuardDaemon

/// Answers the realtime calls as told, and records them.
final class ScriptedRealtimeSystem: RealtimeSystem, @unchecked Sendable {
    // @unchecked: used from the test's thread only.
    var fifoAnswer: Int32 = 0
    var lockAnswer: Int32 = 0
    var fifoCalls: [Int32] = []
    var lockCalls = 0

    func setFIFO(_ thread: pthread_t, priority: Int32) -> Int32 { fifoCalls.append(priority); return fifoAnswer }
    func lockMemory() -> Int32 { lockCalls += 1; return lockAnswer }
}

@Suite("Realtime scheduling and locked memory")
struct RealtimeTests {
    @Test func grantedTheControlThreadRunsFIFOTheWatchdogThreadOneAboveAndMemoryIsLocked() {
        let log = RecordedLog()
        let system = ScriptedRealtimeSystem()
        let line = RealtimeSetup.apply(RealtimeSettings(), monitor: pthread_self(), logger: log.logger, system: system)
        #expect(system.fifoCalls == [10, 11])
        #expect(system.lockCalls == 1)
        #expect(line == "realtime: control thread SCHED_FIFO 10, internal watchdog thread SCHED_FIFO 11; memory locked as used (mlockall)")
        #expect(log.all.map(\.0) == [.notice])
    }

    @Test func theOffReflexThreadRunsTwoAboveTheControlThread() {
        let log = RecordedLog()
        let system = ScriptedRealtimeSystem()
        let line = RealtimeSetup.apply(RealtimeSettings(), monitor: pthread_self(), reflex: pthread_self(), logger: log.logger, system: system)
        #expect(system.fifoCalls == [10, 11, 12])
        #expect(line == "realtime: control thread SCHED_FIFO 10, internal watchdog thread SCHED_FIFO 11, off reflex thread SCHED_FIFO 12; memory locked as used (mlockall)")
    }

    @Test func withoutPermissionItLogsOneWarningAndGoesOn() {
        let log = RecordedLog()
        let system = ScriptedRealtimeSystem()
        system.fifoAnswer = EPERM
        system.lockAnswer = ENOMEM
        let line = RealtimeSetup.apply(RealtimeSettings(), monitor: pthread_self(), logger: log.logger, system: system)
        #expect(system.fifoCalls == [10], "the watchdog thread is not tried once the control thread was refused")
        #expect(system.lockCalls == 1)
        #expect(log.all.count == 1)
        #expect(log.all.first?.0 == .warning)
        #expect(line.contains("SCHED_FIFO 10 refused (errno \(EPERM): no permission)"))
        #expect(line.contains("mlockall refused (errno \(ENOMEM): over RLIMIT_MEMLOCK)"))
        #expect(line.hasSuffix("running on as a normal process"))
    }

    @Test func otherAndNoLockAskForNothing() {
        let log = RecordedLog()
        let system = ScriptedRealtimeSystem()
        var settings = RealtimeSettings()
        settings.scheduling = .other
        settings.lockMemory = false
        RealtimeSetup.apply(settings, monitor: nil, logger: log.logger, system: system)
        #expect(system.fifoCalls.isEmpty && system.lockCalls == 0)
        #expect(log.all.map(\.0) == [.notice])
    }
}
