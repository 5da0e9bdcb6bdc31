/// A strict reader for the YAML subset PackGuard's configuration needs, written so that the
/// daemon links no Foundation. Whatever it accepts reads as the same tree as Yams (libyaml, YAML 1.1)
/// makes of it, which the tests check; everything else is rejected with its line, its column and the
/// construct named, never read some other way.
///
/// Accepted: block mappings and sequences by indentation (spaces only); plain, 'single' and
/// "double" quoted scalars on one line; flow `[a, b]` and `{ k: v }` collections on one line (the
/// documented `scale: { volts: [0, 5], ... }` and the effective configuration use them); `#`
/// comments; an optional leading `---` and trailing `...`; empty values.
/// Rejected: tabs outside quotes and comments, anchors, aliases, tags, block scalars, multi-line
/// scalars and flow collections, complex and merge keys, duplicate keys, directives, a second document.
public enum YAMLDocument {
    /// The document's root; nil when the text holds no document at all (only blank lines and comments).
    public static func compose(_ text: String) throws(YAMLError) -> YAMLNode? {
        var reader = try Reader(text)
        return try reader.document()
    }
}

/// One line with content (blank lines, comment lines and document markers are dropped).
private struct Line {
    let number: Int
    let text: [Unicode.Scalar]
    /// Leading spaces: the column (0-based) of the first character.
    let indent: Int

    var count: Int { text.count }
    subscript(index: Int) -> Unicode.Scalar? { index < text.count ? text[index] : nil }
}

private enum PlainEnd: Equatable {
    case lineEnd
    case comment
    /// `:` followed by a space or the end of the line, at this index.
    case colon(Int)
    /// `,`, `[`, `]`, `{` or `}` inside a flow collection.
    case flowIndicator
}

/// Where an inline value stands: what may end it and how a stray `: ` is explained.
private enum Context {
    case block
    case flowSequence
    case flowMapping

    var isFlow: Bool { self != .block }
}

private struct Reader {
    var lines: [Line] = []
    var index = 0
    /// The column the current (possibly virtual, after `- `) line starts at.
    var column = 0
    /// Block nodes open around the current one: a limit keeps a hostile file from exhausting the stack.
    var depth = 0
    static let maximumDepth = 64
    var hasStartMarker = false
    /// Where Yams places the empty value of a `---` document with nothing in it.
    var emptyDocumentMark = YAMLMark(line: 1, column: 1)

    init(_ source: String) throws(YAMLError) {
        var physical: [[Unicode.Scalar]] = [[]]
        for scalar in source.unicodeScalars {
            if scalar == "\n" { physical.append([]) } else { physical[physical.count - 1].append(scalar) }
        }
        let endsWithBreak = physical.last?.isEmpty == true
        if endsWithBreak { physical.removeLast() }
        var endMarkerLine: Int?
        for (offset, raw) in physical.enumerated() {
            let number = offset + 1
            var text = raw
            if number == 1, text.first == "\u{FEFF}" { text.removeFirst() }
            if text.last == "\r" { text.removeLast() }
            for (position, scalar) in text.enumerated() {
                if let problem = Self.forbidden(scalar) {
                    throw YAMLError(line: number, column: position + 1, message: problem)
                }
            }
            let indent = text.prefix { $0 == " " }.count
            if indent < text.count, text[indent] == "\t" {
                throw YAMLError(line: number, column: indent + 1, message: "a tab in the indentation: indent with spaces only")
            }
            if indent == text.count || text[indent] == "#" { continue }
            let line = Line(number: number, text: text, indent: indent)
            if indent == 0, Self.isMarker(text, "-") {
                guard lines.isEmpty, !hasStartMarker, endMarkerLine == nil else {
                    throw YAMLError(line: number, column: 1, message: "a second document ('---'): a configuration is one document")
                }
                try Self.expectMarkerAlone(line)
                hasStartMarker = true
                continue
            }
            if indent == 0, Self.isMarker(text, ".") {
                try Self.expectMarkerAlone(line)
                // libyaml refuses an end marker with no document before it.
                guard !lines.isEmpty || hasStartMarker else {
                    throw YAMLError(line: number, column: 1, message: "'...' ends a document that has not started")
                }
                if endMarkerLine == nil { endMarkerLine = number }
                continue
            }
            if let endMarkerLine {
                throw YAMLError(line: number, column: indent + 1,
                                message: "content after the end of the document ('...' on line \(endMarkerLine))")
            }
            if indent == 0, text[0] == "%" {
                throw YAMLError(line: number, column: 1, message: "directives ('%YAML', '%TAG') are not supported")
            }
            lines.append(line)
        }
        // libyaml ends the stream at the start of the line after the last one.
        emptyDocumentMark = YAMLMark(line: endMarkerLine ?? (physical.count + 1), column: 1)
    }

