/// A position in the text, 1-based like Yams' (and libyaml's) marks; columns count Unicode scalars.
public struct YAMLMark: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// How a scalar was written: only plain scalars are numbers; quoted ones are always text.
public enum YAMLScalarStyle: Sendable, Hashable {
    case plain
    case singleQuoted
    case doubleQuoted
}

public struct YAMLScalar: Sendable, Hashable {
    /// The scalar's value: quotes removed, escapes decoded. An empty value (`key:`) is "" and plain.
    public var text: String
    public var style: YAMLScalarStyle
    public var mark: YAMLMark

    public init(text: String, style: YAMLScalarStyle, mark: YAMLMark) {
        self.text = text
        self.style = style
        self.mark = mark
    }
}

public struct YAMLPair: Sendable, Hashable {
    public var key: YAMLNode
    public var value: YAMLNode

    public init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }
}

/// One node of the tree: the subset has no tags, anchors or aliases, so a node is its text or its children.
public indirect enum YAMLNode: Sendable, Hashable {
    case scalar(YAMLScalar)
    /// Pairs in the file's order; keys are unique (the reader rejects a duplicate).
    case mapping([YAMLPair], mark: YAMLMark)
    case sequence([YAMLNode], mark: YAMLMark)

    /// Where the node starts: a scalar's first character (its quote), a block mapping's first key,
    /// a block sequence's first `-`, a flow collection's bracket.
    public var mark: YAMLMark {
        switch self {
        case .scalar(let scalar): scalar.mark
        case .mapping(_, let mark), .sequence(_, let mark): mark
        }
    }

    public var scalar: YAMLScalar? {
        if case .scalar(let scalar) = self { return scalar }
        return nil
    }

    /// A scalar's text, whatever its style; nil for a collection.
    public var string: String? { scalar?.text }

    public var pairs: [YAMLPair]? {
        if case .mapping(let pairs, _) = self { return pairs }
        return nil
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items, _) = self { return items }
        return nil
    }

    /// A plain scalar that is a whole number: decimal (`-12`, `+3`) or hexadecimal (`0x48`). Forms YAML
    /// versions read differently (`010`, `0o10`, `0b1`, `1_000`, `1:30`) are nil: see `numberAdvice`.
    public var int: Int? {
        guard let scalar, scalar.style == .plain else { return nil }
        return YAMLNumber.integer(scalar.text)
    }

    /// A plain scalar that is a decimal number (`3.3`, `-1e-3`, `.5`, `42`); nil for hexadecimal (use
    /// `int`), for `.inf`/`.nan` and for the forms `int` refuses.
    public var double: Double? {
        guard let scalar, scalar.style == .plain else { return nil }
        return YAMLNumber.decimal(scalar.text)
    }

    /// Why this scalar, which looks like a number, is not one here, and what to write instead; nil when
    /// it is a number or plainly is not one.
    public var numberAdvice: String? {
        guard let scalar else { return nil }
        return YAMLNumber.advice(scalar.text, style: scalar.style)
    }

    /// Why this scalar, which a YAML 1.1 reader takes for a boolean (`yes`, `Off`, `TRUE`), is not
    /// `true` or `false` here; nil otherwise.
    public var booleanAdvice: String? {
        guard let scalar else { return nil }
        return YAMLNumber.booleanAdvice(scalar.text, style: scalar.style)
    }
}

/// A text that is not in the accepted subset, located at its first offending character.
public struct YAMLError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String

    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    public var mark: YAMLMark { YAMLMark(line: line, column: column) }
    public var description: String { "\(line):\(column): \(message)" }
}
