import Glibc
import Logging
import Synchronization

/// swift-log handler for systemd: one line per message on standard output. When standard output is
/// the journal, each line is prefixed with the sd-daemon priority (`<3>` error, `<4>` warning, …) so that
/// journald keeps severities; on a terminal, in a pipe or a file the line is the plain message.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let priorityPrefixes: Bool
    private let writer: @Sendable (String) -> Void

    public init(label: String, priorityPrefixes: Bool = JournalLogHandler.standardOutputIsJournal,
                writer: @escaping @Sendable (String) -> Void = JournalLogHandler.standardOutput) {
        self.label = label
        self.priorityPrefixes = priorityPrefixes
        self.writer = writer
    }

    /// True when systemd connected standard output to the journal: `JOURNAL_STREAM` names its device and
    /// inode. Not merely set: a service's child whose output was redirected inherits the variable.
    public static let standardOutputIsJournal: Bool = {
        guard let value = getenv("JOURNAL_STREAM") else { return false }
        var info = stat()
        guard fstat(STDOUT_FILENO, &info) == 0 else { return false }
        return isJournalStream(String(cString: value), device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }()

    /// Whether `journalStream` (`JOURNAL_STREAM`: "device:inode", both decimal) names this stream.
    public static func isJournalStream(_ journalStream: String?, device: UInt64, inode: UInt64) -> Bool {
        guard let journalStream, let colon = journalStream.firstIndex(of: ":"),
              let streamDevice = UInt64(journalStream[..<colon]),
              let streamInode = UInt64(journalStream[journalStream.index(after: colon)...]) else { return false }
        return streamDevice == device && streamInode == inode
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: 2
        case .error: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug, .trace: 7
        }
    }

    public func log(event: LogEvent) {
        let text = "\(event.message)".replacingNewlines()
        writer(priorityPrefixes ? "<\(Self.priority(event.level))>\(text)\n" : "\(text)\n")
    }

    private static let outputLock = Mutex(())

    /// Writes whole lines to stdout, never interleaved between threads.
    public static let standardOutput: @Sendable (String) -> Void = { line in
        outputLock.withLock { _ in
            let bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }  // stdout gone (journald restarted): nothing else to tell
                offset += written
            }
        }
    }
}

extension String {
    func replacingNewlines() -> String {
        String(map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
