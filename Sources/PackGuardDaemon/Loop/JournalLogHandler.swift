import Glibc
import Logging
import Synchronization

/// swift-log handler for systemd: one line per message on standard output, prefixed with the
/// sd-daemon priority (`<3>` error, `<4>` warning, …) so that journald keeps severities.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let writer: @Sendable (String) -> Void

    public init(label: String, writer: @escaping @Sendable (String) -> Void = JournalLogHandler.standardOutput) {
        self.label = label
        self.writer = writer
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
        writer("<\(Self.priority(event.level))>\(text)\n")
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
