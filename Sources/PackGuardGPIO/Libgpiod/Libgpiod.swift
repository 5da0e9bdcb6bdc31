// Every libgpiod call of PackGuard goes through this file, and through the C shim
// (Sources/CGPIOShim), which implements one API over libgpiod v1 and v2.
import CGPIOShim
import Glibc
import PackGuardCore
import Synchronization

/// The real GPIO character devices, through libgpiod.
public struct LibgpiodBackend: GPIOBackend {
    public let deviceDirectory: String

    public init(deviceDirectory: String = "/dev") { self.deviceDirectory = deviceDirectory }

    public var description: String { String(cString: pg_backend_description()) }

    public func chipPaths() throws(GPIOError) -> [String] {
        guard let directory = opendir(deviceDirectory) else {
            throw GPIOError(.systemError, operation: "list \(deviceDirectory)", errno: errno)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix("gpiochip"), Int(name.dropFirst("gpiochip".count)) != nil { names.append(name) }
        }
        guard !names.isEmpty else { throw GPIOError(.noGPIOChips, operation: "find GPIO chips") }
        return names.sorted { Int($0.dropFirst(8))! < Int($1.dropFirst(8))! }.map { "\(deviceDirectory)/\($0)" }
    }

    public func openChip(_ path: String) throws(GPIOError) -> any GPIOChip {
        try LibgpiodChip(path: path)
    }
}

/// Owns one `pg_chip`; closes it in deinit.
final class LibgpiodChip: GPIOChip, @unchecked Sendable {
    // @unchecked: `handle` is immutable after init, and libgpiod chip calls used here only read
    // kernel state through the chip fd; requests made from it are independent objects.
    private let handle: OpaquePointer
    let path: String
    let name: String
    let label: String
    let lineCount: Int

    init(path: String) throws(GPIOError) {
        guard let handle = pg_chip_open(path) else {
            let code = errno
            switch code {
            case ENOENT, ENODEV: throw GPIOError(.chipMissing, operation: "open GPIO chip", chip: path, errno: code)
            case EACCES, EPERM: throw GPIOError(.permissionDenied(group: ownerGroup(of: path)), operation: "open GPIO chip", chip: path, errno: code)
            default: throw GPIOError(.systemError, operation: "open GPIO chip", chip: path, errno: code)
            }
        }
        self.handle = handle
        self.path = path
        self.name = String(cString: pg_chip_name(handle))
        self.label = String(cString: pg_chip_label(handle))
        self.lineCount = Int(pg_chip_num_lines(handle))
    }

    deinit { pg_chip_close(handle) }

    func lineInfo(offset: Int) throws(GPIOError) -> GPIOLineInfo {
        var info = pg_line_info()
        guard pg_chip_line_info(handle, UInt32(offset), &info) == 0 else {
            let code = errno
            // ENODEV once the chip went away (both libgpiod versions, checked on gpio-sim).
            let kind: GPIOError.Kind = (code == ENODEV || code == ENXIO) ? .chipMissing : .systemError
            throw GPIOError(kind, operation: "read line info", chip: name, offset: offset, errno: code)
        }
        return GPIOLineInfo(offset: Int(info.offset), name: string(from: info.name), consumer: string(from: info.consumer),
                            used: info.used, isOutput: info.is_output, activeLow: info.active_low, bias: swiftBias(info.bias))
    }

    func findLine(named lineName: String) throws(GPIOError) -> Int? {
        let offset = pg_chip_find_line(handle, lineName)
        if offset >= 0 { return Int(offset) }
        let code = errno
        if code == ENOENT { return nil }
        let kind: GPIOError.Kind = (code == ENODEV || code == ENXIO) ? .chipMissing : .systemError
        throw GPIOError(kind, operation: "find line by name", chip: name, line: lineName, errno: code)
    }