    /// Characters libyaml refuses or reads as line breaks (NEL, LS, PS, a lone CR): none may hide in a line.
    static func forbidden(_ scalar: Unicode.Scalar) -> String? {
        let value = scalar.value
        let isControl = (value < 0x20 && scalar != "\t") || value == 0x7F || (0x80...0x9F).contains(value)
        if scalar == "\r" { return "a carriage return inside a line: end lines with \\n (or \\r\\n)" }
        if isControl || value == 0x2028 || value == 0x2029 || value == 0xFEFF || value == 0xFFFE || value == 0xFFFF {
            var hex = String(value, radix: 16, uppercase: true)
            while hex.count < 4 { hex = "0" + hex }
            return "the character U+\(hex) is not allowed in a configuration"
        }
        return nil
    }

    /// `---` or `...` at the start of a line, followed by a space or the end of the line.
    static func isMarker(_ text: [Unicode.Scalar], _ mark: Unicode.Scalar) -> Bool {
        text.count >= 3 && text[0] == mark && text[1] == mark && text[2] == mark && (text.count == 3 || text[3] == " " || text[3] == "\t")
    }

    static func expectMarkerAlone(_ line: Line) throws(YAMLError) {
        var i = 3
        while i < line.count, line.text[i] == " " { i += 1 }
        guard i == line.count || (line.text[i] == "#" && i > 3) else {
            let what = line.text[0] == "-" ? "---" : "..."
            throw YAMLError(line: line.number, column: i + 1,
                            message: "content on the '\(what)' line is not supported: put it on the next line")
        }
    }

    // MARK: Blocks

    mutating func document() throws(YAMLError) -> YAMLNode? {
        guard !lines.isEmpty else {
            return hasStartMarker ? .scalar(YAMLScalar(text: "", style: .plain, mark: emptyDocumentMark)) : nil
        }
        column = lines[0].indent
        let root = try block()
        if index < lines.count {
            let line = lines[index]
            throw YAMLError(line: line.number, column: line.indent + 1,
                            message: line.indent < lines[0].indent
                                ? "this line is indented less than the document's first line"
                                : "unexpected content: the document's value ended on the line above (a list and a mapping cannot share one indentation)")
        }
        return root
    }

    mutating func advance() {
        index += 1
        if index < lines.count { column = lines[index].indent }
    }

    /// The node that starts at the current position: a sequence, a mapping or a value alone on its line.
    mutating func block() throws(YAMLError) -> YAMLNode {
        let line = lines[index]
        let start = column
        depth += 1
        defer { depth -= 1 }
        try checkDepth(line, start, depth)
        if isSequenceEntry(line, start) { return try sequence(indent: start) }
        if let key = try key(line, start) { return try mapping(indent: start, first: key) }
        let (node, end) = try inlineValue(line, start, .block)
        try expectLineEnd(line, end, afterFlow: node.scalar == nil)
        advance()
        return node
    }

    func checkDepth(_ line: Line, _ start: Int, _ depth: Int) throws(YAMLError) {
        guard depth <= Self.maximumDepth else {
            throw YAMLError(line: line.number, column: start + 1, message: "nested more than \(Self.maximumDepth) levels deep")
        }
    }

    func isSequenceEntry(_ line: Line, _ start: Int) -> Bool {
        line[start] == "-" && (start + 1 == line.count || line[start + 1] == " " || line[start + 1] == "\t")
    }

