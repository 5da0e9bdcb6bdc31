import Glibc

/// A GPIO failure, naming the operation, the chip, the line (name and offset) and errno.
public struct GPIOError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No line of that name on any chip; `similar` lists near names that do exist.
        case lineNotFound(similar: [String])
        /// The line is requested by another consumer.
        case lineBusy(consumer: String)
        /// Opening the chip was refused; `group` is the group that grants access, when known.
        case permissionDenied(group: String?)
        case chipMissing
        /// Any other failed system or library call.
        case systemError
        case noGPIOChips
    }

    public var kind: Kind
    public var operation: String
    public var chip: String?
    public var line: String?
    public var offset: Int?
    public var errno: Int32
    /// A write to several lines: every line that was not set, each with its own errno (the other
    /// lines of the request were still attempted). Empty for any other failure.
    public var failedLines: [LineFailure]

    /// One line of a multi-line write that was not set.
    public struct LineFailure: Sendable, Equatable, CustomStringConvertible {
        public var offset: Int
        public var line: String?
        public var errno: Int32

        public init(offset: Int, line: String? = nil, errno: Int32) {
            self.offset = offset
            self.line = line
            self.errno = errno
        }

        public var description: String {
            "\(line.map { "\($0) " } ?? "")offset \(offset) (\(String(cString: strerror(errno))), errno \(errno))"
        }
    }

    public init(_ kind: Kind, operation: String, chip: String? = nil, line: String? = nil,
                offset: Int? = nil, errno: Int32 = 0, failedLines: [LineFailure] = []) {
        self.kind = kind
        self.operation = operation
        self.chip = chip
        self.line = line
        self.offset = offset
        self.errno = errno
        self.failedLines = failedLines
    }

    private var where_: String {
        var parts: [String] = []
        if let line { parts.append(line) }
        if let offset { parts.append("offset \(offset)") }
        let lineText = parts.isEmpty ? nil : parts.joined(separator: " ")
        switch (chip, lineText) {
        case let (chip?, line?): return " (\(chip) line \(line))"
        case let (chip?, nil): return " (\(chip))"
        case let (nil, line?): return " (line \(line))"
        default: return ""
        }
    }

    private var errnoText: String {
        errno == 0 ? "" : ": \(String(cString: strerror(errno))) (errno \(errno))"
    }

    public var description: String {
        guard !failedLines.isEmpty else { return summary }
        let lines = failedLines.count == 1 ? "1 line" : "\(failedLines.count) lines"
        return "\(summary); \(lines) not set: \(failedLines.map(\.description).joined(separator: ", "))"
    }

    private var summary: String {
        switch kind {
        case .lineNotFound(let similar):
            let hint = similar.isEmpty ? "" : "; similar names: \(similar.joined(separator: ", "))"
            return "\(operation): no GPIO line named '\(line ?? "?")' on any chip\(hint). Run `packguard lines` to see every line."
        case .lineBusy(let consumer):
            let who = consumer.isEmpty ? "another program" : "'\(consumer)'"
            return "\(operation)\(where_): the line is busy, already requested by \(who). Stop that program or choose another line."
        case .permissionDenied(let group):
            let hint = group.map { "; join the '\($0)' group (sudo usermod -aG \($0) $USER) or run as the packguard service" } ?? ""
            return "\(operation)\(where_)\(errnoText)\(hint)"
        case .chipMissing:
            return "\(operation)\(where_): the GPIO chip is missing\(errnoText)"
        case .noGPIOChips:
            return "\(operation): this machine has no GPIO chips (/dev/gpiochip*): is this a Raspberry Pi, and is the GPIO character device enabled?"
        case .systemError:
            return "\(operation)\(where_)\(errnoText)"
        }
    }
}