    func requestInputs(_ lines: [InputLineSettings], consumer: String) throws(GPIOError) -> any GPIOLineRequest {
        let settings = lines.map { line in
            pg_input_line(offset: UInt32(line.offset), bias: shimBias(line.bias), active_low: line.activeLow)
        }
        let request = settings.withUnsafeBufferPointer { pg_request_inputs(handle, consumer, $0.baseAddress, $0.count) }
        guard let request else { throw requestError(lines.map(\.offset), operation: "request input lines") }
        return LibgpiodRequest(handle: request, chip: name, offsets: lines.map(\.offset), isInput: true)
    }

    func requestOutputs(_ lines: [OutputLineSettings], consumer: String) throws(GPIOError) -> any GPIOLineRequest {
        let settings = lines.map { line in
            pg_output_line(offset: UInt32(line.offset), active_low: line.activeLow, initial_value: line.initial.isActive ? 1 : 0)
        }
        let request = settings.withUnsafeBufferPointer { pg_request_outputs(handle, consumer, $0.baseAddress, $0.count) }
        guard let request else { throw requestError(lines.map(\.offset), operation: "request output lines") }
        return LibgpiodRequest(handle: request, chip: name, offsets: lines.map(\.offset), isInput: false)
    }

    /// Turns a failed request into the most useful error: for EBUSY, which line and who holds it.
    private func requestError(_ offsets: [Int], operation: String) -> GPIOError {
        let code = errno
        if code == EBUSY {
            for offset in offsets {
                do {
                    let info = try lineInfo(offset: offset)
                    if info.used {
                        return GPIOError(.lineBusy(consumer: info.consumer), operation: operation, chip: name,
                                         line: info.name.isEmpty ? nil : info.name, offset: offset, errno: code)
                    }
                } catch {
                    continue  // no info for this line: the plain EBUSY error below still says what failed
                }
            }
        }
        if code == ENODEV || code == ENXIO {
            return GPIOError(.chipMissing, operation: operation, chip: name, errno: code)
        }
        let offsetText = offsets.count == 1 ? offsets.first : nil
        return GPIOError(.systemError, operation: operation, chip: name, offset: offsetText, errno: code)
    }
}

/// Owns one `pg_request`; released exactly once, by `release()` or deinit.
final class LibgpiodRequest: GPIOLineRequest {
    private struct Handle: @unchecked Sendable {
        // Only ever used while holding the mutex below.
        var pointer: OpaquePointer?
    }

    private let handle: Mutex<Handle>
    let chip: String
    let offsets: [Int]
    let eventFileDescriptor: Int32?

    init(handle pointer: OpaquePointer, chip: String, offsets: [Int], isInput: Bool) {
        self.handle = Mutex(Handle(pointer: pointer))
        self.chip = chip
        self.offsets = offsets
        let fd = pg_request_event_fd(pointer)
        self.eventFileDescriptor = isInput && fd >= 0 ? fd : nil
    }

    deinit { release() }

    func release() {
        handle.withLock { handle in
            if let pointer = handle.pointer { pg_request_release(pointer) }
            handle.pointer = nil
        }
    }

    /// The C handle, nil once released. For a call that spans several requests (the off reflex's
    /// `releaseReact`): the caller must keep every one of them from being released until the call
    /// returns, as `SignalLines` does by holding its locks (a reload releases lines only under them,
    /// or after they no longer hold them).
    var pointer: OpaquePointer? { handle.withLock { $0.pointer } }

    /// The error of `operation` on this request that failed with `code`.
    func failure(_ operation: String, errno code: Int32) -> GPIOError {
        let kind: GPIOError.Kind = (code == ENODEV || code == ENXIO) ? .chipMissing : .systemError
        let offset = offsets.count == 1 ? offsets.first : nil
        return GPIOError(kind, operation: operation, chip: chip, offset: offset, errno: code)
    }

    /// What `releaseReact` did.
    enum ReleaseReactOutcome {
        /// The input could not be read (or a request was released): nothing was written.
        case unreadable
        /// The input reads asserted: nothing was written.
        case asserted
        /// The input reads released and every output was driven off.
        case opened
        /// The input reads released; every output was attempted and `outputErrors` says which failed.
        case notAllOpened
    }

