import Foundation
import PackGuardConfig
import PackGuardYAML
import PropertyBased
import PackGuardTestSupport
import Testing

// MARK: Generated documents in the subset

/// A document tree in the subset, and the ways of writing it: indentation, spacing, comments, styles.
private indirect enum Generated {
    case scalar(String)
    case mapping([(key: String, value: Generated)])
    case sequence([Generated])
    case empty
}

private struct DocumentWriter {
    var random: SeededGenerator

    // Scalars as written; each is valid where it is used (block or flow), whatever Yams types it as.
    static let blockScalars = [
        "GPIO17", "true", "false", "null", "~", "0x48", "-12", "+5", "0", "3.3", "-0.5", "1e3", ".5", "5.", "a#b", "a:b",
        "mqtt://host:1883", "half a second", "010", "1_000", "1:30", "yes", "Off", "0o17", "0b101", ".inf", "-.inf", ".nan",
        "-0", "/dev/i2c-1", "x,y", "not [flow]? no", "it's", "say \"hi\"", "a - b", "-x", "?x", ":x", "é ü ✓",
        "'single'", "'it''s'", "''", "'#not a comment'", "' spaced '", "\"double\"", "\"\"", "\"tab\\there\"",
        "\"esc \\\\ \\\" \\/ \\n \\r\"", "\"# no comment\"", "\"a: b\"", "'- not a list'",
        "[]", "{}", "[a, b]", "[1, 2.5, -3]", "[ 'q', \"d\" ]", "{ a: 1, b: [x, y] }", "{volts: [0, 5], units: [0, 100]}",
        "[{ quantity: soc, start: 0 }]", "[[a], [b, c]]", "{ 'k': v, \"k2\": 'v2' }", "[a,b]", "[ a , b ]", "{a: 1,b: 2}",
        "[ [ ], { } ]", "['it''s', \"x\\\"y\"]", "\"\ttab\"", "'\t'", "'a\tb'", "[-1, -x, .5]", "{ -k: -v }", "'😀'", "😀 x",
    ]
    static let keys = ["a", "b", "key", "line", "activeLow", "with space", "'quoted key'", "\"double key\"", "x.y", "0x10",
                       "1", "true", "AIN0", "k-1", "ü", "'it''s'", "null", "\"q\\\"uote\"", "-x", "?y", "a#b", "''", "x:y", "😀"]

