import Foundation
import PackGuardYAML
import PackGuardTestSupport
import Testing
import Yams

/// A tree both readers can be brought to: what the loader sees of a node (text, style, structure, marks).
indirect enum Tree: Equatable, CustomStringConvertible {
    case scalar(String, YAMLScalarStyle, YAMLMark)
    case mapping([Pair], YAMLMark)
    case sequence([Tree], YAMLMark)
    /// Something the subset has no word for (a block scalar, an alias): never equal to what we read.
    case foreign(String)

    struct Pair: Equatable {
        var key: Tree
        var value: Tree
    }

    init(_ node: YAMLNode) {
        switch node {
        case .scalar(let scalar): self = .scalar(scalar.text, scalar.style, scalar.mark)
        case .mapping(let pairs, let mark): self = .mapping(pairs.map { Pair(key: Tree($0.key), value: Tree($0.value)) }, mark)
        case .sequence(let items, let mark): self = .sequence(items.map(Tree.init), mark)
        }
    }

    init(yams node: Yams.Node) {
        func mark(_ mark: Yams.Mark?) -> YAMLMark { YAMLMark(line: mark?.line ?? 0, column: mark?.column ?? 0) }
        switch node {
        case .scalar(let scalar):
            // Tags need no word here: the subset rejects every '!' outside quotes.
            switch scalar.style {
            case .plain, .any: self = .scalar(scalar.string, .plain, mark(scalar.mark))
            case .singleQuoted: self = .scalar(scalar.string, .singleQuoted, mark(scalar.mark))
            case .doubleQuoted: self = .scalar(scalar.string, .doubleQuoted, mark(scalar.mark))
            case .literal, .folded: self = .foreign("block scalar \(scalar.string)")
            }
        case .mapping(let mapping):
            self = .mapping(mapping.map { Pair(key: Tree(yams: $0.key), value: Tree(yams: $0.value)) }, mark(mapping.mark))
        case .sequence(let sequence):
            self = .sequence(sequence.map { Tree(yams: $0) }, mark(sequence.mark))
        case .alias:
            self = .foreign("alias")
        }
    }

    var description: String {
        switch self {
        case .scalar(let text, let style, let mark): "\(style)(\(text.debugDescription))@\(mark)"
        case .mapping(let pairs, let mark): "{" + pairs.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}@\(mark)"
        case .sequence(let items, let mark): "[" + items.map(\.description).joined(separator: ", ") + "]@\(mark)"
        case .foreign(let what): "<\(what)>"
        }
    }
}

/// What Yams makes of `text`: its tree, or nil when it rejects it.
func yamsTree(_ text: String) -> Tree?? {
    do {
        return .some(try Yams.compose(yaml: text).map(Tree.init(yams:)))
    } catch {
        return nil
    }
}

/// Every plain scalar's number, as we read it, beside Yams' (`Node.int`, `Node.float ?? Node.int`):
/// where we read a number, Yams must read the same one.
func numbersDisagree(_ ours: YAMLNode, _ text: String) -> [String] {
    var problems: [String] = []
    func visit(_ node: YAMLNode) {
        switch node {
        case .scalar(let scalar) where scalar.style == .plain:
            problems += numberProblems(scalar.text)
        case .scalar: break
        case .mapping(let pairs, _): pairs.forEach { visit($0.key); visit($0.value) }
        case .sequence(let items, _): items.forEach(visit)
        }
    }
    visit(ours)
    return problems
}

func numberProblems(_ text: String) -> [String] {
    let ours = YAMLNode.scalar(YAMLScalar(text: text, style: .plain, mark: YAMLMark(line: 1, column: 1)))
    let yams = Yams.Node(text)
    var problems: [String] = []
    if let int = ours.int, int != yams.int {
        problems.append("'\(text)': int \(int), Yams \(String(describing: yams.int))")
    }
    if let number = ours.double ?? ours.int.map(Double.init) {
        let theirs = yams.float ?? yams.int.map(Double.init)
        if theirs != number && !(number.isNaN && (theirs?.isNaN ?? false)) {
            problems.append("'\(text)': number \(number), Yams \(String(describing: theirs))")
        }
    }
    return problems
}