    /// The off reflex's read-then-write in one C call (`pg_release_react`): reads `input`'s one
    /// line and, if it reads released, drives each of `outputs` (one line each) off. `outputErrors`
    /// (one slot per output) receives 0 or each output's errno once the input read released. The
    /// caller holds what keeps every request from being released (see `pointer`).
    static func releaseReact(input: LibgpiodRequest, outputs: UnsafeBufferPointer<LibgpiodRequest>,
                             outputErrors: UnsafeMutableBufferPointer<Int32>) -> ReleaseReactOutcome {
        precondition(outputErrors.count == outputs.count, "one error slot per output")
        guard let inputPointer = input.pointer else { return .unreadable }
        return withUnsafeTemporaryAllocation(of: OpaquePointer?.self, capacity: max(1, outputs.count)) { pointers in
            for index in outputs.indices {
                // Released: no output a reflex reaches can be (see `pointer`); if one were, nothing is written.
                guard let pointer = outputs[index].pointer else { return .unreadable }
                pointers[index] = pointer
            }
            switch pg_release_react(inputPointer, pointers.baseAddress, outputs.count, outputErrors.baseAddress) {
            case PG_REACT_OPENED: return .opened
            case PG_REACT_ASSERTED: return .asserted
            case PG_REACT_NOT_ALL_OPENED: return .notAllOpened
            default: return .unreadable
            }
        }
    }

    private func withHandle<T>(_ operation: String, _ body: (OpaquePointer) -> T?) throws(GPIOError) -> T {
        let result: Result<T, GPIOError> = handle.withLock { handle in
            guard let pointer = handle.pointer else {
                return .failure(GPIOError(.systemError, operation: "\(operation) (request already released)", chip: chip, errno: EBADF))
            }
            if let value = body(pointer) { return .success(value) }
            let code = errno
            let kind: GPIOError.Kind = (code == ENODEV || code == ENXIO) ? .chipMissing : .systemError
            let offset = offsets.count == 1 ? offsets.first : nil
            return .failure(GPIOError(kind, operation: operation, chip: chip, offset: offset, errno: code))
        }
        return try result.get()
    }

    func readValues(into buffer: UnsafeMutableBufferPointer<Level>) throws(GPIOError) {
        precondition(buffer.count == offsets.count, "one slot per requested line")
        try withHandle("read line values") { pointer in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: buffer.count) { raw -> Void? in
                guard pg_request_get_values(pointer, raw.baseAddress, raw.count) == 0 else { return nil }
                for index in 0..<raw.count { buffer[index] = Level(raw[index] != 0) }
                return ()
            }
        }
    }

    func writeValues(_ values: UnsafeBufferPointer<Level>) throws(GPIOError) {
        precondition(values.count == offsets.count, "one value per requested line")
        let operation = "set line values"
        // Stack buffers (this runs on every healthy step); the list of failed lines is only built
        // on failure. The shim attempts every line even when one fails (libgpiod v1 sets them one
        // by one) and reports each line's errno; v2 sets them in one call, all or none.
        let failure: GPIOError? = handle.withLock { handle in
            guard let pointer = handle.pointer else {
                return GPIOError(.systemError, operation: "\(operation) (request already released)", chip: chip, errno: EBADF)
            }
            return withUnsafeTemporaryAllocation(of: Int32.self, capacity: values.count) { raw -> GPIOError? in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: values.count) { lineErrors -> GPIOError? in
                    for index in 0..<values.count {
                        raw[index] = values[index].isActive ? 1 : 0
                        lineErrors[index] = 0  // a call refused as a whole (bad arguments) reports no line
                    }
                    guard pg_request_set_values(pointer, raw.baseAddress, raw.count, lineErrors.baseAddress) != 0 else { return nil }
                    let code = errno
                    var failed: [GPIOError.LineFailure] = []
                    for index in 0..<values.count where lineErrors[index] != 0 {
                        failed.append(GPIOError.LineFailure(offset: offsets[index], errno: lineErrors[index]))
                    }
                    let kind: GPIOError.Kind = (code == ENODEV || code == ENXIO) ? .chipMissing : .systemError
                    // One line (of the request, or of those that failed) is named as the error's line.
                    let offset = offsets.count == 1 ? offsets.first : (failed.count == 1 ? failed.first?.offset : nil)
                    return GPIOError(kind, operation: operation, chip: chip, offset: offset, errno: code,
                                     failedLines: offsets.count > 1 ? failed : [])
                }
            }
        }
        if let failure { throw failure }
    }

    func readEdgeEvents() throws(GPIOError) -> [EdgeEvent] {
        try withHandle("read edge events") { pointer in
            var events: [EdgeEvent] = []  // empty, and so not allocated, when no edge is pending
            return withUnsafeTemporaryAllocation(of: pg_edge_event.self, capacity: 16) { buffer -> [EdgeEvent]? in
                while true {
                    let count = pg_request_read_events(pointer, buffer.baseAddress, buffer.count)
                    if count < 0 { return nil }
                    for event in buffer.prefix(Int(count)) {
                        events.append(EdgeEvent(offset: Int(event.offset), edge: event.edge == PG_EDGE_RISING ? .rising : .falling,
                                                timestampNanoseconds: event.timestamp_ns))
                    }
                    if count < buffer.count { return events }
                }
            }
        }
    }
}

