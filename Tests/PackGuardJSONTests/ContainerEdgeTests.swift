import Foundation
import PackGuardJSON
import Testing

/// Reads an array the hard way: nil probes, a failed decode that must not move on, a super-decoder.
private struct Probing: Decodable, Equatable {
    var values: [String]

    init(values: [String]) { self.values = values }

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var values: [String] = []
        #expect(container.count == 4)
        while !container.isAtEnd {
            if try container.decodeNil() {
                values.append("nil")
            } else if let number = try? container.decode(Int.self) {
                values.append("int \(number)")
            } else if let text = try? container.decode(String.self) {
                values.append("string \(text)")
            } else {
                let nested = try container.superDecoder()
                values.append("super \(try [Bool](from: nested))")
            }
        }
        #expect(container.currentIndex == 4)
        #expect(throws: DecodingError.self) { try container.decodeNil() }
        #expect(throws: DecodingError.self) { try container.decode(Int.self) }
        self.values = values
    }
}

private struct SuperInArray: Encodable {
    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(1)
        try [true].encode(to: container.superEncoder())
        var nested = container.nestedContainer(keyedBy: JSONTestKey.self)
        try nested.encode("v", forKey: JSONTestKey(stringValue: "k"))
        try container.encodeNil()
        #expect(container.count == 4)
    }
}

@Suite("Codable: containers at their edges")
struct ContainerEdgeTests {
    @Test func aFailedDecodeDoesNotMoveTheUnkeyedContainerOn() throws {
        let text = #"[null, 7, "x", [true, false]]"#
        let expected = Probing(values: ["nil", "int 7", "string x", "super [true, false]"])
        #expect(try JSON.decode(Probing.self, from: text) == expected)
        #expect(try foundationDecode(Probing.self, text) == expected)
    }

    @Test func superEncodersAndNestedContainersInArrays() throws {
        #expect(try JSON.encode(SuperInArray()) == #"[1,[true],{"k":"v"},null]"#)
        #expect(try JSON.encode(SuperInArray()) == (try foundationJSON(SuperInArray())))
    }

    @Test func askingTwiceForANestedContainerSharesIt() throws {
        struct Twice: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: JSONTestKey.self)
                let key = JSONTestKey(stringValue: "n")
                var first = container.nestedContainer(keyedBy: JSONTestKey.self, forKey: key)
                try first.encode(1, forKey: JSONTestKey(stringValue: "a"))
                var second = container.nestedContainer(keyedBy: JSONTestKey.self, forKey: key)
                try second.encode(2, forKey: JSONTestKey(stringValue: "b"))
                var list = container.nestedUnkeyedContainer(forKey: JSONTestKey(stringValue: "l"))
                try list.encode(1)
                var again = container.nestedUnkeyedContainer(forKey: JSONTestKey(stringValue: "l"))
                try again.encode(2)
            }
        }
        #expect(try JSON.encode(Twice()) == #"{"l":[1,2],"n":{"a":1,"b":2}}"#)
        #expect(try JSON.encode(Twice()) == (try foundationJSON(Twice())))
    }

    @Test func canonicallyEquivalentKeysAreOneKey() {
        #expect(parseError(#"{"é":1,"e\u0301":2}"#)?.found == "duplicate key \"e\u{301}\"")
    }

    @Test func bytesAndTextReadTheSame() throws {
        let text = #"{"ok":true,"message":"é 😀"}"#
        #expect(try JSON.parse(Array(text.utf8)) == JSON.parse(text))
        #expect(try JSON.decode(ControlReplyShape.self, from: Array(text.utf8)) == JSON.decode(ControlReplyShape.self, from: text))
        let value = try JSON.parse(text)
        #expect(try JSON.decode(ControlReplyShape.self, from: value).message == "é 😀")
        #expect(JSON.write(value) == #"{"message":"é 😀","ok":true}"#)
        #expect(try JSON.encodeValue(ControlReplyShape(ok: true, message: "é 😀")) == value)
    }

    @Test func keyedContainersListTheirKeys() throws {
        struct Keys: Decodable {
            var keys: [String]
            init(from decoder: any Decoder) throws {
                keys = try decoder.container(keyedBy: JSONTestKey.self).allKeys.map(\.stringValue).sorted()
            }
        }
        #expect(try JSON.decode(Keys.self, from: #"{"b":1,"a":null,"":[]}"#).keys == ["", "a", "b"])
    }

    /// The library must not bring Foundation back into the daemon: neither it nor the daemon imports it.
    @Test func noFoundationInTheLibraryOrTheDaemon() throws {
        var root = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        root.removeLast(3)
        let repository = root.joined(separator: "/")
        for directory in ["Sources/PackGuardJSON", "Sources/PackGuardDaemon"] {
            let path = "\(repository)/\(directory)"
            let files = try #require(FileManager.default.enumerator(atPath: path)).compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
            #expect(!files.isEmpty, "\(path)")
            for file in files {
                let text = try String(contentsOfFile: "\(path)/\(file)", encoding: .utf8)
                for line in text.split(separator: "\n") where line.hasPrefix("import Foundation") || line.contains("import FoundationEssentials") {
                    Issue.record("\(directory)/\(file): \(line)")
                }
            }
        }
    }
}
