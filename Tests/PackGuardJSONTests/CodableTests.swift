import Foundation
import PackGuardJSON
import PackGuardTestSupport
import Testing

private struct Widths: Codable, Equatable {
    var int: Int, int8: Int8, int16: Int16, int32: Int32, int64: Int64
    var uint: UInt, uint8: UInt8, uint16: UInt16, uint32: UInt32, uint64: UInt64
}

private struct Wrapped<T: Codable & Equatable>: Codable, Equatable { var value: T }

/// Uses every container kind: nested keyed and unkeyed containers, super-encoders, single values.
private struct Containers: Codable, Equatable {
    var name: String
    var point: (x: Int, y: Int)
    var list: [[Bool]]
    var base: Int8
    var flag: Bool?

    enum Keys: String, CodingKey { case name, point, list, base, flag, extra }
    enum PointKeys: String, CodingKey { case x, y }

    init(name: String, point: (x: Int, y: Int), list: [[Bool]], base: Int8, flag: Bool?) {
        self.name = name
        self.point = point
        self.list = list
        self.base = base
        self.flag = flag
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        name = try container.decode(String.self, forKey: .name)
        let point = try container.nestedContainer(keyedBy: PointKeys.self, forKey: .point)
        self.point = (try point.decode(Int.self, forKey: .x), try point.decode(Int.self, forKey: .y))
        var outer = try container.nestedUnkeyedContainer(forKey: .list)
        var list: [[Bool]] = []
        while !outer.isAtEnd {
            var inner = try outer.nestedUnkeyedContainer()
            var row: [Bool] = []
            while !inner.isAtEnd { row.append(try inner.decode(Bool.self)) }
            list.append(row)
        }
        self.list = list
        base = try Int8(from: container.superDecoder())
        flag = try container.decodeIfPresent(Bool.self, forKey: .flag)
        #expect(try container.decodeNil(forKey: .extra))
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(name, forKey: .name)
        var point = container.nestedContainer(keyedBy: PointKeys.self, forKey: .point)
        try point.encode(self.point.x, forKey: .x)
        try point.encode(self.point.y, forKey: .y)
        var outer = container.nestedUnkeyedContainer(forKey: .list)
        for row in list {
            var inner = outer.nestedUnkeyedContainer()
            for value in row { try inner.encode(value) }
        }
        try base.encode(to: container.superEncoder())
        try container.encodeIfPresent(flag, forKey: .flag)
        try container.encodeNil(forKey: .extra)
    }

    static func == (left: Containers, right: Containers) -> Bool {
        left.name == right.name && left.point == right.point && left.list == right.list && left.base == right.base && left.flag == right.flag
    }
}

@Suite("Codable: PackGuardJSON's Encoder and Decoder")
struct CodableTests {
    @Test func everyIntegerWidthAtItsBounds() throws {
        let lowest = Widths(int: .min, int8: .min, int16: .min, int32: .min, int64: .min, uint: .min, uint8: .min, uint16: .min, uint32: .min, uint64: .min)
        let highest = Widths(int: .max, int8: .max, int16: .max, int32: .max, int64: .max, uint: .max, uint8: .max, uint16: .max, uint32: .max, uint64: .max)
        for widths in [lowest, highest] {
            let text = try JSON.encode(widths)
            #expect(try JSON.decode(Widths.self, from: text) == widths)
            #expect(text == (try foundationJSON(widths)))
        }
        #expect(try JSON.encode(highest).contains("\"uint64\":18446744073709551615"))
    }

    /// One past each bound, a fraction, and a number beyond Double: a typed DecodingError naming the key, never a trap.
    static let outOfRange: [(String, String)] = [
        ("int8", "128"), ("int8", "-129"), ("int16", "32768"), ("int16", "-32769"), ("int32", "2147483648"), ("int32", "-2147483649"),
        ("int64", "9223372036854775808"), ("int64", "-9223372036854775809"), ("int", "9223372036854775808"), ("int", "-9223372036854775809"),
        ("uint8", "256"), ("uint8", "-1"), ("uint16", "65536"), ("uint32", "4294967296"), ("uint64", "18446744073709551616"),
        ("uint", "18446744073709551616"), ("uint", "-1"), ("int", "1.5"), ("int", "1e400"), ("uint8", "2.56e2"), ("int64", "1e19"),
        ("int", "123456789012345678901234567890"), ("int", "1e-400"), ("int", "10000000000000000000.5"), ("uint8", "-1e0"),
    ]

