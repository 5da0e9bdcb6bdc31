/// JSON without Foundation, for the control socket and telemetry payloads (Foundation's
/// JSONEncoder/JSONDecoder cost the daemon about 3 MiB of resident memory).
///
///     let line = try JSON.encode(reply)                   // compact, keys sorted
///     let reply = try JSON.decode(ControlReply.self, from: line)
///     let value = try JSON.parse(line)                    // a JSONValue tree
///     let text = JSON.write(value)
///
/// `encode` throws `EncodingError` (a non-finite Double, a type that encoded nothing or encoded
/// twice at one path); `decode` throws `DecodingError` with the coding path, as JSONDecoder does,
/// and a document that is not JSON is `DecodingError.dataCorrupted` whose underlying error is
/// the `JSONParseError` (byte offset, what was expected, what was found).
public enum JSON {
    /// Arrays and objects nest at most this deep; deeper documents are refused before they recurse further.
    public static let maximumDepth = 64

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var text = text
        let result = text.withUTF8 { bytes in parse(buffer: bytes) }
        return try result.get()
    }

    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { parse(buffer: $0) }.get()
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, JSONParseError> {
        var reader = JSONReader(bytes: buffer, maximumDepth: maximumDepth)
        do throws(JSONParseError) {
            return .success(try reader.document())
        } catch {
            return .failure(error)
        }
    }

    /// Compact text, keys sorted.
    public static func write(_ value: JSONValue) -> String { JSONWriter.write(value) }

    public static func encodeValue<T: Encodable>(_ value: T) throws -> JSONValue {
        try ValueEncoder.encode(value)
    }

    /// Compact text with keys sorted; optionals that are nil are left out (as JSONEncoder does).
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        JSONWriter.write(try ValueEncoder.encode(value))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try T(from: ValueDecoder(value: value, codingPath: []))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try decode(type, parsed: Result { () throws(JSONParseError) in try parse(text) })
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decode(type, parsed: Result { () throws(JSONParseError) in try parse(bytes) })
    }

    private static func decode<T: Decodable>(_ type: T.Type, parsed: Result<JSONValue, JSONParseError>) throws -> T {
        switch parsed {
        case .success(let value): return try decode(type, from: value)
        case .failure(let error):
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "The given data was not valid JSON: \(error)",
                                                    underlyingError: error))
        }
    }
}