    mutating func sequence(indent: Int) throws(YAMLError) -> YAMLNode {
        let mark = YAMLMark(line: lines[index].number, column: indent + 1)
        var items: [YAMLNode] = []
        while true {
            let line = lines[index]
            var valueOnItsLine = false
            var i = indent + 1
            try skipSpaces(line, &i)
            if i == line.count || line.text[i] == "#" {
                let emptyMark = YAMLMark(line: line.number, column: indent + 2)
                advance()
                if index < lines.count, lines[index].indent > indent {
                    items.append(try block())
                } else {
                    items.append(.scalar(YAMLScalar(text: "", style: .plain, mark: emptyMark)))
                }
            } else {
                column = i
                items.append(try block())
                valueOnItsLine = line.text[i] == "[" || line.text[i] == "{" || items.last?.scalar != nil
            }
            guard index < lines.count else { break }
            let next = lines[index]
            if next.indent > indent { throw unexpectedIndentation(next, afterValueOnItsLine: valueOnItsLine) }
            guard next.indent == indent, isSequenceEntry(next, indent) else { break }
            column = indent
        }
        return .sequence(items, mark: mark)
    }

    mutating func mapping(indent: Int, first: Key) throws(YAMLError) -> YAMLNode {
        var pairs: [YAMLPair] = []
        var seen: [String: YAMLMark] = [:]
        var key = first
        while true {
            let line = lines[index]
            try check(key, against: &seen)
            var valueOnItsLine = false
            var i = key.colon + 1
            try skipSpaces(line, &i)
            let value: YAMLNode
            if i == line.count || line.text[i] == "#" {
                let emptyMark = YAMLMark(line: line.number, column: key.colon + 2)
                advance()
                if index < lines.count, lines[index].indent > indent {
                    value = try block()
                } else if index < lines.count, lines[index].indent == indent, isSequenceEntry(lines[index], indent) {
                    value = try sequence(indent: indent)
                } else {
                    value = .scalar(YAMLScalar(text: "", style: .plain, mark: emptyMark))
                }
            } else {
                let (node, end) = try inlineValue(line, i, .block)
                try expectLineEnd(line, end, afterFlow: node.scalar == nil)
                value = node
                valueOnItsLine = true
                advance()
            }
            pairs.append(YAMLPair(key: key.node, value: value))
            guard index < lines.count else { break }
            let next = lines[index]
            if next.indent > indent { throw unexpectedIndentation(next, afterValueOnItsLine: valueOnItsLine) }
            guard next.indent == indent else { break }
            column = indent
            guard let following = try self.key(next, indent) else {
                // An anchor, a tag, a block scalar... where a key belongs: name the construct.
                if !isSequenceEntry(next, indent), !canStartPlain(next, indent, .block) {
                    let (node, end) = try inlineValue(next, indent, .block)
                    try expectLineEnd(next, end, afterFlow: node.scalar == nil)
                }
                throw YAMLError(line: next.number, column: indent + 1,
                                message: isSequenceEntry(next, indent)
                                    ? "a '-' entry where the mapping above expects 'key: value'"
                                    : "expected 'key: value' here, like the lines above")
            }
            key = following
        }
        return .mapping(pairs, mark: first.node.mark)
    }

    /// A line indented deeper than the entries around it: YAML would fold it into the value above
    /// (a multi-line scalar) when that value is on its entry's line; otherwise it lines up with no block.
    func unexpectedIndentation(_ line: Line, afterValueOnItsLine: Bool) -> YAMLError {
        YAMLError(line: line.number, column: line.indent + 1, message: afterValueOnItsLine
            ? "unexpected indentation: a value cannot continue on the next line (multi-line scalars are not supported)"
            : "unexpected indentation: this line lines up with no block above it")
    }

    struct Key {
        var node: YAMLNode
        var text: String
        /// Index of the `:` after the key.
        var colon: Int
    }

