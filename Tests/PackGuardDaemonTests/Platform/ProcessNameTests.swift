import Glibc
import Testing
@testable import PackGuardDaemon

/// packguard-daemon names itself packguard (its own name would be cut to "packguard-daemo"), so that
/// ps, pgrep and the journal's _COMM find the daemon as before the execv.
@Suite("Process name")
struct ProcessNameTests {
    @Test func aThreadTakesTheNameAndTheKernelShowsIt() {
        let seen = UnsafeMutablePointer<(result: Int32, comm: String)>.allocate(capacity: 1)
        defer { seen.deallocate() }
        let started = startThread {
            let result = ProcessName.set("packguard")
            var comm = ""
            if let file = fopen("/proc/thread-self/comm", "r") {
                var buffer = [CChar](repeating: 0, count: 32)
                if fgets(&buffer, Int32(buffer.count), file) != nil {
                    comm = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
                fclose(file)
            }
            seen.initialize(to: (result, comm))
        }
        guard let thread = started else {
            Issue.record("no thread: errno \(errno)")
            return
        }
        pthread_join(thread, nil)
        #expect(seen.pointee.result == 0)
        #expect(seen.pointee.comm == "packguard\n")
    }
}
