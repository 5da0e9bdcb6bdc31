// The log line format: sd-daemon priority prefixes only when standard output is the journal.
#if os(Linux)
import Glibc
#endif
import Logging
import Synchronization
import Testing
@testable import PackGuardDaemon

@Suite("journal log handler")
struct JournalLogHandlerTests {
    final class Lines: Sendable {
        let written = Mutex<[String]>([])
        var writer: @Sendable (String) -> Void { { line in self.written.withLock { $0.append(line) } } }
    }

    func logged(priorityPrefixes: Bool) -> [String] {
        let lines = Lines()
        let logger = Logger(label: "test") { label in
            JournalLogHandler(label: label, priorityPrefixes: priorityPrefixes, writer: lines.writer)
        }
        logger.warning("charge relay opened:\nChargeEnable released")
        logger.notice("running")
        logger.debug("below the default level")
        return lines.written.withLock { $0 }
    }

    @Test("to the journal: each line carries its priority, newlines in a message become spaces")
    func journalLines() {
        #expect(logged(priorityPrefixes: true) == ["<4>charge relay opened: ChargeEnable released\n", "<5>running\n"])
    }

    @Test("elsewhere (a terminal, a pipe, a file): the plain message")
    func plainLines() {
        #expect(logged(priorityPrefixes: false) == ["charge relay opened: ChargeEnable released\n", "running\n"])
    }

    @Test("JOURNAL_STREAM must name this very stream's device and inode")
    func journalStreamDecision() {
        #expect(JournalLogHandler.isJournalStream("8:123456", device: 8, inode: 123456))
        #expect(!JournalLogHandler.isJournalStream("8:123456", device: 8, inode: 123457))
        #expect(!JournalLogHandler.isJournalStream("9:123456", device: 8, inode: 123456))
        #expect(!JournalLogHandler.isJournalStream(nil, device: 8, inode: 123456))
        for malformed in ["", "8", "8:", ":123456", "8:123456:1", "x:1", "-8:123456", "8 :123456"] {
            #expect(!JournalLogHandler.isJournalStream(malformed, device: 8, inode: 123456), "\(malformed)")
        }
    }
}

#if os(Linux)
/// The writer behind the daemon's standard output, on real descriptors: a journal that stops reading
/// must never stall the thread that logs (the control loop), and what does arrive arrives in whole lines.
@Suite("log line writer")
struct LogLineWriterTests {
    /// Everything readable on `descriptor` now, without waiting.
    func drain(_ descriptor: Int32) -> String {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count <= 0 { break }
            all += buffer[0..<count]
        }
        return String(decoding: all, as: UTF8.self)
    }

    @Test("a journal stream that is not read: lines are dropped and counted, never waited for; the rest arrive whole, then the count",
          .timeLimit(.minutes(1)))
    func fullStreamDropsWholeLines() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { for end in pair { close(end) } }
        var small: Int32 = 4096
        try #require(setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size)) == 0)
        let writer = LogLineWriter(descriptor: pair[0])
        let padding = String(repeating: "x", count: 90)
        for index in 0..<2_000 { writer.write("line \(index) \(padding)\n") }  // 200 kB: far more than the buffer holds
        let dropped = writer.droppedLines
        #expect(dropped > 0 && dropped < 2_000, "\(dropped) dropped")

        let received = drain(pair[1]).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(received.last == "", "the stream ends at a line's end")
        let lines = received.dropLast()
        #expect(lines.count == 2_000 - dropped)
        #expect(lines.allSatisfy { $0.hasPrefix("line ") && $0.hasSuffix(" " + padding) }, "no line is cut or joined")
        #expect(lines.first == "line 0 \(padding)"[...], "the first lines went out in order")

        writer.write("after\n")
        #expect(drain(pair[1]) == "\(dropped) log lines dropped: the journal was not reading\nafter\n")
        #expect(writer.droppedLines == 0)
    }

    @Test("a pipe, a terminal or a file is written with write(2), whole")
    func pipeWritesPlainly() throws {
        var fds: [Int32] = [-1, -1]
        try #require(pipe(&fds) == 0)
        defer { for end in fds { close(end) } }
        let writer = LogLineWriter(descriptor: fds[1])
        writer.write("<5>running\n")
        writer.write("charge relay closed\n")
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(fds[0], &buffer, buffer.count)
        #expect(String(decoding: buffer[0..<max(0, count)], as: UTF8.self) == "<5>running\ncharge relay closed\n")
        #expect(writer.droppedLines == 0)
    }

    @Test("a descriptor that is gone loses the line, counted, and never crashes")
    func closedDescriptor() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        close(pair[1])
        defer { close(pair[0]) }
        let writer = LogLineWriter(descriptor: pair[0])
        writer.write("nobody hears this\n")  // EPIPE, without SIGPIPE (MSG_NOSIGNAL)
        #expect(writer.droppedLines == 1)
    }
}
#endif
