import PackGuardYAML
import Testing

private func plain(_ text: String, _ line: Int, _ column: Int) -> YAMLNode {
    .scalar(YAMLScalar(text: text, style: .plain, mark: YAMLMark(line: line, column: column)))
}

private func quoted(_ text: String, _ style: YAMLScalarStyle, _ line: Int, _ column: Int) -> YAMLNode {
    .scalar(YAMLScalar(text: text, style: style, mark: YAMLMark(line: line, column: column)))
}

private func map(_ line: Int, _ column: Int, _ pairs: (YAMLNode, YAMLNode)...) -> YAMLNode {
    .mapping(pairs.map { YAMLPair(key: $0.0, value: $0.1) }, mark: YAMLMark(line: line, column: column))
}

private func seq(_ line: Int, _ column: Int, _ items: YAMLNode...) -> YAMLNode {
    .sequence(items, mark: YAMLMark(line: line, column: column))
}

@Suite("The YAML subset: what is accepted, and where each node is")
struct AcceptedTests {
    @Test func blockMappingsNestByIndentation() {
        let root = accepted("a: 1\nb:\n   c: x   \n   d:\n     e: y\nf: z\n")
        #expect(root == map(1, 1,
                            (plain("a", 1, 1), plain("1", 1, 4)),
                            (plain("b", 2, 1), map(3, 4,
                                                   (plain("c", 3, 4), plain("x", 3, 7)),
                                                   (plain("d", 4, 4), map(5, 6, (plain("e", 5, 6), plain("y", 5, 9)))))),
                            (plain("f", 6, 1), plain("z", 6, 4))))
    }

    @Test func blockSequencesCompactEntriesAndIndentlessLists() {
        let root = accepted("list:\n- a\n-   b: 1\n    c: 2\n- - x\n  - y\n-\nnext:\n  - 1\n")
        #expect(root == map(1, 1,
                            (plain("list", 1, 1), seq(2, 1,
                                                      plain("a", 2, 3),
                                                      map(3, 5, (plain("b", 3, 5), plain("1", 3, 8)), (plain("c", 4, 5), plain("2", 4, 8))),
                                                      seq(5, 3, plain("x", 5, 5), plain("y", 6, 5)),
                                                      plain("", 7, 2))),
                            (plain("next", 8, 1), seq(9, 3, plain("1", 9, 5)))))
    }

    @Test func scalarStylesAndComments() {
        let root = accepted("""
            # a full-line comment
            s: 'it''s # not a comment'   # but this is
            d: "tab\\t \\"q\\" \\\\ \\/ \\n \\r"
            p: a#b
            q: half a second  # trailing
            u: ü ✓
              # an indented comment
            'quoted key'  : "v"
            """)
        #expect(root == map(2, 1,
                            (plain("s", 2, 1), quoted("it's # not a comment", .singleQuoted, 2, 4)),
                            (plain("d", 3, 1), quoted("tab\t \"q\" \\ / \n \r", .doubleQuoted, 3, 4)),
                            (plain("p", 4, 1), plain("a#b", 4, 4)),
                            (plain("q", 5, 1), plain("half a second", 5, 4)),
                            (plain("u", 6, 1), plain("ü ✓", 6, 4)),
                            (quoted("quoted key", .singleQuoted, 8, 1), quoted("v", .doubleQuoted, 8, 17))))
    }

    @Test func flowCollectionsOnOneLine() {
        let root = accepted("f: [1, 'two', \"three\", [x], { k: v }]\nm: {a: [0, 5], 'b': {}}\ne: [ ]\n")
        #expect(root == map(1, 1,
                            (plain("f", 1, 1), seq(1, 4,
                                                   plain("1", 1, 5), quoted("two", .singleQuoted, 1, 8), quoted("three", .doubleQuoted, 1, 15),
                                                   seq(1, 24, plain("x", 1, 25)), map(1, 29, (plain("k", 1, 31), plain("v", 1, 34))))),
                            (plain("m", 2, 1), map(2, 4,
                                                   (plain("a", 2, 5), seq(2, 8, plain("0", 2, 9), plain("5", 2, 12))),
                                                   (quoted("b", .singleQuoted, 2, 16), .mapping([], mark: YAMLMark(line: 2, column: 21))))),
                            (plain("e", 3, 1), .sequence([], mark: YAMLMark(line: 3, column: 4)))))
    }

    @Test func anEmptyValueIsAnEmptyPlainScalarRightAfterItsIndicator() {
        #expect(accepted("a:\nb:   # nothing\n") == map(1, 1, (plain("a", 1, 1), plain("", 1, 3)), (plain("b", 2, 1), plain("", 2, 3))))
        #expect(accepted("- \n-\n") == seq(1, 1, plain("", 1, 2), plain("", 2, 2)))
    }

    @Test func documentMarkersLineEndsAndAByteOrderMark() {
        let expected = map(2, 1, (plain("a", 2, 1), plain("1", 2, 4)))
        #expect(accepted("--- # start\na: 1\n...\n# after the end\n") == expected)
        #expect(accepted("\u{FEFF}---\na: 1\r\n") == expected)
        #expect(accepted("a: 1\r\nb: 2\r\n") == map(1, 1, (plain("a", 1, 1), plain("1", 1, 4)), (plain("b", 2, 1), plain("2", 2, 4))))
    }

    @Test func emptyDocuments() {
        #expect(accepted("") == nil)
        #expect(accepted("# only comments\n\n   \n") == nil)
        // Like Yams: a started document with nothing in it holds one empty value, where the stream ends.
        #expect(accepted("---\n") == plain("", 2, 1))
        #expect(accepted("---\n...\n") == plain("", 2, 1))
    }

    @Test func nestingUpToTheLimit() {
        var node = accepted(String(repeating: "- ", count: 63) + "x\n")
        for _ in 0..<63 { node = node?.sequence?.first }
        #expect(node?.string == "x")
        #expect(accepted("a: " + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "\n") != nil)
    }

    @Test func aRootMayBeAScalarOrIndented() {
        #expect(accepted("hello world\n") == plain("hello world", 1, 1))
        #expect(accepted("  a: 1\n  b: 2\n") == map(1, 3, (plain("a", 1, 3), plain("1", 1, 6)), (plain("b", 2, 3), plain("2", 2, 6))))
    }

    @Test func indicatorsInsidePlainScalarsAreText() {
        #expect(accepted("url: mqtt://host:1883\nlist: a,b [c] {d}\nx: -y\ny: ?z\n")?.pairs?.map { $0.value.string } ==
                ["mqtt://host:1883", "a,b [c] {d}", "-y", "?z"])
    }
}

