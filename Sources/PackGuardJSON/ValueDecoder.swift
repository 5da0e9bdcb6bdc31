/// A Codable `Decoder` over a `JSONValue`. Every failure is a `DecodingError` carrying the coding
/// path, worded as JSONDecoder words it; numbers are range-checked (never a trap).
struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else {
            throw Unbox.mismatch([String: Any].self, value, codingPath, what: "a keyed container (an object)", nullIsMissing: true)
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else {
            throw Unbox.mismatch([Any].self, value, codingPath, what: "an unkeyed container (an array)", nullIsMissing: true)
        }
        return UnkeyedContainer(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueContainer(value: value, codingPath: codingPath)
    }

    // MARK: Containers

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [String: JSONValue]
        let codingPath: [any CodingKey]

        var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }
        func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

        private func value(_ key: Key) throws -> JSONValue {
            guard let value = members[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath,
                                                           debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
            }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try Unbox.bool(value(key), codingPath + [key]) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try Unbox.string(value(key), codingPath + [key]) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try Unbox.double(value(key), codingPath + [key]) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try Unbox.float(value(key), codingPath + [key]) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try Unbox.integer(value(key), codingPath + [key]) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try Unbox.integer(value(key), codingPath + [key]) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try Unbox.integer(value(key), codingPath + [key]) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try Unbox.integer(value(key), codingPath + [key]) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try Unbox.integer(value(key), codingPath + [key]) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try Unbox.integer(value(key), codingPath + [key]) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try Unbox.integer(value(key), codingPath + [key]) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try Unbox.integer(value(key), codingPath + [key]) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try Unbox.integer(value(key), codingPath + [key]) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try Unbox.integer(value(key), codingPath + [key]) }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try T(from: ValueDecoder(value: value(key), codingPath: codingPath + [key]))
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try ValueDecoder(value: value(key), codingPath: codingPath + [key]).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try ValueDecoder(value: value(key), codingPath: codingPath + [key]).unkeyedContainer()
        }

        // As JSONDecoder: a missing super key decodes as null.
        func superDecoder() throws -> any Decoder {
            ValueDecoder(value: members[JSONKey.superKey.stringValue] ?? .null, codingPath: codingPath + [JSONKey.superKey])
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            ValueDecoder(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key])
        }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let elements: [JSONValue]
        let codingPath: [any CodingKey]
        private(set) var currentIndex = 0

        init(elements: [JSONValue], codingPath: [any CodingKey]) {
            self.elements = elements
            self.codingPath = codingPath
        }

        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }
        private var path: [any CodingKey] { codingPath + [JSONKey(intValue: currentIndex)] }

        /// The next element, decoded by `body`; the index moves on only when it succeeded, so a
        /// caller may try another type.
        private mutating func next<T>(_ type: T.Type, _ body: (JSONValue, [any CodingKey]) throws -> T) throws -> T {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "Unkeyed container is at end."))
            }
            let decoded = try body(elements[currentIndex], path)
            currentIndex += 1
            return decoded
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(Any?.self, .init(codingPath: path, debugDescription: "Unkeyed container is at end."))
            }
            guard elements[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type, Unbox.bool) }
        mutating func decode(_ type: String.Type) throws -> String { try next(type, Unbox.string) }
        mutating func decode(_ type: Double.Type) throws -> Double { try next(type, Unbox.double) }
        mutating func decode(_ type: Float.Type) throws -> Float { try next(type, Unbox.float) }
        mutating func decode(_ type: Int.Type) throws -> Int { try next(type, Unbox.integer) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type, Unbox.integer) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type, Unbox.integer) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type, Unbox.integer) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type, Unbox.integer) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type, Unbox.integer) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type, Unbox.integer) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type, Unbox.integer) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type, Unbox.integer) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type, Unbox.integer) }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try next(type) { value, path in try T(from: ValueDecoder(value: value, codingPath: path)) }
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try next(KeyedDecodingContainer<NestedKey>.self) { value, path in
                try ValueDecoder(value: value, codingPath: path).container(keyedBy: type)
            }
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            try next((any UnkeyedDecodingContainer).self) { value, path in
                try ValueDecoder(value: value, codingPath: path).unkeyedContainer()
            }
        }

        mutating func superDecoder() throws -> any Decoder {
            try next((any Decoder).self) { value, path in ValueDecoder(value: value, codingPath: path) }
        }
    }

    struct SingleValueContainer: SingleValueDecodingContainer {
        let value: JSONValue
        let codingPath: [any CodingKey]

        func decodeNil() -> Bool { value == .null }
        func decode(_ type: Bool.Type) throws -> Bool { try Unbox.bool(value, codingPath) }
        func decode(_ type: String.Type) throws -> String { try Unbox.string(value, codingPath) }
        func decode(_ type: Double.Type) throws -> Double { try Unbox.double(value, codingPath) }
        func decode(_ type: Float.Type) throws -> Float { try Unbox.float(value, codingPath) }
        func decode(_ type: Int.Type) throws -> Int { try Unbox.integer(value, codingPath) }
        func decode(_ type: Int8.Type) throws -> Int8 { try Unbox.integer(value, codingPath) }
        func decode(_ type: Int16.Type) throws -> Int16 { try Unbox.integer(value, codingPath) }
        func decode(_ type: Int32.Type) throws -> Int32 { try Unbox.integer(value, codingPath) }
        func decode(_ type: Int64.Type) throws -> Int64 { try Unbox.integer(value, codingPath) }
        func decode(_ type: UInt.Type) throws -> UInt { try Unbox.integer(value, codingPath) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try Unbox.integer(value, codingPath) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try Unbox.integer(value, codingPath) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try Unbox.integer(value, codingPath) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try Unbox.integer(value, codingPath) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try T(from: ValueDecoder(value: value, codingPath: codingPath))
        }
    }
}

