// System calls made to fail through the platform layer (FaultInjectingSystemCalls): the errors
// name what failed, and the daemon's reaction is the safe one.
#if os(Linux)
import Glibc
import Logging
import PackGuardConfig
import PackGuardCore
import PackGuardGPIO
import PackGuardPlatform
import Synchronization
import Testing
@testable import PackGuardDaemon

/// A notifier that sends through a real SystemdNotifier, so its failures are the real ones.
private struct SystemdServiceNotifier: ServiceNotifier {
    let notifier: SystemdNotifier
    var watchdogIntervalNanoseconds: UInt64? { notifier.watchdogInterval }
    func notify(_ fields: [String]) throws { try notifier.send(fields) }
}

@Suite("Injected system-call failures")
struct InjectedFailureTests {
    @Test func aWatchdogWhoseTimeoutCannotBeSetIsDisarmedAndNamesTheCall() throws {
        let directory = PlatformTestDirectory()
        let path = try emptyFile(directory.file("watchdog"))
        let system = FaultInjectingSystemCalls(wrapping: LinuxSystemCalls())
        system.fail(.ioctl, errno: EINVAL)
        #expect(throws: HardwareWatchdogError(operation: .setTimeout, path: path, errno: EINVAL, requestedTimeoutSeconds: 20)) {
            try HardwareWatchdog(path: path, timeoutSeconds: 20, system: system)
        }
        #expect(try readBytes(path) == [UInt8(ascii: "V")], "the magic close went out before the error")
    }

    @Test func aFailingPetIsLoggedOnceAndItsRecoveryOnce() throws {
        let directory = PlatformTestDirectory()
        let path = try emptyFile(directory.file("watchdog"))
        let system = FaultInjectingSystemCalls(wrapping: LinuxSystemCalls())
        let watchdog = try HardwareWatchdog(path: path, timeoutSeconds: nil, petMethod: .write, system: system)
        var configuration = BuiltInConfiguration.load()
        configuration.hardwareWatchdog.petIntervalMs = 100
        let log = RecordedLog()
        let gpio = SimulatedGPIO.raspberryPi()
        let clock = VirtualClock(start: .milliseconds(10_000))
        let controller = Controller(configuration: configuration, lines: try SignalLines(configuration: configuration, backend: gpio),
                                    backendDescription: "simulated", clock: clock, logger: log.logger, watchdog: watchdog)
        func run(ms: Int) throws {
            for _ in 0..<(ms / 50) {
                clock.advance(.milliseconds(50))
                try controller.step(now: clock.now())
            }
        }
        try run(ms: 500)
        let petsBefore = try readBytes(path).count
        #expect(petsBefore >= 4)
        #expect(controller.statusReport?.watchdogs.hardwarePets == petsBefore, "status counts the pets that reached the device")
        system.fail(.write, errno: EIO, times: nil)
        try run(ms: 2000)
        #expect(system.failures(of: .write) >= 19, "retried at every step")
        let failures = log.all.filter { $0.1.contains("petting") && $0.1.contains("failed") }
        #expect(failures.count == 1, "\(failures)")
        #expect(failures.first?.0 == .error)
        #expect(failures.first?.1.contains("Input/output error (errno 5)") == true)
        system.heal()
        try run(ms: 500)
        #expect(log.all.filter { $0.1.contains("works again") }.count == 1)
        #expect(try readBytes(path).count > petsBefore, "pets reach the device again")
        #expect(controller.statusReport?.watchdogs.hardwarePets == (try readBytes(path).count), "failed pets are not counted")
    }

    @Test func aForceOffThatCannotBePersistedStillHoldsEveryRelayOpen() throws {
        let directory = PlatformTestDirectory()
        let system = FaultInjectingSystemCalls(wrapping: LinuxSystemCalls())
        let store = ForceOffStore(directory: directory.file("state"), system: system)
        let rig = try Rig(store: store)
        rig.bms("GPIO17", asserted: true)
        rig.bms("GPIO27", asserted: true)
        try rig.run(ms: 4000)
        #expect(rig.gpio.physicalLevel("GPIO16"), "the charge relay closed")
        system.fail(.fsync, errno: ENOSPC)
        let failure = rig.controller.submit(.forceOff(true))
        #expect(failure?.description.contains("write force-off state") == true, "\(String(describing: failure))")
        #expect(failure?.description.contains("No space left on device (errno 28)") == true)
        try rig.step()
        #expect(!rig.gpio.physicalLevel("GPIO16"), "force-off on is applied even when it cannot be persisted")
        #expect(!rig.gpio.physicalLevel("GPIO20"))
    }

    @Test func aStateDirectoryThatCannotBeReadIsAnErrorNeverOff() {
        let directory = PlatformTestDirectory()
        let system = FaultInjectingSystemCalls(wrapping: LinuxSystemCalls())
        let store = ForceOffStore(directory: directory.path, system: system)
        system.fail(.access, errno: EACCES, path: store.path)
        #expect(throws: ForceOffStore.StoreError.self) { try store.load() }
    }

    @Test func notifySocketAndSendFailuresNameTheAddressAndErrno() {
        let system = FaultInjectingSystemCalls(wrapping: LinuxSystemCalls())
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/nowhere/notify"], system: system)
        system.fail(.socket, errno: EMFILE)
        #expect(throws: SystemdNotifyError.socket(address: "/run/nowhere/notify", errno: EMFILE)) { try notifier.send(["READY=1"]) }
        system.fail(.sendto, errno: ECONNREFUSED)
        #expect(throws: SystemdNotifyError.send(address: "/run/nowhere/notify", errno: ECONNREFUSED)) { try notifier.send(["READY=1"]) }
    }
}

private func emptyFile(_ path: String) throws -> String {
    try TextFile.write("", to: path)
    return path
}

private func readBytes(_ path: String) throws -> [UInt8] {
    let text = try TextFile.read(path)
    return Array(text.utf8)
}
#endif
