import Glibc
import PackGuardCore

/// The outside world of a test chip: what drives its lines and what a meter would read.
/// The simulated chip is one; the real-kernel rig provides one over gpio-sim's sysfs.
public protocol GPIOTestWorld: Sendable {
    func drive(_ lineName: String, _ drive: WorldDrive) throws
    func physicalLevel(_ lineName: String) throws -> Bool
}

extension SimulatedGPIO: GPIOTestWorld {}

public struct ContractFailure: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The contract every GPIO backend honours, written once and run against the simulated chip
/// (unit tests) and libgpiod on gpio-sim (the real-kernel rig). Each check uses fresh lines and
/// releases them, so checks are independent.
public struct GPIOContract: Sendable {
    public struct Check: Sendable {
        public let name: String
        let body: @Sendable () throws -> Void
    }

    public let backend: any GPIOBackend
    public let world: any GPIOTestWorld
    /// At least four free, named lines on one chip.
    public let lines: [String]

    public init(backend: any GPIOBackend, world: any GPIOTestWorld, lines: [String]) {
        precondition(lines.count >= 4, "the contract needs four free lines")
        self.backend = backend
        self.world = world
        self.lines = lines
    }

    public var checks: [Check] {
        [
            Check(name: "initial values are honoured at request") { try initialValues() },
            Check(name: "bias and active-low give logical levels") { try biasAndActiveLow() },
            Check(name: "line info reads back direction, active-low, bias and consumer") { try lineInfoReadBack() },
            Check(name: "both edges arrive through a pollable fd with monotonic timestamps") { try bothEdges() },
            Check(name: "set and read round trip") { try setReadRoundTrip() },
            Check(name: "a busy line names its consumer") { try busyLine() },
            Check(name: "a missing line lists similar names") { try missingLine() },
            Check(name: "release returns lines to the kernel") { try release() },
        ]
    }

    /// Runs every check; returns (name, failure text or nil).
    public func run() -> [(name: String, failure: String?)] {
        checks.map { check in
            do {
                try check.body()
                return (check.name, nil)
            } catch {
                return (check.name, "\(error)")
            }
        }
    }

    // MARK: - Checks

    private func chipAndOffset(_ name: String) throws -> (any GPIOChip, Int) {
        let resolver = try LineResolver(backend: backend)
        let found = try resolver.resolve(.name(name))
        return (found.chip, found.offset)
    }