    mutating func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &random)] }
    mutating func chance(_ oneIn: Int) -> Bool { Int.random(in: 0..<oneIn, using: &random) == 0 }
    mutating func spaces(_ range: ClosedRange<Int>) -> String { String(repeating: " ", count: Int.random(in: range, using: &random)) }

    mutating func tree(depth: Int) -> Generated {
        let choice = depth == 0 ? 0 : Int.random(in: 0..<6, using: &random)
        switch choice {
        case 0, 1: return chance(8) ? .empty : .scalar(pick(Self.blockScalars))
        case 2, 3:
            var used: Set<String> = []
            var pairs: [(key: String, value: Generated)] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let key = pick(Self.keys)
                let text = key.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")).replacingOccurrences(of: "''", with: "'")
                    .replacingOccurrences(of: "\\", with: "")
                guard used.insert(text).inserted else { continue }
                pairs.append((key, tree(depth: depth - 1)))
            }
            return .mapping(pairs)
        default:
            return .sequence((0..<Int.random(in: 1...4, using: &random)).map { _ in tree(depth: depth - 1) })
        }
    }

    mutating func trailer() -> String {
        chance(4) ? spaces(1...3) + "# " + pick(["c", "a: b", "- x", "'", "\"", "#", "[", ""]) : (chance(6) ? spaces(1...2) : "")
    }

    mutating func interlude(_ indent: Int) -> [String] {
        chance(6) ? [pick(["", spaces(0...6), String(repeating: " ", count: indent) + "# note", "# at column 1", spaces(0...3) + "#"])] : []
    }

    /// The lines of a block node whose first line starts at column `indent`.
    mutating func block(_ node: Generated, indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent)
        switch node {
        case .scalar(let text): return [pad + text + trailer()]
        case .empty: return [pad + "~"]
        case .mapping(let pairs):
            var lines: [String] = []
            for (index, pair) in pairs.enumerated() {
                if index > 0 { lines += interlude(indent) }
                let key = pad + pair.key + (chance(8) ? spaces(1...2) : "") + ":"
                switch pair.value {
                case .scalar(let text): lines.append(key + spaces(1...3) + text + trailer())
                case .empty: lines.append(key + trailer())
                case .mapping(let inner) where inner.isEmpty: lines.append(key + " {}")
                case .sequence(let inner) where inner.isEmpty: lines.append(key + " []")
                case .sequence where chance(3):
                    lines.append(key + trailer())
                    lines += block(pair.value, indent: indent)
                default:
                    lines.append(key + trailer())
                    lines += block(pair.value, indent: indent + Int.random(in: 1...4, using: &random))
                }
            }
            return lines
        case .sequence(let items):
            var lines: [String] = []
            for (index, item) in items.enumerated() {
                if index > 0 { lines += interlude(indent) }
                let gap = Int.random(in: 1...3, using: &random)
                switch item {
                case .scalar(let text): lines.append(pad + "-" + String(repeating: " ", count: gap) + text + trailer())
                case .empty: lines.append(pad + "-" + trailer())
                case .mapping(let inner) where inner.isEmpty: lines.append(pad + "- {}")
                case .sequence(let inner) where inner.isEmpty: lines.append(pad + "- []")
                default:
                    if chance(2) {
                        // Compact: the first line of the inner block follows the dash.
                        var inner = block(item, indent: indent + 1 + gap)
                        let first = inner.removeFirst()
                        lines.append(pad + "-" + String(repeating: " ", count: gap) + first.dropFirst(indent + 1 + gap))
                        lines += inner
                    } else {
                        lines.append(pad + "-" + trailer())
                        lines += block(item, indent: indent + Int.random(in: 1...4, using: &random))
                    }
                }
            }
            return lines
        }
    }

    mutating func document() -> String {
        var lines: [String] = chance(3) ? ["# header", ""] : []
        if chance(4) { lines.append("---" + (chance(2) ? " # start" : "")) }
        lines += block(tree(depth: Int.random(in: 1...4, using: &random)), indent: chance(8) ? 2 : 0)
        if chance(5) { lines.append("...") }
        if chance(5) { lines.append("# trailer") }
        return lines.joined(separator: "\n") + (chance(6) ? "" : "\n")
    }
}

private let documents = Gen.int(in: 0...Int.max).map { seed in
    var writer = DocumentWriter(random: SeededGenerator(seed))
    return writer.document()
}

