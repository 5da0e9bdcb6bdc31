import Foundation
import PackGuardJSON
import Testing

@Suite("Reader: strict RFC 8259")
struct ReaderTests {
    @Test func valuesOfEveryKind() throws {
        #expect(try JSON.parse(" \t\r\n{\"a\": [1, -0, 2.5e-3, 1E+2, true, false, null, \"x\"], \"b\": {}} \n") == .object([
            "a": .array([.number(JSONNumber(1)), .number(JSONNumber(literal: "-0")!), .number(JSONNumber(literal: "2.5e-3")!),
                         .number(JSONNumber(literal: "1E+2")!), .bool(true), .bool(false), .null, .string("x")]),
            "b": .object([:]),
        ]))
        #expect(try JSON.parse("[]") == .array([]))
        #expect(try JSON.parse("\"\"") == .string(""))
        #expect(try JSON.parse("0") == .number(JSONNumber(0)))
    }

    @Test func everyEscape() throws {
        let text = #""\" \\ \/ \b \f \n \r \t \u0000 \u001f \u00e9 \u00C9 \u2028 \uD83D\uDE00 \udbff\udfff""#
        #expect(try JSON.parse(text) == .string("\" \\ / \u{8} \u{C} \n \r \t \u{0} \u{1F} é É \u{2028} 😀 \u{10FFFF}"))
        // Raw UTF-8 of every length reads as itself.
        #expect(try JSON.parse("\"é ✓ 😀 𝄞\"") == .string("é ✓ 😀 𝄞"))
    }

    /// Each malformed document, the byte offset it is refused at, and a word of what was expected there.
    static let malformed: [(String, Int, String)] = [
        ("", 0, "a value"), ("   ", 3, "a value"), ("[1,]", 3, "a value"), ("[1 2]", 3, "',' or ']'"), ("[1,,2]", 3, "a value"),
        ("{\"a\" 1}", 5, "':'"), ("{\"a\":1,}", 7, "a string key"), ("{a:1}", 1, "a string key or '}'"), ("{\"a\":}", 5, "a value"),
        ("{\"a\":1 \"b\":2}", 7, "',' or '}'"), ("{\"a\":1,\"a\":2}", 7, "a key not already"),
        ("01", 1, "leading 0"), ("-01", 2, "leading 0"), ("-", 1, "a digit"), ("1.", 2, "a digit"), ("1.e3", 2, "a digit"),
        ("1e", 2, "a digit"), ("1e+", 3, "a digit"), (".5", 0, "a value"), ("+1", 0, "a value"), ("NaN", 0, "a value"),
        ("Infinity", 0, "a value"), ("-Infinity", 1, "a digit"), ("tru", 3, "'true'"), ("trux", 3, "'true'"), ("nul", 3, "'null'"),
        ("True", 0, "a value"), ("1 2", 2, "end of input"), ("[1]x", 3, "end of input"), ("{} {}", 3, "end of input"),
        ("\"abc", 4, "closing the string"), ("\"a\u{1}\"", 2, "control character"), ("\"a\tb\"", 2, "control character"),
        ("\"a\nb\"", 2, "control character"), ("\"\\x\"", 2, "an escape"), ("\"\\", 2, "an escape"), ("\"\\u12G4\"", 5, "hexadecimal"),
        ("\"\\u12", 5, "hexadecimal"), ("\"\\uDC00\"", 1, "high surrogate"), ("\"\\uD800\"", 7, "low surrogate"),
        ("\"\\uD800\\u0041\"", 7, "low surrogate"), ("\"\\uD800\\uD800\"", 7, "low surrogate"), ("\"\\uD800x\"", 7, "low surrogate"),
        ("[", 1, "a value"), ("{", 1, "a string key or '}'"), ("[1,2", 4, "',' or ']'"), ("/* c */1", 0, "a value"),
        ("'a'", 0, "a value"), ("\u{FEFF}1", 0, "a value"), ("1 \u{B}", 2, "end of input"), ("[1]\u{0}", 3, "end of input"),
    ]

    @Test(arguments: malformed)
    func malformedDocumentsAreRefusedWhereTheyGoWrong(text: String, offset: Int, expected: String) throws {
        let error = try #require(parseError(text), "accepted: \(text.debugDescription)")
        #expect(error.offset == offset, "\(text.debugDescription): \(error)")
        #expect(error.expected.contains(expected), "\(text.debugDescription): \(error)")
        #expect(error.description.hasPrefix("at byte \(offset): expected "))
        // Foundation refuses every one of them too, except a few it is lax about (a NUL after the value, a
        // duplicate key, a trailing comma, a byte order mark), so the reader is no laxer than the decoder it replaces.
        if !["[1]\u{0}", "{\"a\":1,\"a\":2}", "[1,]", "{\"a\":1,}", "\u{FEFF}1"].contains(text) {
            #expect(throws: (any Error).self, "\(text.debugDescription)") { try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) }
        }
    }

    @Test func whatWasFoundIsNamed() {
        #expect(parseError("[1 x]")?.description == "at byte 3: expected ',' or ']', found 'x'")
        #expect(parseError("[1")?.found == "end of input")
        #expect(parseError("\"\u{1F}\"")?.found == "control character 0x1F")
        #expect(parseError("[1 ]]")?.description == "at byte 4: expected end of input after the value, found ']'")
        #expect(parseError("\"\\uDE00\"")?.found == "lone low surrogate \\uDE00")
        #expect(parseError("{\"k\":1,\"k\":1}")?.found == "duplicate key \"k\"")
    }

    /// Ill-formed UTF-8 (a lone continuation byte, an overlong form, an encoded surrogate, a truncated sequence,
    /// beyond U+10FFFF) is refused at the first byte that does not fit.
    static let badUTF8: [([UInt8], Int)] = [
        ([0x22, 0xFF, 0x22], 1), ([0x22, 0x80, 0x22], 1), ([0x22, 0xC0, 0xAF, 0x22], 1), ([0x22, 0xC3, 0x22], 2),
        ([0x22, 0xE0, 0x80, 0x80, 0x22], 2), ([0x22, 0xED, 0xA0, 0x80, 0x22], 2), ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 2),
        ([0x22, 0xF0, 0x9F, 0x98], 4), ([0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], 1), ([0xC3, 0xA9], 0),
    ]

    @Test(arguments: badUTF8)
    func illFormedUTF8IsRefused(bytes: [UInt8], offset: Int) throws {
        let error = try #require(parseError(bytes: bytes))
        #expect(error.offset == offset, "\(bytes): \(error)")
        #expect(try JSON.parse([0x22, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0x22]) == .string("é😀"))
    }

    @Test func nestingIsLimited() throws {
        let deepest = String(repeating: "[", count: JSON.maximumDepth) + String(repeating: "]", count: JSON.maximumDepth)
        #expect(parseError(deepest) == nil)
        let tooDeep = String(repeating: "[", count: JSON.maximumDepth + 1) + String(repeating: "]", count: JSON.maximumDepth + 1)
        let error = try #require(parseError(tooDeep))
        #expect(error.offset == JSON.maximumDepth)
        #expect(error.expected == "at most 64 nested arrays and objects")
        let objects = String(repeating: "{\"a\":", count: JSON.maximumDepth + 1) + "1" + String(repeating: "}", count: JSON.maximumDepth + 1)
        #expect(parseError(objects)?.offset == 5 * JSON.maximumDepth)
        // Hostile: a million brackets are refused at the limit, not by running out of stack.
        #expect(parseError(String(repeating: "[", count: 1_000_000))?.offset == JSON.maximumDepth)
        #expect(parseError(String(repeating: "[{\"a\":", count: 200_000))?.offset != nil)
    }

    @Test func numberLiteralsAreCheckedWhenMadeByHand() {
        #expect(JSONNumber(literal: "-0.5e+10")?.literal == "-0.5e+10")
        for bad in ["", "-", "01", "+1", "1.", ".1", "1e", "NaN", "inf", "1 ", " 1", "0x10", "1_000"] {
            #expect(JSONNumber(literal: bad) == nil, "\(bad)")
        }
        #expect(JSONNumber(Double.nan) == nil)
        #expect(JSONNumber(-Double.infinity) == nil)
        #expect(JSONNumber(Float.infinity) == nil)
        #expect(JSONNumber(3.0)?.literal == "3")
        #expect(JSONNumber(Float(0.1))?.literal == "0.1")
    }
}
