/// Why a document is not JSON, and where: `offset` is the byte offset (from 0) in the UTF-8 text
/// of the first byte that does not fit (the length of the text when it ended too soon).
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    /// What the grammar allows at `offset`, in words: "',' or ']'", "a digit".
    public var expected: String
    /// What is there instead: "'x'", "end of input", "control character 0x0A", "byte 0xFF".
    public var found: String

    public init(offset: Int, expected: String, found: String) {
        self.offset = offset
        self.expected = expected
        self.found = found
    }

    public var description: String { "at byte \(offset): expected \(expected), found \(found)" }
}

/// A strict RFC 8259 reader over UTF-8 bytes: one value, optionally surrounded by the four
/// whitespace bytes, nothing after it. Refused: leading zeros, NaN/Infinity, `+1`, `.5`, trailing
/// commas, comments, control characters in strings, invalid UTF-8, lone surrogates, duplicate
/// object keys, and nesting deeper than `maximumDepth` (recursion is bounded, so hostile input
/// cannot exhaust the stack).
struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    let maximumDepth: Int
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    mutating func document() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw failure(expecting: "end of input after the value") }
        return value
    }

    // MARK: Values

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw failure(expecting: "a value") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = index
            try scanNumber()
            return .number(JSONNumber(unchecked: String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)))
        default:
            throw failure(expecting: "a value (object, array, string, number, true, false or null)")
        }
    }

    private mutating func literal(_ word: String) throws(JSONParseError) {
        for byte in word.utf8 {
            guard index < bytes.count, bytes[index] == byte else { throw failure(expecting: "'\(word)'") }
            index += 1
        }
    }

    private mutating func enter(_ depth: Int) throws(JSONParseError) {
        guard depth <= maximumDepth else {
            throw JSONParseError(offset: index, expected: "at most \(maximumDepth) nested arrays and objects",
                                 found: "nesting level \(depth)")
        }
        index += 1
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        try enter(depth)
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) { index += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            if peek(UInt8(ascii: ",")) { index += 1; continue }
            if peek(UInt8(ascii: "]")) { index += 1; return .array(elements) }
            throw failure(expecting: "',' or ']'")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        try enter(depth)
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if peek(UInt8(ascii: "}")) { index += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else { throw failure(expecting: members.isEmpty ? "a string key or '}'" : "a string key") }
            let keyStart = index
            let key = try parseString()
            guard members[key] == nil else {
                throw JSONParseError(offset: keyStart, expected: "a key not already in this object", found: "duplicate key \"\(key)\"")
            }
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw failure(expecting: "':' after the key") }
            index += 1
            skipWhitespace()
            members[key] = try parseValue(depth: depth)
            skipWhitespace()
            if peek(UInt8(ascii: ",")) { index += 1; continue }
            if peek(UInt8(ascii: "}")) { index += 1; return .object(members) }
            throw failure(expecting: "',' or '}'")
        }
    }

    // MARK: Numbers

    /// Moves past one number in RFC 8259 syntax: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func scanNumber() throws(JSONParseError) {
        if peek(UInt8(ascii: "-")) { index += 1 }
        if peek(UInt8(ascii: "0")) {
            index += 1
            if peekDigit() { throw failure(expecting: "'.', 'e' or the end of the number after a leading 0") }
        } else {
            try digits()
        }
        if peek(UInt8(ascii: ".")) {
            index += 1
            try digits()
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            index += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { index += 1 }
            try digits()
        }
    }

    private mutating func digits() throws(JSONParseError) {
        guard peekDigit() else { throw failure(expecting: "a digit") }
        while peekDigit() { index += 1 }
    }

    private func peekDigit() -> Bool {
        index < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index])
    }

    // MARK: Strings

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1  // the opening quote
        var text: [UInt8] = []
        while true {
            guard index < bytes.count else { throw failure(expecting: "'\"' closing the string") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                // Every byte appended was checked to be UTF-8 (or came from a checked scalar).
                return String(decoding: text, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try escape(into: &text)
            case 0..<0x20:
                throw failure(expecting: "a character or an escape (a control character must be written as \\n, \\t, \\u001F, ...)")
            case 0x20..<0x80:
                text.append(byte)
                index += 1
            default:
                let length = try utf8Sequence()
                text.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<index + length]))
                index += length
            }
        }
    }

    private mutating func escape(into text: inout [UInt8]) throws(JSONParseError) {
        let start = index
        index += 1
        guard index < bytes.count else { throw failure(expecting: "an escape character after '\\'") }
        let simple: UInt8?
        switch bytes[index] {
        case UInt8(ascii: "\""): simple = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): simple = UInt8(ascii: "\\")
        case UInt8(ascii: "/"): simple = UInt8(ascii: "/")
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"): simple = nil
        default: throw failure(expecting: "an escape: \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX")
        }
        index += 1
        if let simple {
            text.append(simple)
            return
        }
        var value = UInt32(try hex4())
        if (0xDC00...0xDFFF).contains(value) {
            throw JSONParseError(offset: start, expected: "a scalar, or a high surrogate (\\uD800-\\uDBFF) first",
                                 found: "lone low surrogate \\u\(hex(value))")
        }
        if (0xD800...0xDBFF).contains(value) {
            let lowStart = index
            guard peek(UInt8(ascii: "\\")), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                throw JSONParseError(offset: lowStart, expected: "a low surrogate \\uDC00-\\uDFFF after the high surrogate \\u\(hex(value))",
                                     found: describe(at: lowStart))
            }
            index += 2
            let low = UInt32(try hex4())
            guard (0xDC00...0xDFFF).contains(low) else {
                throw JSONParseError(offset: lowStart, expected: "a low surrogate \\uDC00-\\uDFFF after the high surrogate \\u\(hex(value))",
                                     found: "\\u\(hex(low))")
            }
            value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
        }
        // Surrogates were handled above, so every value left is a scalar.
        guard let scalar = Unicode.Scalar(value) else {
            throw JSONParseError(offset: start, expected: "a Unicode scalar", found: "\\u\(hex(value))")
        }
        UTF8.encode(scalar) { text.append($0) }
    }

    private mutating func hex4() throws(JSONParseError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard index < bytes.count else { throw failure(expecting: "4 hexadecimal digits after \\u") }
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure(expecting: "4 hexadecimal digits after \\u")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    /// The length of the well-formed UTF-8 sequence (2 to 4 bytes) at `index` (Unicode 15, table 3-7:
    /// no overlong forms, no surrogates, nothing above U+10FFFF).
    private func utf8Sequence() throws(JSONParseError) -> Int {
        let lead = bytes[index]
        let length: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; second = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; second = 0x80...0x9F
        case 0xF0: length = 4; second = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; second = 0x80...0x8F
        default: throw failure(expecting: "valid UTF-8 (a lead byte)")
        }
        for offset in 1..<length {
            let at = index + offset
            let allowed = offset == 1 ? second : 0x80...0xBF
            guard at < bytes.count, allowed.contains(bytes[at]) else {
                throw JSONParseError(offset: at, expected: "valid UTF-8 (continuation byte \(offset) of \(length))", found: describe(at: at))
            }
        }
        return length
    }

    // MARK: Helpers

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func peek(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

    private func failure(expecting expected: String) -> JSONParseError {
        JSONParseError(offset: index, expected: expected, found: describe(at: index))
    }

    private func describe(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of input" }
        let byte = bytes[offset]
        switch byte {
        case 0x21...0x7E: return "'\(Character(Unicode.Scalar(byte)))'"
        case 0x20: return "' '"
        case 0..<0x20, 0x7F: return "control character 0x\(hex(UInt32(byte), width: 2))"
        default: return "byte 0x\(hex(UInt32(byte), width: 2))"
        }
    }
}

/// Hexadecimal, zero-padded to `width` digits.
func hex(_ value: UInt32, width: Int = 4, uppercase: Bool = true) -> String {
    let digits = String(value, radix: 16, uppercase: uppercase)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
