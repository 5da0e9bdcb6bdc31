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

    /// Writes whole lines to stdout, never interleaved between threads, and never waiting for the journal
    /// (see `LogLineWriter`).
    public static let standardOutput: @Sendable (String) -> Void = { line in standardOutputWriter.write(line) }

    private static let standardOutputWriter = LogLineWriter(descriptor: STDOUT_FILENO)
}

/// Writes log lines to one descriptor, whole and never interleaved. The control loop logs from its own
/// thread, so a journal that does not read (journald stalled behind a slow SD card) must not stall it:
/// to a socket (the journal's stream) each line goes with MSG_DONTWAIT, and a line that does not fit
/// is dropped and counted. The next line that fits is preceded by how many were lost. Terminals, pipes
/// and files get plain write(2): a manual run, where waiting is what the user wants.
public final class LogLineWriter: Sendable {
    private let descriptor: Int32
    /// Lines dropped since the last one written; the lock also keeps lines whole between threads.
    private let dropped = Mutex(0)
    /// How long a line that went out in part waits for the rest (a stream cannot take back half a line).
    static let partialLineWaitMs: Int32 = 20

    /// Whether `descriptor` is a socket (the journal's stream) when the writer was made: decided once.
    private let isSocket: Bool

    public init(descriptor: Int32) {
        self.descriptor = descriptor
        var info = stat()
        // An fstat that fails means a descriptor that is gone: write(2) then fails too, and lines are counted.
        isSocket = fstat(descriptor, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK
    }

    /// Lines dropped since the last one that was written.
    public var droppedLines: Int { dropped.withLock { $0 } }

    public func write(_ line: String) {
        dropped.withLock { dropped in
            if dropped > 0 {
                let notice = "\(dropped) log line\(dropped == 1 ? "" : "s") dropped: the journal was not reading\n"
                guard writeWhole(Array(notice.utf8)) else { dropped += 1; return }
                dropped = 0
            }
            if !writeWhole(Array(line.utf8)) { dropped += 1 }
        }
    }

    /// False when the line (or its rest) could not be written without waiting longer than
    /// `partialLineWaitMs`, or the descriptor is gone.
    private func writeWhole(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                let start = buffer.baseAddress! + offset
                if isSocket { return Glibc.send(descriptor, start, buffer.count - offset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                return Glibc.write(descriptor, start, buffer.count - offset)
            }
            if written > 0 {
                offset += written
                continue
            }
            if written < 0 && errno == EINTR { continue }
            guard written < 0, errno == EAGAIN || errno == EWOULDBLOCK, offset > 0 else { return false }
            // Part of the line is out: wait a little for room for the rest, or the next line would
            // continue this one.
            var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            guard poll(&entry, 1, Self.partialLineWaitMs) > 0 else { return false }
        }
        return true
    }
}

extension String {
    func replacingNewlines() -> String {
        String(map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