@Suite("Differential: the subset reads as Yams reads it", .shrinking(false))
struct DifferentialTests {
    @Test func generatedDocumentsInTheSubsetParseToYamsTree() async {
        await propertyCheck(count: 400, input: documents) { text in
            guard case .success(let ours) = compose(text) else {
                Issue.record("a document in the subset was rejected (\(String(describing: rejection(text)))):\n\(text)")
                return
            }
            guard let theirs = yamsTree(text) else {
                Issue.record("Yams rejects a generated document (the generator is wrong):\n\(text)")
                return
            }
            #expect(ours.map(Tree.init) == theirs, "\(text)")
            if let ours { #expect(numbersDisagree(ours, text).isEmpty, "\(text)") }
        }
    }

    @Test func numbersAgreeWithYamsWhereverWeReadOne() async {
        let alphabet = Array("0123456789+-._:xXoObBeE aAfF")
        let words = Gen.int(in: 0...Int.max).map { seed -> String in
            var random = SeededGenerator(seed)
            return String((0..<Int.random(in: 1...7, using: &random)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &random)] })
        }
        await propertyCheck(count: 3000, input: words) { word in
            #expect(numberProblems(word).isEmpty)
        }
    }

    // MARK: Mutations of the shipped configurations

    /// Every shipped YAML a PackGuard reader reads, and the configurations the tests and docs give.
    static let corpus: [(name: String, text: String)] = {
        var corpus: [(String, String)] = []
        for path in ["hardware/pi/packguard.yaml", "hardware/pi/telemetry.yaml"] {
            if let text = readFile(repositoryRoot + "/" + path) { corpus.append((path, text)) }
        }
        // The shipped file with its commented-out adc.channels block switched on (flow mappings and lists).
        if let shipped = corpus.first?.1 {
            var inBlock = false
            let lines = shipped.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
                if line == "  # channels:" { inBlock = true }
                guard inBlock, line.hasPrefix("  # ") else { inBlock = false; return line }
                return "  " + line.dropFirst(4)
            }
            corpus.append(("hardware/pi/packguard.yaml with adc.channels", lines.joined(separator: "\n")))
        }
        for path in ["hardware/CONFIG.md", "README.md"] {
            guard let text = readFile(repositoryRoot + "/" + path) else { continue }
            for (index, block) in text.components(separatedBy: "```yaml\n").dropFirst().enumerated() {
                corpus.append(("\(path) yaml block \(index + 1)", block.components(separatedBy: "```").first ?? ""))
            }
        }
        // The configurations written inline in the Config and Daemon tests (those without interpolation).
        for directory in ["Tests/PackGuardConfigTests", "Tests/PackGuardDaemonTests"] {
            let root = repositoryRoot + "/" + directory
            for file in (try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? [] where file.hasSuffix(".swift") {
                guard let source = readFile(root + "/" + file) else { continue }
                let parts = source.components(separatedBy: "\"\"\"")
                for index in stride(from: 1, to: parts.count, by: 2) where parts[index].contains(":\n") && !parts[index].contains("\\(") {
                    var lines = parts[index].split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
                    let margin = lines.last.map { $0.prefix { $0 == " " }.count } ?? 0
                    lines = lines.dropLast()
                    corpus.append(("\(directory)/\(file) literal \(index / 2 + 1)",
                                   lines.map { String($0.dropFirst(min(margin, $0.prefix { $0 == " " }.count))) }.joined(separator: "\n") + "\n"))
                }
            }
        }
        // The tests' section fragments, completed the way those tests complete them (their minimal file first).
        let minimal = corpus.first { $0.0.hasSuffix("/ConfigurationTests.swift literal 1") }?.1 ?? ""
        for (name, text) in corpus where text.hasPrefix("  ") {
            for section in ["adc", "can"] where (try? ConfigurationLoader.parse(minimal + section + ":\n" + text, file: name)) != nil {
                corpus.append(("\(name) under \(section):", minimal + section + ":\n" + text))
            }
        }
        // What check-config prints for each configuration that loads (custom CAN tables, every ADC key).
        for (name, text) in corpus {
            if let configuration = try? ConfigurationLoader.parse(text, file: name) {
                corpus.append(("effective YAML of \(name)", configuration.effectiveYAML))
            }
        }
        return corpus
    }()

    @Test func theCorpusIsFound() {
        #expect(Self.corpus.count >= 16, "\(Self.corpus.map(\.name))")
        #expect(Self.corpus.contains { $0.name == "hardware/pi/packguard.yaml" })
    }

    @Test func everyCorpusDocumentReadsAsYamsReadsIt() {
        var compared: [String] = []
        defer {
            #expect(compared.count >= 16, "\(compared)")
            print("corpus: \(compared.count) of \(Self.corpus.count) documents compared: \(compared)")
        }
        for (name, text) in Self.corpus {
            guard let theirs = yamsTree(text) else { continue }  // a doc's deliberately broken example
            compared.append(name)
            switch compose(text) {
            case .success(let ours):
                #expect(ours.map(Tree.init) == theirs, "\(name)")
                if let ours { #expect(numbersDisagree(ours, text).isEmpty, "\(name)") }
            case .failure(let error):
                Issue.record("\(name) is valid YAML but rejected: \(error)")
            }
        }
    }

    static let insertions = [" ", "  ", "\t", "&a ", "*a", "!tag ", "!!str ", "|", ">", "'", "\"", "#", " #", ":", ": ", "- ", "[", "]",
                             "{", "}", ",", "\n", "? ", "<<: ", "---\n", "...\n", "%", "@", "`", "\\", "0", "_", "\r", "\u{85}", "~", "\"\\x41\""]

    /// Deletes, duplicates or inserts a character, re-indents, duplicates or swaps lines of a corpus document.
    static func mutate(_ text: String, seed: Int) -> String {
        var random = SeededGenerator(seed)
        var scalars = Array(text.unicodeScalars)
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            guard !scalars.isEmpty else { break }
            let at = Int.random(in: 0..<scalars.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0: scalars.remove(at: at)
            case 1: scalars.insert(scalars[at], at: at)
            case 2, 3: scalars.insert(contentsOf: insertions[Int.random(in: 0..<insertions.count, using: &random)].unicodeScalars, at: at)
            case 4:
                // Re-indent the line holding `at` by -2...+2 spaces.
                let start = scalars[..<at].lastIndex(of: "\n").map { $0 + 1 } ?? 0
                let delta = [-2, -1, 1, 2][Int.random(in: 0..<4, using: &random)]
                if delta > 0 {
                    scalars.insert(contentsOf: Array(repeating: " ", count: delta), at: start)
                } else {
                    for _ in 0..<(-delta) where start < scalars.count && scalars[start] == " " { scalars.remove(at: start) }
                }
            default:
                // Duplicate the line holding `at` (a duplicate key, a second entry, a continuation).
                let start = scalars[..<at].lastIndex(of: "\n").map { $0 + 1 } ?? 0
                let end = scalars[at...].firstIndex(of: "\n").map { $0 + 1 } ?? scalars.count
                scalars.insert(contentsOf: Array(scalars[start..<end]) + (end == scalars.count ? ["\n"] : []), at: end)
            }
        }
        return String(String.UnicodeScalarView(scalars))
    }

    @Test func mutatedConfigurationsAreReadAsYamsReadsThemOrRejected() async {
        let corpus = Self.corpus
        let cases = Gen.int(in: 0...Int.max).map { seed -> (Int, String) in
            // Every third case mutates a generated document (more shapes than the corpus has).
            guard seed % 3 == 0 else { return (seed % corpus.count, Self.mutate(corpus[seed % corpus.count].text, seed: seed)) }
            var writer = DocumentWriter(random: SeededGenerator(seed))
            return (-1, Self.mutate(writer.document(), seed: seed))
        }
        await propertyCheck(count: 4000, input: cases) { document, text in
            let name = document < 0 ? "a generated document" : corpus[document].name
            switch compose(text) {
            case .failure(let error):
                let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
                #expect(error.line >= 1 && error.line <= lineCount + 1 && error.column >= 1, "\(error) outside the text")
            case .success(let ours):
                guard let theirs = yamsTree(text) else {
                    Issue.record("accepted what Yams rejects (\(name)):\n\(text)")
                    return
                }
                #expect(ours.map(Tree.init) == theirs, "\(name):\n\(text)")
                if let ours { #expect(numbersDisagree(ours, text).isEmpty, "\(text)") }
            }
        }
    }

    /// The property above proves little if nearly every mutation were rejected (or accepted): both happen often.
    @Test func theMutationsExerciseBothOutcomes() {
        var accepted = 0
        var rejected = 0
        var rejectedByBoth = 0
        for seed in 0..<600 {
            let text = Self.mutate(Self.corpus[seed % Self.corpus.count].text, seed: seed)
            switch compose(text) {
            case .success: accepted += 1
            case .failure:
                rejected += 1
                if yamsTree(text) == nil { rejectedByBoth += 1 }
            }
        }
        #expect(accepted >= 100 && rejected >= 100, "accepted \(accepted), rejected \(rejected)")
        #expect(rejectedByBoth >= 30, "Yams rejects \(rejectedByBoth) of our \(rejected) rejections")
        print("mutations: accepted \(accepted), rejected \(rejected) (Yams rejects \(rejectedByBoth) of those)")
    }

    @Test func generatedDocumentsAreVaried() {
        var writer = DocumentWriter(random: SeededGenerator(7))
        let samples = (0..<50).map { _ in writer.document() }
        #expect(samples.contains { $0.contains("- ") } && samples.contains { $0.contains("#") } && samples.contains { $0.contains("{") })
        print("a generated document:\n\(samples[3])")
    }
}

