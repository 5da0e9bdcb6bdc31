// One line each way on a non-blocking unix stream socket, bounded in size and time.
#if os(Linux)
import Glibc

enum ControlLineIO {
    static let newline = UInt8(ascii: "\n")

    /// Reads up to the first newline and returns the line without it (and without a trailing CR, for
    /// people typing into socat). A connection closed after a partial line yields that line.
    /// Never reads more than `limit + 1` bytes, and never waits past `timeoutMilliseconds` in all.
    static func readLine(
        from descriptor: Int32, path: String, limit: Int, timeoutMilliseconds: Int32,
        tooLarge: ControlSocketError
    ) throws(ControlSocketError) -> String {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            // At most one byte past the limit: enough to tell "too long" from "exactly the limit".
            let wanted = min(chunk.count, limit + 1 - line.count)
            let received = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, wanted, 0) }
            if received > 0 {
                let start = line.count
                line.append(contentsOf: chunk[0..<received])
                if let end = line[start...].firstIndex(of: newline) {
                    return try decode(line[..<end], path: path)
                }
                if line.count > limit { throw tooLarge }
                continue
            }
            if received == 0 {
                if line.isEmpty { throw .closedWithoutLine(.read, path: path) }
                return try decode(line[...], path: path)
            }
            let code = errno
            if code == EINTR { continue }
            guard code == EAGAIN || code == EWOULDBLOCK else { throw .system(.read, path: path, errno: code) }
            switch waitFor(descriptor, events: Int16(POLLIN), until: deadline) {
            case .ready: continue
            case .timedOut: throw .timedOut(.read, path: path, milliseconds: timeoutMilliseconds)
            case .failed(let pollErrno): throw .system(.poll, path: path, errno: pollErrno)
            }
        }
    }

    /// Writes `line` and a newline, all of it, without raising SIGPIPE if the peer has gone.
    static func writeLine(
        _ line: String, to descriptor: Int32, path: String, timeoutMilliseconds: Int32
    ) throws(ControlSocketError) {
        var bytes = Array(line.utf8)
        guard !bytes.contains(newline) else { throw .lineContainsNewline(path: path) }
        bytes.append(newline)
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { buffer in
                // MSG_NOSIGNAL: a client that hangs up early gives EPIPE here, not a SIGPIPE that
                // would kill the daemon.
                send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent >= 0 {
                offset += sent
                continue
            }
            let code = errno
            if code == EINTR { continue }
            guard code == EAGAIN || code == EWOULDBLOCK else { throw .system(.write, path: path, errno: code) }
            switch waitFor(descriptor, events: Int16(POLLOUT), until: deadline) {
            case .ready: continue
            case .timedOut: throw .timedOut(.write, path: path, milliseconds: timeoutMilliseconds)
            case .failed(let pollErrno): throw .system(.poll, path: path, errno: pollErrno)
            }
        }
    }

    /// What one non-blocking read pass found.
    enum Received: Equatable {
        /// A whole line (without newline and trailing CR), or the bytes before a hang-up.
        case line(String)
        /// Nothing more to read now; the line is not complete yet.
        case pending
    }

    /// Reads what is waiting on a non-blocking socket, at most `budget` bytes, appending to `line`.
    /// Never waits: EAGAIN returns `.pending`. Never holds more than `limit + 1` bytes.
    static func receiveAvailable(
        from descriptor: Int32, into line: inout [UInt8], path: String, limit: Int, budget: Int,
        tooLarge: ControlSocketError
    ) throws(ControlSocketError) -> Received {
        var left = budget
        while left > 0 {
            let wanted = min(4096, left, limit + 1 - line.count)
            // Straight into the line's storage: grown once per connection, not per read.
            let start = line.count
            line.append(contentsOf: repeatElement(0, count: wanted))
            let (received, code) = line.withUnsafeMutableBytes { buffer in
                let count = recv(descriptor, buffer.baseAddress! + start, wanted, 0)
                return (count, errno)
            }
            line.removeLast(wanted - max(received, 0))
            if received > 0 {
                left -= received
                if let end = line[start...].firstIndex(of: newline) { return .line(try decode(line[..<end], path: path)) }
                if line.count > limit { throw tooLarge }
                continue
            }
            if received == 0 {
                if line.isEmpty { throw .closedWithoutLine(.read, path: path) }
                return .line(try decode(line[...], path: path))
            }
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .pending }
            throw .system(.read, path: path, errno: code)
        }
        return .pending
    }

    /// Sends from `bytes[offset...]` on a non-blocking socket, at most `budget` bytes, advancing
    /// `offset`. Never waits; returns true once everything is sent. No SIGPIPE if the peer has gone.
    static func sendAvailable(
        _ bytes: [UInt8], offset: inout Int, to descriptor: Int32, path: String, budget: Int
    ) throws(ControlSocketError) -> Bool {
        var left = budget
        while offset < bytes.count, left > 0 {
            let count = min(bytes.count - offset, left)
            let start = offset
            let sent = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress! + start, count, Int32(MSG_NOSIGNAL)) }
            if sent >= 0 {
                offset += sent
                left -= sent
                continue
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return false }
            throw .system(.write, path: path, errno: code)
        }
        return offset == bytes.count
    }

    private static func decode(_ bytes: ArraySlice<UInt8>, path: String) throws(ControlSocketError) -> String {
        let trimmed = bytes.last == UInt8(ascii: "\r") ? bytes.dropLast() : bytes
        guard let text = String(validating: trimmed, as: UTF8.self) else { throw .notUTF8(.read, path: path) }
        return text
    }
}
#endif
