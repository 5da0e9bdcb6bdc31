/// One JSON value (RFC 8259), as read by `JSON.parse` and written by `JSON.write`.
///
/// Objects are dictionaries: the reader refuses duplicate keys, and the writer sorts keys, so
/// member order carries no meaning. Keys are Swift Strings, which compare by canonical equivalence:
/// "é" and "e\u{301}" are one key (a duplicate in one object).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

/// A JSON number kept as its literal text, so integers of any width are read exactly (a Double
/// holds only 53 bits) and a decoder can tell `3` from `3.5`. Equality compares the literals:
/// `1` and `1.0` are different numbers here.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The literal, always in RFC 8259 number syntax.
    public let literal: String

    /// A literal in RFC 8259 syntax (`-0`, `12`, `1.5e-3`); nil for anything else (`+1`, `01`, `.5`, `NaN`).
    public init?(literal: String) {
        let bytes = Array(literal.utf8)
        let valid = bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(bytes: buffer, maximumDepth: 0)
            do throws(JSONParseError) {
                try reader.scanNumber()
                return reader.index == buffer.count
            } catch {
                return false
            }
        }
        guard valid else { return nil }
        self.literal = literal
    }

    public init<Integer: BinaryInteger>(_ value: Integer) { literal = String(value) }

    /// Shortest text that reads back as exactly `value`; nil for infinities and NaN (JSON has none).
    /// An integral value is written without ".0", as JSONEncoder writes it.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        literal = Self.trimmed(value.description)
    }

    /// As `init?(_: Double)`, with Float's own shortest text (0.1 stays "0.1").
    public init?(_ value: Float) {
        guard value.isFinite else { return nil }
        literal = Self.trimmed(value.description)
    }

    init(unchecked literal: String) { self.literal = literal }

    /// "3.0" as "3". Byte-wise: Character-level String operations would pull in the stdlib's
    /// grapheme tables, resident memory the daemon does not need.
    private static func trimmed(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count > 2, bytes[bytes.count - 2] == UInt8(ascii: "."), bytes[bytes.count - 1] == UInt8(ascii: "0") else { return text }
        return String(decoding: bytes.dropLast(2), as: UTF8.self)
    }

    /// True when the literal has no fraction and no exponent.
    public var isIntegerLiteral: Bool { !literal.utf8.contains { $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") } }

    /// The nearest Double; infinite when the literal is beyond Double's range (1e400).
    public var double: Double { Double(literal) ?? .nan }

    public var description: String { literal }
}