private func shimBias(_ bias: Bias) -> pg_bias {
    switch bias {
    case .asIs: PG_BIAS_AS_IS
    case .disabled: PG_BIAS_DISABLED
    case .pullUp: PG_BIAS_PULL_UP
    case .pullDown: PG_BIAS_PULL_DOWN
    }
}

private func swiftBias(_ bias: pg_bias) -> Bias {
    switch bias {
    case PG_BIAS_DISABLED: .disabled
    case PG_BIAS_PULL_UP: .pullUp
    case PG_BIAS_PULL_DOWN: .pullDown
    default: .asIs
    }
}

private func string<T>(from tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
}

/// The group that owns a device node ("gpio" on Raspberry Pi OS), to tell the user what to join.
func ownerGroup(of path: String) -> String? {
    var info = stat()
    guard stat(path, &info) == 0, let group = getgrgid(info.st_gid) else { return nil }
    return String(cString: group.pointee.gr_name)
}

/// The off reflex's C table (`pg_reflex_table`, gpio_shim.h), owned by one `SignalLines`, which
/// guards it with its own locks (see there): the plans of which input's release opens which
/// outputs, the outputs applied closed, and what the C reactions did. Its `wait` is the reflex
/// thread's epoll_wait with the reactions of every planned key done in C before it returns, so
/// that nothing but C runs between the edge's wake-up and the relay write.
final class LibgpiodReflexTable: @unchecked Sendable {
    // @unchecked: the C table is only changed under SignalLines' locks or through its atomics.
    private let table: OpaquePointer

    /// Keys (input indices) and output bits are below this.
    static let capacity = Int(PG_REFLEX_KEYS)

    init(outputsLock: UnsafeMutablePointer<pthread_mutex_t>, inputsLock: UnsafeMutablePointer<pthread_mutex_t>) {
        // Fails only with ENOMEM: a machine that cannot run the controller at all.
        guard let table = pg_reflex_table_new(outputsLock, inputsLock) else { preconditionFailure("pg_reflex_table_new: errno \(errno)") }
        self.table = table
    }

    deinit { pg_reflex_table_free(table) }

    /// Under both locks. False (and no plan for `key`) when a request is not libgpiod's.
    @discardableResult
    func setPlan(key: Int, input: any GPIOLineRequest, outputs: [(request: any GPIOLineRequest, bit: UInt32)]) -> Bool {
        precondition(key < Self.capacity && outputs.count <= Int(PG_REFLEX_OUTPUTS), "key \(key) or \(outputs.count) outputs out of range")
        guard let input = (input as? LibgpiodRequest)?.pointer else {
            clearPlan(key: key)
            return false
        }
        var pointers: [OpaquePointer?] = []
        var bits: [UInt32] = []
        for output in outputs {
            guard let pointer = (output.request as? LibgpiodRequest)?.pointer else {
                clearPlan(key: key)
                return false
            }
            pointers.append(pointer)
            bits.append(output.bit)
        }
        // EINVAL only for arguments out of range, which the precondition rules out.
        precondition(pg_reflex_set_plan(table, UInt32(key), input, pointers, bits, pointers.count) == 0, "pg_reflex_set_plan")
        return true
    }

