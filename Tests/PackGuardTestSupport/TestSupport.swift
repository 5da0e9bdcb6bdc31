// What several test targets share: a seeded generator and the repository's files.
import Foundation

/// A small deterministic generator (SplitMix64), so that a failing case is reproduced by its seed.
public struct SeededGenerator: RandomNumberGenerator {
    public var state: UInt64

    public init(_ seed: Int) { state = UInt64(bitPattern: Int64(seed)) }
    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The repository root, found from this file's path (Tests/PackGuardTestSupport/…).
public let repositoryRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// A file's text, or nil when it cannot be read (the test then fails on its own #require).
public func readFile(_ path: String) -> String? {
    try? String(contentsOfFile: path, encoding: .utf8)
}