    @Test(arguments: outOfRange)
    func anIntegerOutOfRangeIsADecodingError(key: String, literal: String) throws {
        var members = ["int": "0", "int8": "0", "int16": "0", "int32": "0", "int64": "0", "uint": "0", "uint8": "0", "uint16": "0",
                       "uint32": "0", "uint64": "0"]
        members[key] = literal
        let text = "{" + members.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
        do {
            let decoded = try JSON.decode(Widths.self, from: text)
            Issue.record("\(key) = \(literal) decoded as \(decoded)")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.codingPath.map(\.stringValue) == [key])
            #expect(context.debugDescription.contains(literal))
        }
        // Foundation refuses them too (except 1e-400, which it rounds to 0 first).
        if literal != "1e-400" {
            #expect(throws: DecodingError.self) { try foundationDecode(Widths.self, text) }
        }
    }

    @Test func wholeNumbersWrittenOtherwiseAreIntegers() throws {
        #expect(try JSON.decode(Wrapped<Int>.self, from: #"{"value":1e3}"#).value == 1000)
        #expect(try JSON.decode(Wrapped<UInt8>.self, from: #"{"value":2.0}"#).value == 2)
        #expect(try JSON.decode(Wrapped<UInt8>.self, from: #"{"value":-0}"#).value == 0)
        #expect(try JSON.decode(Wrapped<Int64>.self, from: #"{"value":-9007199254740992e0}"#).value == -9_007_199_254_740_992)
        // Exactly, beyond what a Double holds.
        for literal in ["9007199254740993.0", "9.007199254740993e15", "2.50e2", "0.0", "-0e5", "1000e-3"] {
            let text = #"{"value":\#(literal)}"#
            #expect(try JSON.decode(Wrapped<Int64>.self, from: text) == (try foundationDecode(Wrapped<Int64>.self, text)), "\(literal)")
        }
        // Foundation refuses this one; it is Int64.max exactly.
        #expect(try JSON.decode(Wrapped<Int64>.self, from: #"{"value":922337203685477580.7e1}"#).value == .max)
        // A request-sized run of zeros (the control socket takes 64 KiB lines) before the digit that counts.
        let zeros = String(repeating: "0", count: 60_000)
        #expect(try JSON.decode(Wrapped<Int>.self, from: #"{"value":0.\#(zeros)1e60001}"#).value == 1)
        #expect(try JSON.decode(Wrapped<Int>.self, from: #"{"value":-0.\#(zeros)7e60001}"#).value == -7)
        #expect(try JSON.decode(Wrapped<Int>.self, from: #"{"value":0.\#(zeros)e5}"#).value == 0)
        #expect(throws: DecodingError.self) { try JSON.decode(Wrapped<Int>.self, from: #"{"value":0.\#(zeros)1e60000}"#) }
    }

    @Test func doublesReadBackBitForBit() throws {
        var random = SeededGenerator(42)
        var values: [Double] = [0, -0.0, 0.1, 1.0 / 3, Double.leastNonzeroMagnitude, -Double.greatestFiniteMagnitude, Double.leastNormalMagnitude, 1e16, 1e-7, 3]
        while values.count < 5000 {
            let candidate = Double(bitPattern: random.next())
            if candidate.isFinite { values.append(candidate) }
        }
        let text = try JSON.encode(values)
        let ours = try JSON.decode([Double].self, from: text)
        let theirs = try foundationDecode([Double].self, text)
        #expect(ours.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(theirs.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(try JSON.decode([Double].self, from: try foundationJSON(values)).map(\.bitPattern) == values.map(\.bitPattern))
        #expect(try JSON.encode([3.0, -0.0, 2.5]) == "[3,-0,2.5]")
    }

    @Test func floatsReadBackBitForBit() throws {
        var random = SeededGenerator(7)
        var values: [Float] = [0.1, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        while values.count < 2000 {
            let candidate = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
            if candidate.isFinite { values.append(candidate) }
        }
        let text = try JSON.encode(values)
        #expect(try JSON.decode([Float].self, from: text).map(\.bitPattern) == values.map(\.bitPattern))
        #expect(try foundationDecode([Float].self, text).map(\.bitPattern) == values.map(\.bitPattern))
        #expect(throws: DecodingError.self) { try JSON.decode([Float].self, from: "[1e39]") }
        #expect(throws: DecodingError.self) { try JSON.decode([Double].self, from: "[1e400]") }
        #expect(try JSON.decode([Double].self, from: "[1e-400]") == [0])
    }

    @Test func nonFiniteNumbersAreAnEncodingError() {
        for value in [Double.nan, .infinity, -.infinity] {
            do {
                _ = try JSON.encode(Wrapped(value: [1, value]))
                Issue.record("\(value) encoded")
            } catch let EncodingError.invalidValue(_, context) {
                #expect(context.codingPath.map(\.stringValue) == ["value", "Index 1"])
            } catch {
                Issue.record("\(error)")
            }
        }
        #expect(throws: EncodingError.self) { try JSON.encode(Float.nan) }
    }

    @Test func stringsWithEveryEscapeAndBeyondTheBMP() throws {
        let text = "\"\\/\u{0}\u{1}\u{8}\t\n\u{B}\u{C}\r\u{1F} \u{7F}é😀𝄞\u{10FFFF}\u{2028}"
        let encoded = try JSON.encode([text])
        #expect(encoded == #"["\"\\/\u0000\u0001\b\t\n\u000b\f\r\u001f "# + "\u{7F}é😀𝄞\u{10FFFF}\u{2028}\"]")
        #expect(encoded == (try foundationJSON([text])))
        #expect(try JSON.decode([String].self, from: encoded) == [text])
        // Foundation escapes "/" unless told not to; both read either.
        #expect(try foundationJSON(["a/b"], escapingSlashes: true) == #"["a\/b"]"#)
        #expect(try JSON.decode([String].self, from: #"["a\/b"]"#) == ["a/b"])
        #expect(try foundationDecode([String].self, try JSON.encode(["a/b"])) == ["a/b"])
    }

    @Test func invalidSurrogatesAreRefusedWhenDecoding() {
        for bad in [#"["\uD800"]"#, #"["\uDFFF"]"#, #"["\uD83D\u0041"]"#, #"["\uDE00\uD83D"]"#, #"["\uD83D"#] {
            do {
                _ = try JSON.decode([String].self, from: bad)
                Issue.record("accepted \(bad)")
            } catch let DecodingError.dataCorrupted(context) {
                #expect(context.underlyingError is JSONParseError, "\(bad)")
                #expect(context.debugDescription.hasPrefix("The given data was not valid JSON: at byte "))
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    @Test func everyContainerKindRoundTripsAndMatchesFoundation() throws {
        for flag in [true, nil] {
            let value = Containers(name: "n", point: (x: -3, y: 4), list: [[true], [], [false, true]], base: -8, flag: flag)
            let text = try JSON.encode(value)
            #expect(try JSON.decode(Containers.self, from: text) == value)
            #expect(text == (try foundationJSON(value)))
            #expect(try foundationDecode(Containers.self, text) == value)
            #expect(try JSON.decode(Containers.self, from: try foundationJSON(value)) == value)
        }
        #expect(try JSON.encode(Containers(name: "n", point: (1, 2), list: [], base: 1, flag: nil))
            == #"{"extra":null,"list":[],"name":"n","point":{"x":1,"y":2},"super":1}"#)
    }

    @Test func nilOptionalsAreLeftOutAndReadBackAsNil() throws {
        struct Optionals: Codable, Equatable { var a: Int?; var b: String?; var c: [Int]? }
        #expect(try JSON.encode(Optionals(a: nil, b: "x", c: nil)) == #"{"b":"x"}"#)
        #expect(try JSON.decode(Optionals.self, from: #"{"a":null,"b":"x"}"#) == Optionals(a: nil, b: "x", c: nil))
        #expect(try JSON.encode([Int?.none, 1]) == "[null,1]")
        #expect(try JSON.decode([Int?].self, from: "[null,1]") == [nil, 1])
        #expect(try JSON.encode(["k": Int?.none]) == #"{"k":null}"#)
        #expect(try JSON.encode(Int?.none) == "null")
    }

    @Test func dictionariesAreObjectsWithSortedKeys() throws {
        let value: [String: [String: Double]] = ["b": ["z": 1.5, "a": -2], "a": [:], "B": ["é": 0], "\u{1F600}": ["": 3]]
        let text = try JSON.encode(value)
        #expect(text == #"{"B":{"é":0},"a":{},"b":{"a":-2,"z":1.5},"😀":{"":3}}"#)
        #expect(try JSON.decode([String: [String: Double]].self, from: text) == value)
        #expect(try foundationDecode([String: [String: Double]].self, text) == value)
        let intKeys: [Int: String] = [2: "b", 10: "a"]
        #expect(try JSON.decode([Int: String].self, from: try JSON.encode(intKeys)) == intKeys)
    }

    /// Decoding errors are JSONDecoder's kinds, with the coding path to the value that was wrong.
    static let wrongDocuments: [(String, String, String)] = [
        (#"{"ok":true,"events":[{"sequence":1.5,"uptimeMs":0,"kind":"k","reason":"r"}]}"#, "events/Index 0/sequence", "dataCorrupted"),
        (#"{"ok":true,"events":[{"sequence":1,"uptimeMs":0,"kind":"k"}]}"#, "events/Index 0/reason", "keyNotFound"),
        (#"{"ok":"yes"}"#, "ok", "typeMismatch"),
        (#"{"ok":null}"#, "ok", "typeMismatch"),
        (#"{"ok":true,"events":[null]}"#, "events/Index 0", "valueNotFound"),
        (#"{}"#, "ok", "keyNotFound"),
        (#"{"ok":true,"message":5}"#, "message", "typeMismatch"),
        (#"{"ok":true,"events":{}}"#, "events", "typeMismatch"),
        (#"[]"#, "", "typeMismatch"),
        (#"{"ok":true"#, "", "dataCorrupted"),
    ]

    @Test(arguments: wrongDocuments)
    func decodingErrorsNameThePath(text: String, path: String, kind: String) throws {
        do {
            _ = try JSON.decode(ControlReplyShape.self, from: text)
            Issue.record("decoded \(text)")
        } catch {
            #expect(pathOf(error) == path, "\(error)")
            #expect(kindOf(error) == kind, "\(error)")
            // Foundation fails the same way at the same place.
            do {
                _ = try foundationDecode(ControlReplyShape.self, text)
                Issue.record("Foundation decoded \(text)")
            } catch let theirs {
                #expect(kindOf(theirs) == kind, "\(theirs)")
                if kind != "dataCorrupted" { #expect(pathOf(theirs) == path, "\(theirs)") }
            }
        }
    }

    @Test func encodingTwiceAtOnePathIsAnErrorNotATrap() throws {
        struct Twice: Encodable {
            func encode(to encoder: any Encoder) throws {
                var single = encoder.singleValueContainer()
                try single.encode(1)
                try single.encode(2)
            }
        }
        struct Mixed: Encodable {
            func encode(to encoder: any Encoder) throws {
                var single = encoder.singleValueContainer()
                try single.encode(1)
                _ = encoder.container(keyedBy: JSONTestKey.self)
            }
        }
        struct Nothing: Encodable { func encode(to encoder: any Encoder) throws {} }
        #expect(throws: EncodingError.self) { try JSON.encode(Twice()) }
        #expect(throws: EncodingError.self) { try JSON.encode(Mixed()) }
        #expect(throws: EncodingError.self) { try JSON.encode(Nothing()) }
        #expect(try JSON.encode([Nothing()]) == "[{}]")
    }
}

struct JSONTestKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// ControlReply's shape with LoggedEvent inside, for error paths without the daemon's types.
struct ControlReplyShape: Codable, Equatable {
    struct Event: Codable, Equatable { var sequence: Int; var uptimeMs: Int64; var kind: String; var reason: String }
    var ok: Bool
    var message: String?
    var events: [Event]?
}
