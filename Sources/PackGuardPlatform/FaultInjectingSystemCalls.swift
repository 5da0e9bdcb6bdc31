
/// Real system calls, except those a test tells to fail: "the next 2 writes fail with EIO", "every
/// fsync fails with ENOSPC". Each failure is counted, so a test can say it happened.
public final class FaultInjectingSystemCalls: SystemCalls {
    private struct Rule {
        var call: SystemCallError.Call
        var errno: Int32
        /// Failures left; nil: every call.
        var remaining: Int?
        /// Only calls on this path (open, unlink, mkdir, access); nil: any.
        var path: String?
    }

    private let real: any SystemCalls
    private let rules = PriorityInheritanceMutex<[Rule]>([])
    private let injected = PriorityInheritanceMutex<[SystemCallError.Call: Int]>([:])

    public init(wrapping real: any SystemCalls) { self.real = real }

    /// Makes the next `times` calls of `call` (every one, with nil) fail with `errno`.
    public func fail(_ call: SystemCallError.Call, errno: Int32, times: Int? = 1, path: String? = nil) {
        rules.withLock { $0.append(Rule(call: call, errno: errno, remaining: times, path: path)) }
    }

    /// Stops failing anything.
    public func heal() { rules.withLock { $0.removeAll() } }

    /// How many calls of `call` were made to fail.
    public func failures(of call: SystemCallError.Call) -> Int { injected.withLock { $0[call] ?? 0 } }

    private func check(_ call: SystemCallError.Call, path: String? = nil) throws(SystemCallError) {
        let code: Int32? = rules.withLock { rules in
            guard let index = rules.firstIndex(where: { $0.call == call && ($0.path == nil || $0.path == path) }) else { return nil }
            let code = rules[index].errno
            if let left = rules[index].remaining {
                if left <= 1 { rules.remove(at: index) } else { rules[index].remaining = left - 1 }
            }
            return code
        }
        guard let code else { return }
        injected.withLock { $0[call, default: 0] += 1 }
        throw SystemCallError(call, errno: code)
    }

    public func open(_ path: String, flags: Int32, mode: UInt32) throws(SystemCallError) -> Int32 {
        try check(.open, path: path)
        return try real.open(path, flags: flags, mode: mode)
    }

    public func close(_ descriptor: Int32) throws(SystemCallError) {
        do {
            try check(.close)
        } catch {
            // Linux releases the descriptor even when close fails: so does the double. The injected
            // error is the one reported; a real failure on top of it would say nothing more.
            do { try real.close(descriptor) } catch {}
            throw error
        }
        try real.close(descriptor)
    }

    public func write(_ descriptor: Int32, _ bytes: [UInt8]) throws(SystemCallError) {
        try check(.write)
        try real.write(descriptor, bytes)
    }

    public func ioctl(_ descriptor: Int32, _ request: UInt, _ value: inout Int32) throws(SystemCallError) {
        try check(.ioctl)
        try real.ioctl(descriptor, request, &value)
    }

    public func fsync(_ descriptor: Int32) throws(SystemCallError) {
        try check(.fsync)
        try real.fsync(descriptor)
    }

    public func unlinkIfPresent(_ path: String) throws(SystemCallError) {
        try check(.unlink, path: path)
        try real.unlinkIfPresent(path)
    }

    public func makeDirectoryIfMissing(_ path: String, mode: UInt32) throws(SystemCallError) {
        try check(.mkdir, path: path)
        try real.makeDirectoryIfMissing(path, mode: mode)
    }

    public func exists(_ path: String, mode: Int32) throws(SystemCallError) -> Bool {
        try check(.access, path: path)
        return try real.exists(path, mode: mode)
    }

    public func datagramSocket() throws(SystemCallError) -> Int32 {
        try check(.socket)
        return try real.datagramSocket()
    }

    public func send(_ descriptor: Int32, _ bytes: [UInt8], to address: UnixSocketAddress) throws(SystemCallError) -> Int {
        try check(.sendto)
        return try real.send(descriptor, bytes, to: address)
    }
}