    func check(_ key: Key, against seen: inout [String: YAMLMark]) throws(YAMLError) {
        let mark = key.node.mark
        if key.text == "<<", key.node.scalar?.style == .plain {
            throw YAMLError(line: mark.line, column: mark.column, message: "merge keys ('<<') are not supported: write the keys themselves")
        }
        if let earlier = seen[key.text] {
            let place = earlier.line == mark.line ? "at column \(earlier.column) of this line" : "on line \(earlier.line)"
            throw YAMLError(line: mark.line, column: mark.column,
                            message: "key '\(key.text)' given more than once (first \(place))")
        }
        seen[key.text] = mark
    }

    /// `key:` at `start` (plain or quoted, followed by `:` and a space or the line's end), or nil when
    /// the line holds a value there instead.
    func key(_ line: Line, _ start: Int) throws(YAMLError) -> Key? {
        guard let first = line[start] else { return nil }
        let mark = YAMLMark(line: line.number, column: start + 1)
        if first == "'" || first == "\"" {
            let (node, end) = try quoted(line, start)
            var i = end
            try skipSpaces(line, &i)
            guard line[i] == ":", try isBlankOrEnd(line, i + 1) else { return nil }
            return try limited(Key(node: node, text: node.string ?? "", colon: i), line)
        }
        if first == "?", try isBlankOrEnd(line, start + 1) {
            throw YAMLError(line: mark.line, column: mark.column, message: "complex keys ('? ') are not supported")
        }
        guard canStartPlain(line, start, .block) else { return nil }
        let (text, _, end) = try plain(line, start, .block)
        guard case .colon(let colon) = end else { return nil }
        return try limited(Key(node: .scalar(YAMLScalar(text: text, style: .plain, mark: mark)), text: text, colon: colon), line)
    }

    /// libyaml refuses a key longer than 1024 characters.
    func limited(_ key: Key, _ line: Line) throws(YAMLError) -> Key {
        guard key.colon - (key.node.mark.column - 1) <= 1024 else {
            throw YAMLError(line: line.number, column: key.node.mark.column, message: "a key longer than 1024 characters")
        }
        return key
    }

    // MARK: Values on one line

    func skipSpaces(_ line: Line, _ i: inout Int) throws(YAMLError) {
        while let scalar = line[i], scalar == " " || scalar == "\t" {
            if scalar == "\t" {
                throw YAMLError(line: line.number, column: i + 1, message: "a tab outside quotes: separate with spaces")
            }
            i += 1
        }
    }

    func isBlankOrEnd(_ line: Line, _ i: Int) throws(YAMLError) -> Bool {
        guard let scalar = line[i] else { return true }
        if scalar == "\t" { throw YAMLError(line: line.number, column: i + 1, message: "a tab outside quotes: separate with spaces") }
        return scalar == " "
    }

    /// After a value: nothing, or a comment.
    func expectLineEnd(_ line: Line, _ end: Int, afterFlow: Bool) throws(YAMLError) {
        var i = end
        try skipSpaces(line, &i)
        guard let scalar = line[i] else { return }
        if scalar == "#", i > end { return }
        let message: String
        if scalar == "#" {
            message = "a comment needs a space before '#'"
        } else if scalar == ":", afterFlow {
            message = "a [ ] or { } collection as a key (a complex key) is not supported"
        } else if scalar == ":" {
            message = "expected a space after ':'"
        } else {
            message = "unexpected '\(scalar)' after the value"
        }
        throw YAMLError(line: line.number, column: i + 1, message: message)
    }

    func canStartPlain(_ line: Line, _ start: Int, _ context: Context) -> Bool {
        guard let first = line[start] else { return false }
        let next = line[start + 1]
        switch first {
        case "-":
            guard let next else { return false }
            return next != " " && next != "\t" && !(context.isFlow && ",[]{}".unicodeScalars.contains(next))
        case "?", ":":
            guard let next, !context.isFlow else { return false }
            return next != " " && next != "\t"
        case ",", "[", "]", "{", "}", "#", "&", "*", "!", "|", ">", "'", "\"", "%", "@", "`", " ", "\t":
            return false
        default:
            return true
        }
    }