@Suite("The YAML subset: every rejection names the construct and where it is")
struct RejectionTests {
    /// (text, line, column, a fragment of the message)
    static let cases: [(String, Int, Int, String)] = [
        ("a: &x 1\n", 1, 4, "anchors ('&name') are not supported"),
        ("a: 1\nb: *x\n", 2, 4, "aliases ('*name') are not supported"),
        ("a: 1\n&x b: 2\n", 2, 1, "anchors ('&name') are not supported"),
        ("a: 1\n!t b: 2\n", 2, 1, "tags ('!tag') are not supported"),
        ("a: 1\n[b]: 2\n", 2, 4, "a [ ] or { } collection as a key (a complex key) is not supported"),
        ("a: !tag 1\n", 1, 4, "tags ('!tag') are not supported"),
        ("a: !!str 1\n", 1, 4, "tags ('!tag') are not supported"),
        ("a: [!!str 1]\n", 1, 5, "tags ('!tag') are not supported"),
        ("a: |\n  text\n", 1, 4, "block scalars ('|' and '>') are not supported"),
        ("a: >-\n  text\n", 1, 4, "block scalars ('|' and '>') are not supported"),
        ("a: { b: 1,\n  c: 2 }\n", 1, 4, "'{' is not closed on its line"),
        ("a: [1,\n  2]\n", 1, 4, "'[' is not closed on its line"),
        ("a: [1 # c\n", 1, 4, "'[' is not closed on its line"),
        ("a: b\n  c\n", 2, 3, "multi-line scalars are not supported"),
        ("- b\n  c\n", 2, 3, "multi-line scalars are not supported"),
        ("a: 'b\n  c'\n", 1, 4, "a quoted value must end on its line"),
        ("a: \"b\\\n  c\"\n", 1, 6, "'\\' at the end of the line"),
        ("a: 1\n---\nb: 2\n", 2, 1, "a second document ('---')"),
        ("---\na: 1\n---\n", 3, 1, "a second document ('---')"),
        ("--- a: 1\n", 1, 5, "content on the '---' line is not supported"),
        ("a: 1\n...\nb: 2\n", 3, 1, "content after the end of the document ('...' on line 2)"),
        ("# nothing yet\n...\n", 2, 1, "'...' ends a document that has not started"),
        ("%YAML 1.1\n---\na: 1\n", 1, 1, "directives ('%YAML', '%TAG') are not supported"),
        ("? a\n: 1\n", 1, 1, "complex keys ('? ') are not supported"),
        ("[a]: 1\n", 1, 4, "a [ ] or { } collection as a key (a complex key) is not supported"),
        ("x: {[a]: 1}\n", 1, 5, "complex keys"),
        ("<<: {a: 1}\n", 1, 1, "merge keys ('<<') are not supported"),
        ("a: 1\nb: 2\na: 3\n", 3, 1, "key 'a' given more than once (first on line 1)"),
        ("x:\n  'k': 1\n  k: 2\n", 3, 3, "key 'k' given more than once (first on line 2)"),
        ("x: {a: 1, \"a\": 2}\n", 1, 11, "key 'a' given more than once (first at column 5 of this line)"),
        ("a:\n\tb: 1\n", 2, 1, "a tab in the indentation: indent with spaces only"),
        ("a:\t1\n", 1, 3, "a tab outside quotes"),
        ("a: 1\t# c\n", 1, 5, "a tab outside quotes"),
        ("a: \"x\\q\"\n", 1, 6, "the escape '\\q' is not supported"),
        ("a: \"\\u0041\"\n", 1, 5, "the escape '\\u' is not supported"),
        ("a: b: c\n", 1, 5, "': ' inside a value"),
        ("a: - b\n", 1, 4, "a '-' entry cannot follow a key on its line"),
        ("a: 1\n - b\n", 2, 2, "unexpected indentation: a value cannot continue on the next line"),
        ("a:\n    b: 1\n  c: 2\n", 3, 3, "unexpected indentation: this line lines up with no block above it"),
        ("- a: 1\n b: 2\n", 2, 2, "unexpected indentation: this line lines up with no block above it"),
        ("- [a]\n  b\n", 2, 3, "multi-line scalars are not supported"),
        ("a: {b: 1}\n  c: 2\n", 2, 3, "multi-line scalars are not supported"),
        ("a: 1\n- b\n", 2, 1, "a '-' entry where the mapping above expects 'key: value'"),
        ("a: 1\nb\n", 2, 1, "expected 'key: value' here"),
        ("- a\nb: 1\n", 2, 1, "the document's value ended on the line above"),
        ("  a: 1\nb: 2\n", 2, 1, "this line is indented less than the document's first line"),
        ("a: 1\r2\n", 1, 5, "a carriage return inside a line"),
        ("a: x\u{85}y\n", 1, 5, "the character U+0085 is not allowed"),
        ("a: x\u{2028}y\n", 1, 5, "the character U+2028 is not allowed"),
        ("a: \u{7}\n", 1, 4, "the character U+0007 is not allowed"),
        ("a: [b, ]\n", 1, 8, "a ',' before ']' is not supported"),
        ("a: [b: c]\n", 1, 6, "a 'key: value' pair inside [ ] is not supported"),
        ("a: {b}\n", 1, 6, "a key without a value in { }"),
        ("a: {b: }\n", 1, 8, "an empty value in { }"),
        ("a: {b:c}\n", 1, 6, "':' inside a plain value in [ ] or { }"),
        ("a: {\"b\":c}\n", 1, 8, "expected a space after ':'"),
        ("a: [a b c d\n", 1, 4, "'[' is not closed on its line"),
        ("a: [a] b\n", 1, 8, "unexpected 'b' after the value"),
        ("a: \"x\"y\n", 1, 7, "unexpected 'y' after the value"),
        ("a: 'x'#c\n", 1, 7, "a comment needs a space before '#'"),
        ("a: @x\n", 1, 4, "'@' cannot start a plain value: quote the value"),
        ("a: `x\n", 1, 4, "'`' cannot start a plain value"),
        ("a: %x\n", 1, 4, "'%' cannot start a plain value"),
        ("a: ,x\n", 1, 4, "',' cannot start a plain value"),
        (": 1\n", 1, 1, "a value without a key"),
        (String(repeating: "k", count: 1025) + ": 1\n", 1, 1, "a key longer than 1024 characters"),
        (String(repeating: "- ", count: 65) + "x\n", 1, 129, "nested more than 64 levels deep"),
        ("a: " + String(repeating: "[", count: 64) + "\n", 1, 67, "nested more than 64 levels deep"),
    ]