    private func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ContractFailure(message()) }
    }

    func initialValues() throws {
        let (chip, a) = try chipAndOffset(lines[0])
        let (_, b) = try chipAndOffset(lines[1])
        let request = try chip.requestOutputs([
            OutputLineSettings(offset: a, activeLow: false, initial: .inactive),
            OutputLineSettings(offset: b, activeLow: true, initial: .inactive),
        ], consumer: "contract")
        defer { request.release() }
        try expect(try world.physicalLevel(lines[0]) == false, "\(lines[0]) active-high, initial inactive: expected low")
        try expect(try world.physicalLevel(lines[1]) == true, "\(lines[1]) active-low, initial inactive: expected high")
        try expect(try request.values() == [.inactive, .inactive], "read back of initial values")
        request.release()
        let again = try chip.requestOutputs([OutputLineSettings(offset: a, activeLow: false, initial: .active)], consumer: "contract")
        defer { again.release() }
        try expect(try world.physicalLevel(lines[0]) == true, "\(lines[0]) initial active: expected high")
    }

    func biasAndActiveLow() throws {
        let (chip, a) = try chipAndOffset(lines[2])
        let request = try chip.requestInputs([InputLineSettings(offset: a, activeLow: true, bias: .pullUp)], consumer: "contract")
        defer { request.release() }
        try expect(try request.values() == [.inactive], "pull-up, active-low, nothing driving: expected inactive")
        try world.drive(lines[2], .low)
        try waitUntil { try request.values() == [.active] }
        try expect(try request.values() == [.active], "driven low, active-low: expected active")
        try world.drive(lines[2], .high)
        try waitUntil { try request.values() == [.inactive] }
        try expect(try request.values() == [.inactive], "driven high, active-low: expected inactive")
    }

    /// What `packguard lines` shows: libgpiod v1 and v2 report "no bias" differently (AS_IS vs
    /// UNKNOWN); both must read as `.asIs`.
    func lineInfoReadBack() throws {
        let (chip, a) = try chipAndOffset(lines[2])
        let (_, b) = try chipAndOffset(lines[3])
        let cases: [(Bias, Bool)] = [(.pullUp, true), (.pullDown, false), (.disabled, true)]
        for (bias, activeLow) in cases {
            let input = try chip.requestInputs([InputLineSettings(offset: a, activeLow: activeLow, bias: bias)], consumer: "contract-in")
            let info = try chip.lineInfo(offset: a)
            input.release()
            try expect(info.used && !info.isOutput && info.consumer == "contract-in",
                       "input \(bias): used \(info.used), output \(info.isOutput), consumer '\(info.consumer)'")
            try expect(info.activeLow == activeLow && info.bias == bias,
                       "input requested \(bias), active-low \(activeLow): line info says \(info.bias), active-low \(info.activeLow)")
        }
        let output = try chip.requestOutputs([OutputLineSettings(offset: b, activeLow: true, initial: .inactive)], consumer: "contract-out")
        let info = try chip.lineInfo(offset: b)
        output.release()
        try expect(info.used && info.isOutput && info.activeLow && info.bias == .asIs && info.consumer == "contract-out",
                   "active-low output: line info says used \(info.used), output \(info.isOutput), active-low \(info.activeLow), bias \(info.bias), consumer '\(info.consumer)'")
        let free = try chip.lineInfo(offset: a)
        try expect(!free.used && !free.activeLow && free.bias == .asIs && free.consumer.isEmpty,
                   "released line: used \(free.used), active-low \(free.activeLow), bias \(free.bias), consumer '\(free.consumer)'")
    }

    func bothEdges() throws {
        let (chip, a) = try chipAndOffset(lines[3])
        try world.drive(lines[3], .low)
        let request = try chip.requestInputs([InputLineSettings(offset: a, activeLow: false, bias: .disabled)], consumer: "contract")
        defer { request.release() }
        try world.drive(lines[3], .low)
        _ = try request.readEdgeEvents()  // anything from the request itself
        guard let fd = request.eventFileDescriptor else { throw ContractFailure("input request has no event fd") }
        try expect(!pollReadable(fd, timeoutMs: 0), "event fd readable with no edge pending")
        var events: [EdgeEvent] = []
        for drive in [WorldDrive.high, .low, .high] {
            try world.drive(lines[3], drive)
            try expect(pollReadable(fd, timeoutMs: 1000), "no POLLIN within 1 s after driving \(lines[3]) \(drive)")
            events += try request.readEdgeEvents()
        }
        try expect(events.map(\.edge) == [.rising, .falling, .rising], "edges \(events.map(\.edge)), expected rising, falling, rising")
        try expect(events.allSatisfy { $0.offset == a }, "events name offset \(a)")
        let stamps = events.map(\.timestampNanoseconds)
        try expect(zip(stamps, stamps.dropFirst()).allSatisfy { $0 <= $1 }, "timestamps not monotonic: \(stamps)")
        try expect(try request.readEdgeEvents().isEmpty, "events read twice")
    }

    func setReadRoundTrip() throws {
        let (chip, a) = try chipAndOffset(lines[0])
        let request = try chip.requestOutputs([OutputLineSettings(offset: a, activeLow: true, initial: .inactive)], consumer: "contract")
        defer { request.release() }
        for level in [Level.active, .inactive, .active] {
            try request.setValues([level])
            try expect(try request.values() == [level], "read back \(level)")
            try expect(try world.physicalLevel(lines[0]) == !level.isActive, "active-low \(level): wrong physical level")
        }
    }

    func busyLine() throws {
        let (chip, a) = try chipAndOffset(lines[1])
        let first = try chip.requestOutputs([OutputLineSettings(offset: a, activeLow: false, initial: .inactive)], consumer: "first-owner")
        defer { first.release() }
        do {
            let second = try chip.requestInputs([InputLineSettings(offset: a, activeLow: false, bias: .asIs)], consumer: "contract")
            second.release()
            throw ContractFailure("requesting a held line succeeded")
        } catch let error as GPIOError {
            try expect(error.kind == .lineBusy(consumer: "first-owner"), "expected busy naming first-owner, got \(error)")
            try expect(error.description.contains("first-owner"), "message names the consumer: \(error)")
        }
    }

    func missingLine() throws {
        let resolver = try LineResolver(backend: backend)
        let misspelt = lines[0].lowercased() + "x"
        do {
            _ = try resolver.resolve(.name(misspelt))
            throw ContractFailure("a missing line was found")
        } catch let error as GPIOError {
            guard case .lineNotFound(let similar) = error.kind else { throw ContractFailure("expected not found, got \(error)") }
            try expect(similar.contains(lines[0]), "similar names \(similar) should include \(lines[0])")
        }
    }

    func release() throws {
        let (chip, a) = try chipAndOffset(lines[0])
        try world.drive(lines[0], .low)
        let request = try chip.requestOutputs([OutputLineSettings(offset: a, activeLow: false, initial: .active)], consumer: "contract")
        try expect(try chip.lineInfo(offset: a).used, "line in use while requested")
        try expect(try chip.lineInfo(offset: a).consumer == "contract", "consumer recorded")
        request.release()
        request.release()  // exactly once: a second release is a no-op
        try expect(try !chip.lineInfo(offset: a).used, "line free after release")
        try expect(try world.physicalLevel(lines[0]) == false, "a released output reverts to its pull (low)")
        do {
            try request.setValues([.active])
            throw ContractFailure("set after release succeeded")
        } catch is GPIOError {}
    }

    private func waitUntil(_ condition: () throws -> Bool) throws {
        for _ in 0..<100 {
            if try condition() { return }
            usleep(10_000)
        }
    }
}

/// True when `fd` becomes readable within the timeout.
public func pollReadable(_ fd: Int32, timeoutMs: Int32) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&entry, 1, timeoutMs) == 1 && entry.revents & Int16(POLLIN) != 0
}