    /// A plain scalar from `start`: its text (trailing spaces dropped), where that text ends, and what ended it.
    func plain(_ line: Line, _ start: Int, _ context: Context) throws(YAMLError) -> (String, Int, PlainEnd) {
        var i = start
        var end = start
        var stop = PlainEnd.lineEnd
        scan: while let scalar = line[i] {
            switch scalar {
            case " ":
                if line[i + 1] == "#" { stop = .comment; break scan }
                i += 1
                continue
            case "\t":
                throw YAMLError(line: line.number, column: i + 1, message: "a tab outside quotes: separate with spaces")
            case ":" where try isBlankOrEnd(line, i + 1):
                stop = .colon(i)
                break scan
            case ":" where context.isFlow:
                throw YAMLError(line: line.number, column: i + 1, message: "':' inside a plain value in [ ] or { }: quote the value")
            case _ where context.isFlow && ",[]{}".unicodeScalars.contains(scalar):
                stop = .flowIndicator
                break scan
            default:
                i += 1
                end = i
            }
        }
        return (String(String.UnicodeScalarView(line.text[start..<end])), end, stop)
    }

    /// A scalar, or a flow collection, that starts at `start` on this line.
    func inlineValue(_ line: Line, _ start: Int, _ context: Context, nesting: Int = 0) throws(YAMLError) -> (YAMLNode, Int) {
        let mark = YAMLMark(line: line.number, column: start + 1)
        func fail(_ message: String) -> YAMLError { YAMLError(line: mark.line, column: mark.column, message: message) }
        guard let first = line[start] else { throw fail("expected a value") }
        switch first {
        case "'", "\"": return try quoted(line, start)
        case "[", "{": return try flow(line, start, nesting: nesting + 1)
        case "&": throw fail("anchors ('&name') are not supported: write the value itself")
        case "*": throw fail("aliases ('*name') are not supported: write the value itself")
        case "!": throw fail("tags ('!tag') are not supported: write the value without a tag")
        case "|", ">": throw fail("block scalars ('|' and '>') are not supported: write the text on one line, quoted if needed")
        default: break
        }
        guard canStartPlain(line, start, context) else {
            switch first {
            case "?": throw fail("complex keys ('?') are not supported")
            case "-" where context == .block: throw fail("a '-' entry cannot follow a key on its line: start the list on the next line")
            case ":": throw fail("a value without a key (':')")
            case "#": throw fail("a comment needs a space before '#'")
            default: throw fail("'\(first)' cannot start a plain value: quote the value")
            }
        }
        let (text, end, stop) = try plain(line, start, context)
        if case .colon(let colon) = stop {
            throw YAMLError(line: line.number, column: colon + 1, message: context == .flowSequence
                ? "a 'key: value' pair inside [ ] is not supported: write { key: value }"
                : "': ' inside a value: a mapping cannot start here (quote the value if the ':' belongs to it)")
        }
        return (.scalar(YAMLScalar(text: text, style: .plain, mark: mark)), end)
    }

    func quoted(_ line: Line, _ start: Int) throws(YAMLError) -> (YAMLNode, Int) {
        let mark = YAMLMark(line: line.number, column: start + 1)
        let quote = line.text[start]
        var text = String.UnicodeScalarView()
        var i = start + 1
        while let scalar = line[i] {
            if scalar == quote {
                if quote == "'", line[i + 1] == "'" {
                    text.append("'")
                    i += 2
                    continue
                }
                let style: YAMLScalarStyle = quote == "'" ? .singleQuoted : .doubleQuoted
                return (.scalar(YAMLScalar(text: String(text), style: style, mark: mark)), i + 1)
            }
            if quote == "\"", scalar == "\\" {
                guard let escaped = line[i + 1] else {
                    throw YAMLError(line: line.number, column: i + 1,
                                    message: "a '\\' at the end of the line continues the text on the next: multi-line scalars are not supported")
                }
                let decoded: Unicode.Scalar
                switch escaped {
                case "\\": decoded = "\\"
                case "\"": decoded = "\""
                case "/": decoded = "/"
                case "n": decoded = "\n"
                case "t": decoded = "\t"
                case "r": decoded = "\r"
                default:
                    throw YAMLError(line: line.number, column: i + 1,
                                    message: "the escape '\\\(escaped)' is not supported: only \\\\ \\\" \\/ \\n \\t \\r")
                }
                text.append(decoded)
                i += 2
                continue
            }
            text.append(scalar)
            i += 1
        }
        throw YAMLError(line: mark.line, column: mark.column,
                        message: "a quoted value must end on its line (multi-line scalars are not supported)")
    }