/// Scalars out of values, with JSONDecoder's kinds of error.
enum Unbox {
    static func kind(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .number(let number): "the number \(number.literal)"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The wrong kind of value is `typeMismatch` (null too, as Foundation's JSONDecoder has it for a
    /// scalar); null where a container was needed is `valueNotFound`.
    static func mismatch(_ type: Any.Type, _ value: JSONValue, _ path: [any CodingKey], what: String,
                         nullIsMissing: Bool = false) -> DecodingError {
        if value == .null, nullIsMissing {
            return .valueNotFound(type, .init(codingPath: path, debugDescription: "Expected \(what) but found null instead."))
        }
        return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected to decode \(what) but found \(kind(value)) instead."))
    }

    static func bool(_ value: JSONValue, _ path: [any CodingKey]) throws -> Bool {
        guard case .bool(let flag) = value else { throw mismatch(Bool.self, value, path, what: "Bool") }
        return flag
    }

    static func string(_ value: JSONValue, _ path: [any CodingKey]) throws -> String {
        guard case .string(let text) = value else { throw mismatch(String.self, value, path, what: "String") }
        return text
    }

    static func double(_ value: JSONValue, _ path: [any CodingKey]) throws -> Double {
        guard case .number(let number) = value else { throw mismatch(Double.self, value, path, what: "Double") }
        let double = number.double
        guard double.isFinite else {
            throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "Number \(number.literal) does not fit in Double."))
        }
        return double
    }

    static func float(_ value: JSONValue, _ path: [any CodingKey]) throws -> Float {
        guard case .number(let number) = value else { throw mismatch(Float.self, value, path, what: "Float") }
        guard let float = Float(number.literal), float.isFinite else {
            throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "Number \(number.literal) does not fit in Float."))
        }
        return float
    }

    /// Read exactly, whatever the literal's form: `1e3` and `2.50e2` are whole numbers, `1.5` and
    /// `1e-1` are not, and a number beyond `T` (or beyond any width: `1e400`) does not fit.
    static func integer<T: FixedWidthInteger>(_ value: JSONValue, _ path: [any CodingKey]) throws -> T {
        guard case .number(let number) = value else { throw mismatch(T.self, value, path, what: "\(T.self)") }
        let literal = number.literal
        switch wholeNumber(literal) {
        case .none:
            throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "Number \(literal) is not an integer, as \(T.self) needs."))
        case .some(let digits):
            if let integer = T(digits) { return integer }
            throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "Number \(literal) does not fit in \(T.self)."))
        }
    }

    /// The literal as plain decimal digits (with "-" when negative), or nil when it has a fractional
    /// part. Too many digits for any integer type (more than 40) give a text no width accepts.
    static func wholeNumber(_ literal: String) -> String? {
        let bytes = Array(literal.utf8)
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index += 1 }
        var digits: [UInt8] = []
        var exponentShift = 0
        while index < bytes.count, bytes[index] != UInt8(ascii: "."), bytes[index] | 0x20 != UInt8(ascii: "e") {
            digits.append(bytes[index])
            index += 1
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < bytes.count, bytes[index] | 0x20 != UInt8(ascii: "e") {
                digits.append(bytes[index])
                exponentShift -= 1
                index += 1
            }
        }
        var exponent = 0
        if index < bytes.count {  // an exponent: [eE][+-]?digits, already checked by the reader
            index += 1
            var exponentNegative = false
            if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            while index < bytes.count {
                // Saturate: any exponent beyond a few hundred already means "fractional" or "too large".
                exponent = min(exponent * 10 + Int(bytes[index] - UInt8(ascii: "0")), 100_000)
                index += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        exponent += exponentShift
        // Leading zeros off in one move (one at a time is quadratic in a 64 KiB line of them).
        digits.removeFirst(digits.dropLast().prefix { $0 == UInt8(ascii: "0") }.count)
        if digits == [UInt8(ascii: "0")] { return "0" }
        while exponent < 0, digits.last == UInt8(ascii: "0") {
            digits.removeLast()
            exponent += 1
        }
        guard exponent >= 0 else { return nil }
        guard digits.count + exponent <= 40 else { return String(repeating: "9", count: 41) }
        digits.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: exponent))
        return (negative ? "-" : "") + String(decoding: digits, as: UTF8.self)
    }
}
