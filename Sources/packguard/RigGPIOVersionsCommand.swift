import ArgumentParser
import PackGuardCommandLine
import Glibc
import PackGuardCore
import PackGuardGPIO

/// `packguard rig gpio-versions`: probes where libgpiod v1 and v2 (and their kernel uAPIs) could
/// behave differently, on gpio-sim lines, and checks each against what the shim documents for the
/// version this binary was built with (Sources/CGPIOShim/gpio_shim_v1.c, gpio_shim_v2.c).
/// rig/guest-gpio-versions.sh runs it once per build. Prints `PASS name | observed` or
/// `FAIL name: why | observed`; exit 1 on any failure.
struct RigGPIOVersionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpio-versions",
        abstract: "Probe libgpiod v1/v2 differences on gpio-sim lines (short pulses, FIFO overflow, timestamps).")

    @Option(help: "Two free gpio-sim lines, by name, comma-separated.")
    var lines: String = "GPIO5,GPIO6"

    @Option(help: "A gpio-sim line another process holds (`packguard rig hold`), and its consumer: LINE=CONSUMER.")
    var held: String?

    func run() throws {
        let names = lines.split(separator: ",").map(String.init)
        guard names.count >= 2 else { throw ValidationError("--lines needs two line names") }
        let backend = LibgpiodBackend()
        let world: GPIOSimWorld
        do { world = try GPIOSimWorld(lines: names, backend: backend) } catch {
            printError("gpio-sim lines: \(error)")
            throw ExitCode(1)
        }
        let version = backend.description.hasPrefix("libgpiod v2 ") ? 2 : 1
        print("backend: \(backend.description)")
        let probes = GPIOVersionProbes(backend: backend, world: world, lines: names, version: version)
        var results: [(String, Result<String, ContractFailureText>)] = [
            ("short pulses: events name the line, in time order, the last one gives the final level", probes.run(probes.shortPulses)),
            ("event FIFO overflow: v\(version) keeps the \(version == 1 ? "oldest" : "newest") 16 events; levels read the truth",
             probes.run(probes.overflow)),
            ("timestamps: CLOCK_MONOTONIC, between the edge and the read", probes.run(probes.timestamps)),
        ]
        if let held {
            let parts = held.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--held LINE=CONSUMER") }
            results.append(("a line another process holds: the error names the line and its consumer",
                            probes.run { try probes.heldElsewhere(line: parts[0], consumer: parts[1]) }))
        }
        for (name, result) in results {
            switch result {
            case .success(let observed): print("PASS \(name) | \(observed)")
            case .failure(let failure): print("FAIL \(name): \(failure.text)")
            }
        }
        let failed = results.filter { if case .failure = $0.1 { true } else { false } }.count
        print("\(results.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}

struct ContractFailureText: Error { let text: String }

struct GPIOVersionProbes {
    let backend: LibgpiodBackend
    let world: GPIOSimWorld
    let lines: [String]
    let version: Int

    /// The kernel's event FIFO for a one-line request: 16 for uAPI v1 (per line) and for v2 (16 per line).
    static let fifo = 16

    func run(_ probe: () throws -> String) -> Result<String, ContractFailureText> {
        do { return .success(try probe()) } catch { return .failure(ContractFailureText(text: "\(error)")) }
    }

    private func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ContractFailureText(text: message()) }
    }

    private func input(_ name: String) throws -> any GPIOLineRequest {
        let resolver = try LineResolver(backend: backend)
        let found = try resolver.resolve(.name(name))
        try world.drive(name, .low)
        // Bias disabled: gpio-sim then follows only its simulated pull, which `world` drives.
        let request = try found.chip.requestInputs([InputLineSettings(offset: found.offset, activeLow: false, bias: .disabled)],
                                                   consumer: "rig-versions")
        try world.drive(name, .low)
        usleep(20_000)
        _ = try request.readEdgeEvents()  // whatever the request itself caused
        return request
    }

    private func drain(_ request: any GPIOLineRequest) throws -> [EdgeEvent] {
        var events: [EdgeEvent] = []
        for _ in 0..<50 {
            let batch = try request.readEdgeEvents()
            if batch.isEmpty && !events.isEmpty { break }
            events += batch
            usleep(10_000)
        }
        return events
    }

    private func types(_ events: [EdgeEvent]) -> String {
        String(events.map { $0.edge == .rising ? "R" : "F" })
    }

    /// Six back-to-back pulses (12 edges, under the FIFO size) with no pause: how many events, of
    /// which types. The kernel samples the level in its IRQ thread, so types need not alternate and
    /// edges can merge; what must hold in both versions: events name the line, come in time order,
    /// the last one was sampled after the last edge (falling: the line ends low), and a read gives low.
    func shortPulses() throws -> String {
        let name = lines[0]
        let request = try input(name)
        defer { request.release() }
        for _ in 0..<6 {
            try world.drive(name, .high)
            try world.drive(name, .low)
        }
        usleep(100_000)
        let events = try drain(request)
        let offset = request.offsets[0]
        try expect(!events.isEmpty && events.count <= 12, "\(events.count) events for 12 edges")
        try expect(events.allSatisfy { $0.offset == offset }, "an event names another line: \(events)")
        let stamps = events.map(\.timestampNanoseconds)
        try expect(zip(stamps, stamps.dropFirst()).allSatisfy { $0 <= $1 }, "timestamps out of order: \(stamps)")
        try expect(events.last?.edge == .falling, "last event \(types(events)): the line ended low")
        try expect(try request.values() == [.inactive], "the level read after the pulses is not low")
        let repeats = zip(events, events.dropFirst()).filter { $0.edge == $1.edge }.count
        return "\(events.count) events for 12 edges: \(types(events)) (\(repeats) repeated types)"
    }

    /// 40 edges with nobody reading; the FIFO holds 16. The first 16 edges, then a 100 ms pause
    /// around `middle` (much longer than any clock tick: the guest's clock can be coarse), then 24
    /// more. uAPI v1 drops new events: all 16 kept are from before the pause. v2 drops the oldest:
    /// all 16 kept are from after it. The level read afterwards is the truth in both.
    func overflow() throws -> String {
        let name = lines[1]
        let request = try input(name)
        defer { request.release() }
        var middle: UInt64 = 0
        for index in 0..<40 {
            if index == 16 {
                usleep(100_000)
                middle = monotonicNanoseconds()
                usleep(100_000)
            }
            try world.drive(name, index % 2 == 0 ? .high : .low)
            usleep(1_000)
        }
        usleep(100_000)
        let events = try drain(request)
        let stamps = events.map(\.timestampNanoseconds)
        let before = stamps.filter { $0 < middle }.count
        let observed = "\(events.count) events kept of 40 edges: \(before) from the first 16 edges, \(events.count - before) from the last 24: \(types(events))"
        try expect(events.count == Self.fifo, "expected the FIFO's \(Self.fifo) events | \(observed)")
        if version == 1 {
            try expect(before == Self.fifo, "v1 should keep the first 16 edges | \(observed)")
        } else {
            try expect(before == 0, "v2 should keep the last 16 edges | \(observed)")
        }
        try expect(try request.values() == [.inactive], "the level read after the overflow is not low (the line ended low) | \(observed)")
        return observed
    }

    /// Both versions request (v2) or get (v1, Linux >= 5.7) CLOCK_MONOTONIC event timestamps.
    func timestamps() throws -> String {
        let name = lines[0]
        let request = try input(name)
        defer { request.release() }
        let before = monotonicNanoseconds()
        try world.drive(name, .high)
        let written = monotonicNanoseconds()
        usleep(50_000)
        let events = try drain(request)
        let read = monotonicNanoseconds()
        guard let event = events.first, events.count == 1 else {
            throw ContractFailureText(text: "expected one event, got \(events)")
        }
        var realtime = timespec()
        clock_gettime(CLOCK_REALTIME, &realtime)
        try expect(event.timestampNanoseconds >= before && event.timestampNanoseconds <= read,
                   "timestamp \(event.timestampNanoseconds) outside [\(before), \(read)] (CLOCK_MONOTONIC); CLOCK_REALTIME is \(realtime.tv_sec) s")
        return "stamp within [write began, read] on CLOCK_MONOTONIC: +\((event.timestampNanoseconds - before) / 1000) µs, write \((written - before) / 1000) µs, read +\((read - before) / 1000) µs"
    }

    /// A line requested by another process: requesting it fails EBUSY, naming line and consumer.
    func heldElsewhere(line: String, consumer: String) throws -> String {
        let resolver = try LineResolver(backend: backend)
        let found = try resolver.resolve(.name(line))
        let info = try found.chip.lineInfo(offset: found.offset)
        try expect(info.used && info.consumer == consumer, "line info: used \(info.used), consumer '\(info.consumer)'")
        do {
            let request = try found.chip.requestInputs([InputLineSettings(offset: found.offset, activeLow: false, bias: .asIs)],
                                                       consumer: "rig-versions")
            request.release()
            throw ContractFailureText(text: "requesting \(line) succeeded although '\(consumer)' holds it")
        } catch let error as GPIOError {
            try expect(error.kind == .lineBusy(consumer: consumer) && error.errno == EBUSY, "\(error)")
            try expect(error.description.contains(line) && error.description.contains("'\(consumer)'"), "\(error)")
            return error.description
        }
    }
}

