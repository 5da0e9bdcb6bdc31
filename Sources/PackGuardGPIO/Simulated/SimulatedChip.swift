import Glibc
import PackGuardCore

/// A handle on one simulated chip; behaves like `LibgpiodChip`.
final class SimulatedChip: GPIOChip {
    let backend: SimulatedGPIO
    let index: Int
    let path: String
    let name: String
    let label: String
    let lineCount: Int

    init(backend: SimulatedGPIO, index: Int, path: String, name: String, label: String, lineCount: Int) {
        self.backend = backend
        self.index = index
        self.path = path
        self.name = name
        self.label = label
        self.lineCount = lineCount
    }

    private func checkPresent(_ operation: String) throws(GPIOError) {
        let vanished = backend.state.withLock { $0.chips[index].vanished }
        if vanished { throw GPIOError(.chipMissing, operation: operation, chip: name, errno: ENODEV) }
    }

    func lineInfo(offset: Int) throws(GPIOError) -> GPIOLineInfo {
        try checkPresent("read line info")
        guard offset >= 0 && offset < lineCount else {
            throw GPIOError(.systemError, operation: "read line info", chip: name, offset: offset, errno: EINVAL)
        }
        return backend.state.withLock { state in
            let line = state.chips[index].lines[offset]
            let foreign = state.busy[line.name]
            return GPIOLineInfo(offset: offset, name: line.name, consumer: line.request != nil ? line.consumer : foreign ?? "",
                                used: line.request != nil || foreign != nil, isOutput: line.request != nil && line.isOutput,
                                activeLow: line.request != nil && line.activeLow, bias: line.request != nil ? line.bias : .asIs)
        }
    }

    func findLine(named lineName: String) throws(GPIOError) -> Int? {
        try checkPresent("find line by name")
        return backend.state.withLock { $0.chips[index].lines.firstIndex { $0.name == lineName } }
    }

    func requestInputs(_ lines: [InputLineSettings], consumer: String) throws(GPIOError) -> any GPIOLineRequest {
        try request(offsets: lines.map(\.offset), consumer: consumer, operation: "request input lines", isInput: true) { line, i in
            line.isOutput = false
            line.activeLow = lines[i].activeLow
            line.bias = lines[i].bias
        }
    }

    func requestOutputs(_ lines: [OutputLineSettings], consumer: String) throws(GPIOError) -> any GPIOLineRequest {
        try request(offsets: lines.map(\.offset), consumer: consumer, operation: "request output lines", isInput: false) { line, i in
            line.isOutput = true
            line.activeLow = lines[i].activeLow
            line.bias = .asIs
            line.outputHigh = lines[i].initial.isActive != lines[i].activeLow
        }
    }

    private func request(offsets: [Int], consumer: String, operation: String, isInput: Bool,
                         configure: (inout SimulatedGPIO.Line, Int) -> Void) throws(GPIOError) -> any GPIOLineRequest {
        try checkPresent(operation)
        precondition(!offsets.isEmpty && Set(offsets).count == offsets.count, "distinct offsets")
        var eventPipe: (read: Int32, write: Int32)?
        if isInput {
            // A pipe, like the kernel's event fd: readable while events are pending.
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw GPIOError(.systemError, operation: "\(operation): pipe", chip: name, errno: errno) }
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)  // on a fresh pipe these cannot fail
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            eventPipe = (fds[0], fds[1])
        }
        let eventFD = eventPipe?.read
        let time = backend.now()
        let outcome: Result<Int, GPIOError> = backend.state.withLock { state in
            for offset in offsets {
                guard offset >= 0 && offset < lineCount else {
                    return .failure(GPIOError(.systemError, operation: operation, chip: name, offset: offset, errno: EINVAL))
                }
                let line = state.chips[index].lines[offset]
                if line.request != nil || state.busy[line.name] != nil {
                    let holder = line.request != nil ? line.consumer : state.busy[line.name] ?? ""
                    return .failure(GPIOError(.lineBusy(consumer: holder), operation: operation, chip: name,
                                              line: line.name, offset: offset, errno: EBUSY))
                }
            }
            let id = state.nextRequest
            state.nextRequest += 1
            for (i, offset) in offsets.enumerated() {
                configure(&state.chips[index].lines[offset], i)
                state.chips[index].lines[offset].request = id
                state.chips[index].lines[offset].consumer = consumer
                if !isInput {
                    let high = state.chips[index].lines[offset].outputHigh
                    state.chips[index].lines[offset].record(high, at: time)
                }
            }
            let levels = offsets.map { SimulatedGPIO.logical(state.chips[index].lines[$0]) }
            state.requests[id] = SimulatedGPIO.Request(chip: index, offsets: offsets, isInput: isInput,
                                                       eventFD: eventPipe?.read, signalFD: eventPipe?.write,
                                                       lastLogical: levels)
            return .success(id)
        }
        switch outcome {
        case .success(let id):
            return SimulatedRequest(backend: backend, id: id, chipIndex: index, chip: name, offsets: offsets, eventFD: eventFD)
        case .failure(let error):
            if let eventPipe {
                close(eventPipe.read)
                close(eventPipe.write)
            }
            throw error
        }
    }
}

