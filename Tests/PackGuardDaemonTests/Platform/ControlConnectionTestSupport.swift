// Blocking conveniences over the non-blocking ControlConnection, for tests that play both ends.
#if os(Linux)
import Glibc
@testable import PackGuardDaemon

extension ControlConnection {
    /// Waits (up to 10 s, only so a broken test cannot hang) for the whole request line.
    func readRequest() throws(ControlSocketError) -> String {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if let line = try readAvailable() { return line }
            guard waitFor(fileDescriptor, events: Int16(POLLIN), until: deadline) == .ready else {
                throw .timedOut(.read, path: path, milliseconds: 10_000)
            }
        }
    }

    /// Queues `line` and waits until it is all sent.
    func reply(_ line: String) throws(ControlSocketError) {
        try queueReply(line)
        let deadline = ContinuousClock.now + .seconds(10)
        while try !sendAvailable() {
            guard waitFor(fileDescriptor, events: Int16(POLLOUT), until: deadline) == .ready else {
                throw .timedOut(.write, path: path, milliseconds: 10_000)
            }
        }
    }
}
#endif