    /// `[a, b]` or `{ k: v }`, closed on this line; items are scalars or flow collections.
    func flow(_ line: Line, _ start: Int, nesting: Int) throws(YAMLError) -> (YAMLNode, Int) {
        try checkDepth(line, start, depth + nesting)
        let mark = YAMLMark(line: line.number, column: start + 1)
        let isSequence = line.text[start] == "["
        let close: Unicode.Scalar = isSequence ? "]" : "}"
        func notClosed() -> YAMLError {
            YAMLError(line: mark.line, column: mark.column,
                      message: "'\(line.text[start])' is not closed on its line (a [ ] or { } spanning lines is not supported)")
        }
        var i = start + 1
        try skipSpaces(line, &i)
        if line[i] == close { return (isSequence ? .sequence([], mark: mark) : .mapping([], mark: mark), i + 1) }
        var items: [YAMLNode] = []
        var pairs: [YAMLPair] = []
        var seen: [String: YAMLMark] = [:]
        while true {
            guard let first = line[i], first != "#" else { throw notClosed() }
            if isSequence {
                let (item, end) = try inlineValue(line, i, .flowSequence, nesting: nesting)
                items.append(item)
                i = end
            } else {
                let keyMark = YAMLMark(line: line.number, column: i + 1)
                let key: YAMLNode
                switch first {
                case "'", "\"":
                    (key, i) = try quoted(line, i)
                case "[", "{", "?":
                    throw YAMLError(line: keyMark.line, column: keyMark.column, message: "complex keys (a [ ], { } or '?' key) are not supported")
                default:
                    guard canStartPlain(line, i, .flowMapping) else { _ = try inlineValue(line, i, .flowMapping); throw notClosed() }
                    let (text, end, _) = try plain(line, i, .flowMapping)
                    key = .scalar(YAMLScalar(text: text, style: .plain, mark: keyMark))
                    i = end
                }
                try skipSpaces(line, &i)
                guard line[i] == ":" else {
                    guard line[i] != nil, line[i] != "#" else { throw notClosed() }
                    throw YAMLError(line: line.number, column: i + 1,
                                    message: "a key without a value in { }: write 'key: value'")
                }
                guard try isBlankOrEnd(line, i + 1) else {
                    throw YAMLError(line: line.number, column: i + 1, message: "expected a space after ':'")
                }
                let text = key.string ?? ""
                try check(Key(node: key, text: text, colon: i), against: &seen)
                i += 1
                try skipSpaces(line, &i)
                guard let valueStart = line[i], valueStart != "#" else { throw notClosed() }
                if valueStart == "," || valueStart == "}" {
                    throw YAMLError(line: line.number, column: i + 1,
                                    message: "an empty value in { }: write a value (\"\" for empty text)")
                }
                let (value, end) = try inlineValue(line, i, .flowMapping, nesting: nesting)
                pairs.append(YAMLPair(key: key, value: value))
                i = end
            }
            try skipSpaces(line, &i)
            guard let separator = line[i], separator != "#" else { throw notClosed() }
            if separator == close {
                return (isSequence ? .sequence(items, mark: mark) : .mapping(pairs, mark: mark), i + 1)
            }
            guard separator == "," else {
                throw YAMLError(line: line.number, column: i + 1, message: "expected ',' or '\(close)' here")
            }
            i += 1
            try skipSpaces(line, &i)
            if line[i] == close {
                throw YAMLError(line: line.number, column: i + 1, message: "a ',' before '\(close)' is not supported: remove it")
            }
        }
    }
}