    /// Under both locks.
    func clearPlan(key: Int) {
        precondition(pg_reflex_set_plan(table, UInt32(key), nil, nil, nil, 0) == 0, "pg_reflex_set_plan")
    }

    /// Under both locks.
    func clearPlans() { pg_reflex_clear_plans(table) }

    /// Under the outputs lock.
    func setClosed(_ bits: UInt32) { pg_reflex_set_closed(table, bits) }

    /// Under the outputs lock.
    func takeOpened() -> UInt32 { pg_reflex_take_opened(table) }

    var openings: Int { pg_reflex_openings(table) }
    var releases: Int { pg_reflex_releases(table) }

    /// The keys found released since the last call, each with when its opening write ended (nil:
    /// nothing was closed to drive off).
    func takeReleased() -> [(key: Int, openedAtNanoseconds: Int64?)] {
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: Self.capacity) { openedAt in
            let bits = pg_reflex_take_released(table, openedAt.baseAddress)
            var result: [(key: Int, openedAtNanoseconds: Int64?)] = []
            for key in 0..<Self.capacity where bits & (1 << UInt32(key)) != 0 {
                result.append((key, openedAt[key] >= 0 ? openedAt[key] : nil))
            }
            return result
        }
    }

    func end() { pg_reflex_end(table) }
    var begun: UInt64 { pg_reflex_begun(table) }
    var handled: UInt64 { pg_reflex_handled(table) }
    var beganNanoseconds: Int64 { pg_reflex_began_ns(table) }

    /// `pg_reflex_wait`: fills `wakes` (at most 16) and returns how many, 0 on timeout, or -1 with errno.
    func wait(epoll: Int32, into wakes: UnsafeMutableBufferPointer<ReflexWake>, timeoutMs: Int32) -> Int32 {
        let capacity = min(wakes.count, 16)
        return withUnsafeTemporaryAllocation(of: pg_reflex_result.self, capacity: max(1, capacity)) { results in
            let ready = pg_reflex_wait(table, epoll, results.baseAddress, Int32(capacity), timeoutMs)
            guard ready > 0 else { return ready }
            let code = errno
            for index in 0..<Int(ready) {
                let result = results[index]
                let outcome: ReflexWake.Outcome = switch result.outcome {
                case PG_REFLEX_NO_PLAN: .notReacted
                case PG_REACT_ASSERTED: .asserted
                case PG_REACT_OPENED: .released(failedBits: 0, errno: 0)
                case PG_REACT_NOT_ALL_OPENED: .released(failedBits: result.failed_bits, errno: result.first_errno)
                default: .unreadable(errno: result.first_errno)
                }
                wakes[index] = ReflexWake(key: result.key, outcome: outcome)
            }
            errno = code
            return ready
        }
    }
}

/// What the off reflex's wait found for one ready key (`SignalLines.reflexWait`).
public struct ReflexWake: Equatable, Sendable {
    public enum Outcome: Equatable, Sendable {
        /// Nothing was done in C (no plan: the mocked chip, or not an input key): the caller reacts.
        case notReacted
        /// The input reads asserted: nothing was written.
        case asserted
        /// The input could not be read: nothing was written.
        case unreadable(errno: Int32)
        /// The input reads released; every output applied closed was driven off but those of
        /// `failedBits` (bits of their `OutputSignal` indices), the first of which failed with `errno`.
        case released(failedBits: UInt32, errno: Int32)
    }

    public var key: UInt64
    public var outcome: Outcome

    public init(key: UInt64, outcome: Outcome) {
        self.key = key
        self.outcome = outcome
    }
}
