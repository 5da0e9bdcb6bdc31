/// A Codable `Encoder` that builds a `JSONValue`. Containers write into shared reference nodes
/// (a nested container or super-encoder fills its slot after it was handed out), which are turned
/// into values once encoding has finished.
final class EncodedNode {
    enum Content { case unset, scalar(JSONValue), object, array }
    var content: Content = .unset
    var members: [String: EncodedNode] = [:]
    var elements: [EncodedNode] = []

    var value: JSONValue {
        switch content {
        // A value that asked for no container at all: JSONEncoder writes an empty object.
        case .unset: .object([:])
        case .scalar(let value): value
        case .object: .object(members.mapValues(\.value))
        case .array: .array(elements.map(\.value))
        }
    }
}

/// The key of an array element or of a super-encoder, for coding paths.
struct JSONKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
    static let superKey = JSONKey(stringValue: "super")
}

/// What went wrong where a container could not throw (asking for a keyed container after encoding
/// a single value, say); thrown when encoding ends, instead of trapping as JSONEncoder does.
final class EncodingState {
    var failure: EncodingError?
    func fail(_ path: [any CodingKey], _ why: String) {
        if failure == nil { failure = .invalidValue((), .init(codingPath: path, debugDescription: why)) }
    }
}

final class ValueEncoder: Encoder {
    let node: EncodedNode
    let codingPath: [any CodingKey]
    let state: EncodingState
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: EncodedNode, codingPath: [any CodingKey], state: EncodingState) {
        self.node = node
        self.codingPath = codingPath
        self.state = state
    }

    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let node = EncodedNode()
        let state = EncodingState()
        try ValueEncoder(node: node, codingPath: [], state: state).encodeChild(value, into: node, at: [])
        if let failure = state.failure { throw failure }
        if case .unset = node.content {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
        return node.value
    }

    func encodeChild<T: Encodable>(_ value: T, into child: EncodedNode, at path: [any CodingKey]) throws {
        try value.encode(to: ValueEncoder(node: child, codingPath: path, state: state))
    }

    /// `node` as an object or array: claims it if it is still unset, shares it if it already is one.
    func claim(_ wanted: EncodedNode.Content) -> EncodedNode {
        switch (node.content, wanted) {
        case (.unset, _): node.content = wanted; return node
        case (.object, .object), (.array, .array): return node
        default:
            state.fail(codingPath, "cannot open a second, different container at one coding path")
            return EncodedNode()
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(node: claim(.object), encoder: self, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedContainer(node: claim(.array), encoder: self, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(encoder: self)
    }

    static func number(_ value: Double, at path: [any CodingKey]) throws -> JSONValue {
        guard let number = JSONNumber(value) else {
            throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "Unable to encode Double.\(value) directly in JSON."))
        }
        return .number(number)
    }

    static func number(_ value: Float, at path: [any CodingKey]) throws -> JSONValue {
        guard let number = JSONNumber(value) else {
            throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "Unable to encode Float.\(value) directly in JSON."))
        }
        return .number(number)
    }

    // MARK: Containers

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: EncodedNode
        let encoder: ValueEncoder
        let codingPath: [any CodingKey]

        private func set(_ value: JSONValue, _ key: Key) {
            let child = EncodedNode()
            child.content = .scalar(value)
            node.members[key.stringValue] = child
        }

        private func slot(_ key: Key) -> EncodedNode {
            let child = EncodedNode()
            node.members[key.stringValue] = child
            return child
        }

        mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
        mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
        mutating func encode(_ value: Double, forKey key: Key) throws { set(try ValueEncoder.number(value, at: codingPath + [key]), key) }
        mutating func encode(_ value: Float, forKey key: Key) throws { set(try ValueEncoder.number(value, at: codingPath + [key]), key) }
        mutating func encode(_ value: Int, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { set(.number(JSONNumber(value)), key) }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try encoder.encodeChild(value, into: slot(key), at: codingPath + [key])
        }

        /// The container already at `key` when it is of the same kind (asking twice shares it, as in
        /// JSONEncoder), a new one otherwise.
        private func nested(_ kind: EncodedNode.Content, _ key: Key) -> EncodedNode {
            if let existing = node.members[key.stringValue] {
                switch (existing.content, kind) {
                case (.object, .object), (.array, .array): return existing
                default: break
                }
            }
            let child = slot(key)
            child.content = kind
            return child
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                           forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(KeyedContainer<NestedKey>(node: nested(.object, key), encoder: encoder, codingPath: codingPath + [key]))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            UnkeyedContainer(node: nested(.array, key), encoder: encoder, codingPath: codingPath + [key])
        }

        mutating func superEncoder() -> any Encoder {
            let child = EncodedNode()
            node.members[JSONKey.superKey.stringValue] = child
            return ValueEncoder(node: child, codingPath: codingPath + [JSONKey.superKey], state: encoder.state)
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder {
            ValueEncoder(node: slot(key), codingPath: codingPath + [key], state: encoder.state)
        }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let node: EncodedNode
        let encoder: ValueEncoder
        let codingPath: [any CodingKey]
        var count: Int { node.elements.count }

        private func append(_ value: JSONValue) {
            let child = EncodedNode()
            child.content = .scalar(value)
            node.elements.append(child)
        }

        private func slot() -> (EncodedNode, [any CodingKey]) {
            let path = codingPath + [JSONKey(intValue: node.elements.count)]
            let child = EncodedNode()
            node.elements.append(child)
            return (child, path)
        }

        private var nextPath: [any CodingKey] { codingPath + [JSONKey(intValue: count)] }

        mutating func encodeNil() throws { append(.null) }
        mutating func encode(_ value: Bool) throws { append(.bool(value)) }
        mutating func encode(_ value: String) throws { append(.string(value)) }
        mutating func encode(_ value: Double) throws { append(try ValueEncoder.number(value, at: nextPath)) }
        mutating func encode(_ value: Float) throws { append(try ValueEncoder.number(value, at: nextPath)) }
        mutating func encode(_ value: Int) throws { append(.number(JSONNumber(value))) }
        mutating func encode(_ value: Int8) throws { append(.number(JSONNumber(value))) }
        mutating func encode(_ value: Int16) throws { append(.number(JSONNumber(value))) }
        mutating func encode(_ value: Int32) throws { append(.number(JSONNumber(value))) }
        mutating func encode(_ value: Int64) throws { append(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt) throws { append(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt8) throws { append(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt16) throws { append(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt32) throws { append(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt64) throws { append(.number(JSONNumber(value))) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            let (child, path) = slot()
            try encoder.encodeChild(value, into: child, at: path)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let (child, path) = slot()
            child.content = .object
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, encoder: encoder, codingPath: path))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let (child, path) = slot()
            child.content = .array
            return UnkeyedContainer(node: child, encoder: encoder, codingPath: path)
        }

        mutating func superEncoder() -> any Encoder {
            let (child, path) = slot()
            return ValueEncoder(node: child, codingPath: path, state: encoder.state)
        }
    }

    struct SingleValueContainer: SingleValueEncodingContainer {
        let encoder: ValueEncoder
        var codingPath: [any CodingKey] { encoder.codingPath }

        private func set(_ value: JSONValue) {
            guard case .unset = encoder.node.content else {
                encoder.state.fail(codingPath, "a single value container encoded a second value at one coding path")
                return
            }
            encoder.node.content = .scalar(value)
        }

        mutating func encodeNil() throws { set(.null) }
        mutating func encode(_ value: Bool) throws { set(.bool(value)) }
        mutating func encode(_ value: String) throws { set(.string(value)) }
        mutating func encode(_ value: Double) throws { set(try ValueEncoder.number(value, at: codingPath)) }
        mutating func encode(_ value: Float) throws { set(try ValueEncoder.number(value, at: codingPath)) }
        mutating func encode(_ value: Int) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: Int8) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: Int16) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: Int32) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: Int64) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt8) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt16) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt32) throws { set(.number(JSONNumber(value))) }
        mutating func encode(_ value: UInt64) throws { set(.number(JSONNumber(value))) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            guard case .unset = encoder.node.content else {
                encoder.state.fail(codingPath, "a single value container encoded a second value at one coding path")
                return
            }
            try value.encode(to: encoder)
        }
    }
}
