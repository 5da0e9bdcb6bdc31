// The log line format: sd-daemon priority prefixes only when standard output is the journal.
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