/// A handle on a simulated request; behaves like `LibgpiodRequest`.
final class SimulatedRequest: GPIOLineRequest {
    let backend: SimulatedGPIO
    let id: Int
    let chipIndex: Int
    let chip: String
    let offsets: [Int]
    let eventFileDescriptor: Int32?

    init(backend: SimulatedGPIO, id: Int, chipIndex: Int, chip: String, offsets: [Int], eventFD: Int32?) {
        self.backend = backend
        self.id = id
        self.chipIndex = chipIndex
        self.chip = chip
        self.offsets = offsets
        self.eventFileDescriptor = eventFD
    }

    deinit { release() }

    func release() {
        let time = backend.now()
        backend.state.withLock { state in
            guard let request = state.requests.removeValue(forKey: id) else { return }
            request.closeDescriptors()
            for offset in request.offsets {
                // Mutated in place: copying a Line out would copy its history on every change.
                let wasHigh = SimulatedGPIO.physical(state.chips[chipIndex].lines[offset])
                state.chips[chipIndex].lines[offset].request = nil
                state.chips[chipIndex].lines[offset].consumer = ""
                let nowHigh = SimulatedGPIO.physical(state.chips[chipIndex].lines[offset])
                if state.chips[chipIndex].lines[offset].isOutput && wasHigh != nowHigh {
                    state.chips[chipIndex].lines[offset].record(nowHigh, at: time)
                }
                state.chips[chipIndex].lines[offset].isOutput = false
            }
        }
    }

    private func checked<T>(_ operation: String, _ body: (inout SimulatedGPIO.State, SimulatedGPIO.Request) -> Result<T, GPIOError>) throws(GPIOError) -> T {
        let result: Result<T, GPIOError> = backend.state.withLock { state in
            guard let request = state.requests[id] else {
                return .failure(GPIOError(.systemError, operation: "\(operation) (request already released)", chip: chip, errno: EBADF))
            }
            if state.chips[chipIndex].vanished {
                return .failure(GPIOError(.chipMissing, operation: operation, chip: chip, errno: ENODEV))
            }
            return body(&state, request)
        }
        return try result.get()
    }

    func readValues(into buffer: UnsafeMutableBufferPointer<Level>) throws(GPIOError) {
        precondition(buffer.count == offsets.count, "one slot per requested line")
        try checked("read line values") { state, request -> Result<Void, GPIOError> in
            if let code = state.failNextRead {
                state.failNextRead = nil
                return .failure(GPIOError(.systemError, operation: "read line values", chip: chip,
                                          offset: offsets.count == 1 ? offsets[0] : nil, errno: code))
            }
            for (index, offset) in request.offsets.enumerated() {
                buffer[index] = SimulatedGPIO.logical(state.chips[chipIndex].lines[offset])
                state.trace?.append("read \(state.chips[chipIndex].lines[offset].name)")
            }
            return .success(())
        }
    }

    func writeValues(_ values: UnsafeBufferPointer<Level>) throws(GPIOError) {
        precondition(values.count == offsets.count, "one value per requested line")
        let time = backend.now()
        try checked("set line values") { state, request -> Result<Void, GPIOError> in
            guard !request.isInput else {
                return .failure(GPIOError(.systemError, operation: "set line values", chip: chip, errno: EPERM))
            }
            if let code = state.failNextSet {
                state.failNextSet = nil
                return .failure(GPIOError(.systemError, operation: "set line values", chip: chip, errno: code))
            }
            var failed: [GPIOError.LineFailure] = []
            for (offset, value) in zip(request.offsets, values) {
                let name = state.chips[chipIndex].lines[offset].name
                state.trace?.append("write \(name)=\(value)")
                if let code = state.failLinesNextSet.removeValue(forKey: name) {
                    failed.append(GPIOError.LineFailure(offset: offset, line: name, errno: code))
                    continue  // this line keeps its level; the others are still set
                }
                let high = value.isActive != state.chips[chipIndex].lines[offset].activeLow
                if high != state.chips[chipIndex].lines[offset].outputHigh {
                    state.chips[chipIndex].lines[offset].record(high, at: time)
                }
                state.chips[chipIndex].lines[offset].outputHigh = high
            }
            if let first = failed.first {
                return .failure(GPIOError(.systemError, operation: "set line values", chip: chip,
                                          line: failed.count == 1 ? first.line : nil,
                                          offset: offsets.count == 1 || failed.count == 1 ? first.offset : nil,
                                          errno: first.errno, failedLines: offsets.count > 1 ? failed : []))
            }
            return .success(())
        }
    }

    func readEdgeEvents() throws(GPIOError) -> [EdgeEvent] {
        try checked("read edge events") { state, request in
            // Every read is traced, as every read(2) of an event descriptor costs a system call.
            for offset in request.offsets { state.trace?.append("edges \(state.chips[chipIndex].lines[offset].name)") }
            if let code = state.failNextEdgeRead {
                state.failNextEdgeRead = nil
                return .failure(GPIOError(.systemError, operation: "read edge events", chip: chip,
                                          offset: offsets.count == 1 ? offsets[0] : nil, errno: code))
            }
            guard !request.pending.isEmpty else { return .success([]) }
            let events = request.pending
            state.requests[id]?.pending.removeAll()
            if let fd = request.eventFD {
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { drain in
                    while read(fd, drain.baseAddress, drain.count) > 0 {}  // until EAGAIN: drained
                }
            }
            return .success(events)
        }
    }
}