    @Test(arguments: cases)
    func rejected(_ text: String, line: Int, column: Int, message: String) {
        let error = rejection(text)
        #expect(error?.line == line && error?.column == column, "\(text.debugDescription): \(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(text.debugDescription): \(String(describing: error))")
    }
}

@Suite("The YAML subset: numbers and booleans mean one thing")
struct ScalarTypingTests {
    private func node(_ text: String, _ style: YAMLScalarStyle = .plain) -> YAMLNode {
        .scalar(YAMLScalar(text: text, style: style, mark: YAMLMark(line: 1, column: 1)))
    }

    @Test func wholeNumbers() {
        let read: [(String, Int?)] = [
            ("0", 0), ("12", 12), ("-12", -12), ("+5", 5), ("0x48", 72), ("-0x10", -16), ("0xFF", 255), ("9223372036854775807", .max),
            ("010", nil), ("0o10", nil), ("0b1", nil), ("1_000", nil), ("1:30", nil), ("+0", nil), ("-0", nil), ("0X48", nil),
            ("1.0", nil), ("1e3", nil), ("0x", nil), ("9223372036854775808", nil), ("", nil), ("twelve", nil),
        ]
        for (text, value) in read { #expect(node(text).int == value, "\(text)") }
        #expect(node("12", .doubleQuoted).int == nil, "a quoted value is text")
        #expect(node("12", .singleQuoted).int == nil)
    }

    @Test func decimalNumbers() {
        let read: [(String, Double?)] = [
            ("3.3", 3.3), ("-0.5", -0.5), ("1e3", 1000), ("1E-3", 0.001), (".5", 0.5), ("5.", 5), ("42", 42), ("+2.5", 2.5), ("0.25", 0.25),
            (".inf", nil), ("-.inf", nil), (".nan", nil), ("inf", nil), ("nan", nil), ("0x48", nil), ("010", nil), ("00.5", 0.5), ("010.0", 10), ("05e1", 50),
            ("1_000.5", nil), ("1:30.5", nil), ("1e", nil), (".", nil), ("1.2.3", nil), ("", nil),
        ]
        for (text, value) in read { #expect(node(text).double == value, "\(text)") }
        #expect(node("3.3", .singleQuoted).double == nil)
    }

    @Test func formsYAMLVersionsReadDifferentlySayWhatToWrite() {
        let advice: [(String, YAMLScalarStyle, String?)] = [
            ("010", .plain, "leading zero"), ("-007", .plain, "leading zero"), ("1:30", .plain, "base-60"), ("0o17", .plain, "0o and 0b"),
            ("0b101", .plain, "0o and 0b"), ("1_000", .plain, "'_'"), (".inf", .plain, "finite"), (".NaN", .plain, "finite"),
            ("0X48", .plain, "lower-case 0x"), ("-0", .plain, "without a sign"), ("+0", .plain, "without a sign"), ("5", .doubleQuoted, "remove the quotes"),
            ("0x48", .singleQuoted, "remove the quotes"), ("GPIO17", .plain, nil), ("12", .plain, nil), ("0x48", .plain, nil),
            ("half", .plain, nil), ("1.5", .plain, nil),
        ]
        for (text, style, fragment) in advice {
            let found = node(text, style).numberAdvice
            if let fragment {
                #expect(found?.contains(fragment) == true, "\(text): \(String(describing: found))")
            } else {
                #expect(found == nil, "\(text): \(String(describing: found))")
            }
        }
    }

    @Test func yesNoOnOffAreNeitherTrueNorFalse() {
        for word in ["yes", "No", "on", "OFF", "y", "N", "True", "FALSE"] {
            #expect(node(word).booleanAdvice?.contains("write true or false") == true, "\(word)")
        }
        for word in ["true", "false", "maybe", "1"] { #expect(node(word).booleanAdvice == nil, "\(word)") }
        #expect(node("yes", .singleQuoted).booleanAdvice == nil, "quoted, it is text to every reader")
    }

    @Test func accessorsOnCollections() {
        let root = accepted("a: [1]\n")
        #expect(root?.string == nil && root?.int == nil && root?.double == nil && root?.numberAdvice == nil)
        #expect(root?.pairs?.first?.value.sequence?.first?.int == 1)
        #expect(root?.mark == YAMLMark(line: 1, column: 1))
    }
}