/// `packguard rig hold`: holds lines as outputs until killed, like another program (gpioset) would.
struct RigHoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Request gpio-sim lines as outputs (inactive) and hold them until killed.")

    @Option(help: "Lines, by name, comma-separated.")
    var lines: String

    @Option(help: "The consumer name the kernel records.")
    var consumer: String = "rig-holder"

    func run() throws {
        let resolver = try LineResolver(backend: LibgpiodBackend())
        var requests: [any GPIOLineRequest] = []
        for name in lines.split(separator: ",").map(String.init) {
            let found = try resolver.resolve(.name(name))
            requests.append(try found.chip.requestOutputs([OutputLineSettings(offset: found.offset, activeLow: false, initial: .inactive)],
                                                          consumer: consumer))
        }
        print("held \(lines) as '\(consumer)'")
        fflush(nil)  // every output stream: the rig waits for this line
        while true { pause() }
    }
}

/// `packguard rig set-lines`: requests lines as one output request (inactive), sets them all
/// active in one write, and prints the error (if any) and each line's physical level while still
/// held. With rig/fault-set-values.so preloaded, chosen lines' writes fail: the rig checks that
/// every other line was still set and that the error names each failed line.
struct RigSetLinesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-lines",
        abstract: "Set gpio-sim lines active in one write; print the error and the physical levels.")

    @Option(help: "Lines of one chip, by name, comma-separated.")
    var lines: String

    func run() throws {
        let names = lines.split(separator: ",").map(String.init)
        let backend = LibgpiodBackend()
        let world = try GPIOSimWorld(lines: names, backend: backend)
        let resolver = try LineResolver(backend: backend)
        let found = try names.map { name throws(GPIOError) in try resolver.resolve(.name(name)) }
        let request = try found[0].chip.requestOutputs(found.map { OutputLineSettings(offset: $0.offset, activeLow: false, initial: .inactive) },
                                                       consumer: "rig-set-lines")
        defer { request.release() }
        var failed = false
        do {
            try request.setValues(names.map { _ in .active })
            print("set: ok")
        } catch {
            failed = true
            print("set: error: \(error)")
        }
        let levels = try names.map { "\($0)=\(try world.physicalLevel($0) ? 1 : 0)" }
        print("levels: \(levels.joined(separator: " "))")
        if failed { throw ExitCode(1) }
    }
}

