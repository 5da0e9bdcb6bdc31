import Glibc
import PackGuardCommandLine
import Testing

/// `packguard` forwards bench, simulate and telemetry to executables next to it: it must find them
/// there, and say clearly when one is missing rather than fail obscurely.
@Suite("Sibling executables")
struct SiblingExecutableTests {
    func ownDirectory() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        try #require(length > 0)
        let own = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(own[...own.lastIndex(of: "/")!])
    }

    @Test func aSiblingIsLookedForNextToTheRunningExecutable() throws {
        let path = try SiblingExecutable.path(of: "packguard-telemetry").get()
        #expect(path == (try ownDirectory()) + "packguard-telemetry")
    }

    @Test func aMissingSiblingIsNamedWithWhereItWasLookedForAndExits127() throws {
        let error = SiblingExecutable.exec("packguard-no-such-sibling", arguments: ["bench"])
        #expect(error.errno == ENOENT)
        #expect(error.exitCode == 127)
        #expect(error.path == (try ownDirectory()) + "packguard-no-such-sibling")
        #expect(error.description.contains("is missing"))
        #expect(error.description.contains("hardware/pi/install.sh"), "it says how to get it")
    }

    @Test func aSiblingThatCannotBeRunSaysWhyAndExits126() throws {
        // A directory in place of the executable: execv fails EACCES, not "missing".
        let directory = try ownDirectory() + "packguard-sibling-test-directory"
        #expect(mkdir(directory, 0o755) == 0 || errno == EEXIST)
        defer { rmdir(directory) }
        let error = SiblingExecutable.exec("packguard-sibling-test-directory", arguments: [])
        #expect(error.errno == EACCES)
        #expect(error.exitCode == 126)
        #expect(error.description.contains("cannot run \(directory): execv failed"))
    }
}