/// Hand-picked texts at the edges of the subset: each is read as Yams reads it, or rejected; those
/// marked `true` must be read (they are in the subset).
@Suite("Differential: edge cases")
struct EdgeCaseTests {
    static let cases: [(String, Bool)] = [
        ("a: b #c\n", true), ("a: b# c\n", true), ("a: 'b'  #c\n", true), ("a: \"b\"#c\n", false),
        ("a:\n  b\n", true), ("a:    \n  b\n", true), ("a:\n  - b\n  - c\n", true), ("a:\n- b\nc: d\n", true),
        ("- a:\n  - b\n", true), ("-  - a\n   - b\n", true), ("- a\n -b\n", false), ("a: [b]c\n", false),
        ("a: 'b''c'\n", true), ("a: \"\"\n", true), ("'a'\n", true), ("\"a\": b\n", true), ("a: \"b\\\\\"\n", true),
        ("a: b\n...\n", true), ("a:\n  \n  b: c\n", true), ("a: 1 # c\n# d\n  # e\nb: 2\n", true),
        ("a: -\n", false), ("a: -1\n", true), ("- -1\n", true), ("a: --\n", true), ("a: :\n", false), ("a: ?\n", false),
        ("a::\n", true), ("a: b:c\n", true), ("a: b :c\n", true), ("a : b\n", true), ("a  : b\n", true), ("'a' : b\n", true),
        ("a: [b, {c: d}, [e]]\n", true), ("a: {b: [c, d], e: {f: g}}\n", true), ("[a, b]\n", true), ("{a: b}\n", true),
        ("{a: b}: c\n", false), ("a: 0x\n", true), ("- \n", true), ("a: 1\r\n# c\r\nb: 2\r\n", true), ("a: 'b' \n", true),
        ("a: \"b\tc\"\n", true), ("\u{A0}a: 1\n", true), ("a: b\u{A0}\n", true), ("a: 1\n\n\n", true), ("", true), ("\n", true),
        ("   \n", true), ("#c", true), ("---", true), ("--- #c\n...", true), ("---\n---\n", false), ("a: 1\n--- \n", false),
        ("a\n...\n---\nb\n", false), ("a: b\n  - c\n", false), ("- a: b\n  c: d\n- e\n", true), ("key: [a, 'b, c', \"d]\"]\n", true),
        ("a: {b: 'c: d'}\n", true), ("a: [ ]\n", true), ("a: [a,b,c]\n", true), ("- [a, [b, [c]]]\n", true),
        ("a: 1\nb:\n  c:\n    d:\n      e: 1\n  f: 2\ng: 3\n", true), ("a: 'x'\n  \n", true), ("a:\n-\n-\n", true),
        ("- a\n-\n  - b\n", true), ("a: b\nb: a\n", true), ("1: a\n'1': b\n", false), ("a: 'b'c\n", false),
        ("a: [b]\n  c\n", false), ("-\n  a\n", true), ("- |\n  a\n", false), ("a: \"\\x41\"\n", false), ("a: b\n c: d\n", false),
        ("a: &b c\n", false), ("a: *b\n", false), ("a: !b c\n", false), ("a: @b\n", false), ("a: %b\n", false), ("? a: b\n", false),
        ("a: \"b\n", false), ("a: 'b\n", false), ("a: [b\n", false), ("a: {b: c\n", false), ("a: b]\n", true), ("a: b}\n", true),
        ("a: b, c\n", true), ("a: b,c\n", true), ("a: -b\n", true), ("a: ?b\n", true), ("a: :b\n", true), ("a: b: \n", false),
    ]

    @Test(arguments: cases)
    func readAsYamsReadsItOrRejected(_ text: String, mustAccept: Bool) {
        let theirs = yamsTree(text)
        switch compose(text) {
        case .success(let ours):
            #expect(theirs != nil, "accepted what Yams rejects: \(text.debugDescription)")
            if let theirs { #expect(ours.map(Tree.init) == theirs, "\(text.debugDescription)") }
        case .failure(let error):
            #expect(!mustAccept, "\(text.debugDescription) is in the subset but rejected: \(error)")
        }
    }
}
