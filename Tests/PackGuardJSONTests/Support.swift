import Foundation
import PackGuardJSON
import PackGuardTestSupport
import Testing


/// The error `text` is refused with, or nil when it parses.
func parseError(_ text: String) -> JSONParseError? {
    do throws(JSONParseError) {
        _ = try JSON.parse(text)
        return nil
    } catch {
        return error
    }
}

func parseError(bytes: [UInt8]) -> JSONParseError? {
    do throws(JSONParseError) {
        _ = try JSON.parse(bytes)
        return nil
    } catch {
        return error
    }
}

/// Foundation's text for `value`: compact, keys sorted, and (unless `slashes`) "/" not escaped.
func foundationJSON<T: Encodable>(_ value: T, escapingSlashes slashes: Bool = false) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = slashes ? [.sortedKeys] : [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

func foundationDecode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    try JSONDecoder().decode(type, from: Data(text.utf8))
}

/// The coding path of a DecodingError as "events/Index 0/sequence".
func pathOf(_ error: any Error) -> String? {
    guard let error = error as? DecodingError else { return nil }
    let context: DecodingError.Context
    switch error {
    case .typeMismatch(_, let found), .valueNotFound(_, let found), .dataCorrupted(let found): context = found
    case .keyNotFound(let key, let found):
        return (found.codingPath + [key]).map(\.stringValue).joined(separator: "/")
    @unknown default: return nil
    }
    return context.codingPath.map(\.stringValue).joined(separator: "/")
}

func kindOf(_ error: any Error) -> String? {
    switch error as? DecodingError {
    case .typeMismatch: "typeMismatch"
    case .valueNotFound: "valueNotFound"
    case .keyNotFound: "keyNotFound"
    case .dataCorrupted: "dataCorrupted"
    default: nil
    }
}

/// Any JSON document as a Codable tree, to compare what two decoders made of one text. Numbers are
/// compared by value, so `3` (an integer) equals `3.0` (a double).
indirect enum Tree: Codable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([Tree])
    case object([String: Tree])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let flag = try? container.decode(Bool.self) { self = .bool(flag) }
        else if let integer = try? container.decode(Int64.self) { self = .integer(integer) }
        else if let double = try? container.decode(Double.self) { self = .double(double) }
        else if let text = try? container.decode(String.self) { self = .string(text) }
        else if let elements = try? container.decode([Tree].self) { self = .array(elements) }
        else { self = .object(try container.decode([String: Tree].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let flag): try container.encode(flag)
        case .integer(let integer): try container.encode(integer)
        case .double(let double): try container.encode(double)
        case .string(let text): try container.encode(text)
        case .array(let elements): try container.encode(elements)
        case .object(let members): try container.encode(members)
        }
    }

    static func == (left: Tree, right: Tree) -> Bool {
        switch (left, right) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.integer(let a), .double(let b)), (.double(let b), .integer(let a)): Double(a) == b  // "4.2780976101593837e+17" reads as the integer it spells, which rounds to the double
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }

    /// True when the tree holds no double (so both writers' texts are canonical and comparable byte for byte).
    var isIntegral: Bool {
        switch self {
        case .double: false
        case .array(let elements): elements.allSatisfy(\.isIntegral)
        case .object(let members): members.values.allSatisfy(\.isIntegral)
        default: true
        }
    }
}

/// Random trees, strings and numbers, covering escapes, non-BMP characters and number extremes.
struct TreeWriter {
    var random: SeededGenerator

    static let pieces: [String] = [
        "a", "B", "z", "0", "9", " ", "\"", "\\", "/", "\u{0}", "\u{1}", "\u{8}", "\t", "\n", "\u{B}", "\u{C}", "\r", "\u{1F}",
        "\u{7F}", "é", "e\u{301}", "ß", "Ω", "✓", "\u{2028}", "\u{FEFF}", "\u{FFFF}", "😀", "𝄞", "\u{10FFFF}", "中", "~", "{", "]",
    ]

    mutating func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &random)] }

    mutating func string() -> String {
        (0..<Int.random(in: 0...6, using: &random)).map { _ in pick(Self.pieces) }.joined()
    }

    mutating func double() -> Double {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return Double(Int.random(in: -1000...1000, using: &random)) / 8
        case 1: return pick([0.1, -0.0, Double.leastNonzeroMagnitude * 3, Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, -Double.leastNormalMagnitude, 1e16, 123456789.125])
        default:
            while true {
                let candidate = Double(bitPattern: random.next())
                if candidate.isFinite { return candidate }
            }
        }
    }

    mutating func integer() -> Int64 {
        switch Int.random(in: 0..<3, using: &random) {
        case 0: return Int64.random(in: -100...100, using: &random)
        case 1: return pick([Int64.min, Int64.max, 0, -1, 1 << 53, (1 << 53) + 1])
        default: return Int64(bitPattern: random.next())
        }
    }

    mutating func tree(depth: Int, integral: Bool) -> Tree {
        let choice = Int.random(in: 0..<(depth == 0 ? 5 : 7), using: &random)
        switch choice {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &random))
        case 2: return .integer(integer())
        case 3: return integral ? .integer(integer()) : .double(double())
        case 4: return .string(string())
        case 5: return .array((0..<Int.random(in: 0...4, using: &random)).map { _ in tree(depth: depth - 1, integral: integral) })
        default:
            var members: [String: Tree] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &random) { members[string()] = tree(depth: depth - 1, integral: integral) }
            return .object(members)
        }
    }
}