/// `packguard rig gpio-vanish`: holds an output and an input on a gpio-sim chip, takes the chip away
/// (configfs `live` 0, as an unbind or unplug would) and reports what every operation then does.
/// Each must fail as `chipMissing` (never succeed silently, never crash), in both versions.
struct RigGPIOVanishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpio-vanish",
        abstract: "Hold lines of a gpio-sim chip, write 0 to its configfs live, report every operation.")

    @Option(help: "An output line and an input line of the chip that goes away: OUT,IN.")
    var lines: String

    @Option(help: "The chip's configfs live attribute, e.g. /sys/kernel/config/gpio-sim/NAME/live.")
    var live: String

    func run() throws {
        let names = lines.split(separator: ",").map(String.init)
        guard names.count == 2 else { throw ValidationError("--lines OUT,IN") }
        let backend = LibgpiodBackend()
        print("backend: \(backend.description)")
        let resolver = try LineResolver(backend: backend)
        let out = try resolver.resolve(.name(names[0]))
        let inp = try resolver.resolve(.name(names[1]))
        let output = try out.chip.requestOutputs([OutputLineSettings(offset: out.offset, activeLow: false, initial: .inactive)], consumer: "rig-vanish")
        let input = try inp.chip.requestInputs([InputLineSettings(offset: inp.offset, activeLow: false, bias: .pullDown)], consumer: "rig-vanish")
        try output.setValues([.active])
        try writeSysfs(live, "0")
        usleep(50_000)

        var failed = 0
        func report(_ name: String, _ body: () throws(GPIOError) -> String) {
            do {
                let value = try body()
                print("FAIL \(name): succeeded after the chip went away (\(value))")
                failed += 1
            } catch {
                let ok = error.kind == .chipMissing
                print("\(ok ? "PASS" : "FAIL") \(name) | \(error.kind == .chipMissing ? "chip missing" : "\(error.kind)"), errno \(error.errno): \(error)")
                if !ok { failed += 1 }
            }
        }
        if let fd = input.eventFileDescriptor {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, 0)
            print("NOTE event fd after the chip went away: poll \(ready), revents 0x\(String(entry.revents, radix: 16))")
        }
        report("read input values") { () throws(GPIOError) in "\(try input.values())" }
        report("read edge events") { () throws(GPIOError) in "\(try input.readEdgeEvents())" }
        report("set output values") { () throws(GPIOError) in try output.setValues([.inactive]); return "set" }
        report("read output values") { () throws(GPIOError) in "\(try output.values())" }
        report("read line info") { () throws(GPIOError) in "\(try out.chip.lineInfo(offset: out.offset))" }
        output.release()
        input.release()
        print("PASS release after the chip went away | no crash, no error")
        do { print("NOTE chips now: \(try backend.chipPaths())") } catch { print("NOTE chips now: \(error)") }
        if failed > 0 { throw ExitCode(1) }
    }

    private func writeSysfs(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard write(fd, text, text.utf8.count) == text.utf8.count else {
            throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
