import Foundation
import PackGuardTestSupport
import Testing

/// ARCHITECTURE.md's graph, checked against Package.swift: a target that imports more than its row
/// allows fails here, so the graph cannot drift from the picture.
@Suite("Architecture: the module graph points inward")
struct ArchitectureTests {
    static let allowed: [String: Set<String>] = [
        "PackGuardCore": [],
        "PackGuardWords": ["PackGuardCore"],
        "PackGuardGPIO": ["PackGuardCore", "PackGuardPlatform", "CGPIOShim"],
        "CGPIOShim": ["CLibgpiod"],
        "PackGuardADC": ["PackGuardPlatform"],
        "PackGuardPlatform": [],
        "CSocketCAN": [],
        "CLinuxEvents": [],
        "PackGuardCAN": ["PackGuardCore", "CSocketCAN"],
        "PackGuardYAML": [],
        "PackGuardJSON": [],
        "PackGuardConfig": ["PackGuardCore", "PackGuardGPIO", "PackGuardADC", "PackGuardCAN", "PackGuardYAML"],
        "PackGuardDaemon": ["PackGuardCore", "PackGuardWords", "PackGuardConfig", "PackGuardGPIO", "PackGuardADC",
                            "PackGuardCAN", "PackGuardPlatform", "PackGuardJSON", "CLinuxEvents", "Logging"],
        "PackGuardCommandLine": ["PackGuardConfig"],
        "PackGuardTestSupport": [],
        // The command line: everything but the bench and telemetry, which live in their own executables.
        "packguard": ["PackGuardCore", "PackGuardWords", "PackGuardConfig", "PackGuardGPIO", "PackGuardADC", "PackGuardCAN",
                      "PackGuardDaemon", "PackGuardCommandLine", "ArgumentParser", "Logging"],
        // The daemon `packguard run` becomes: no ArgumentParser.
        "packguard-daemon": ["PackGuardConfig", "PackGuardDaemon", "PackGuardCommandLine", "Logging"],
        "packguard-bench": ["PackGuardConfig", "PackGuardBench", "PackGuardCommandLine", "ArgumentParser"],
        "packguard-telemetry": ["PackGuardConfig", "PackGuardDaemon", "PackGuardTelemetry", "PackGuardCommandLine",
                                "ArgumentParser", "Logging"],
    ]

    /// Each regular and executable target's name and dependencies, read from the manifest's text.
    static func targets(in manifest: String) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        let manifest = manifest.replacingOccurrences(of: ".executableTarget(", with: ".target(")
        for chunk in manifest.components(separatedBy: ".target(").dropFirst() {
            guard let nameStart = chunk.range(of: "name: \"") else { continue }
            let name = String(chunk[nameStart.upperBound...].prefix { $0 != "\"" })
            var dependencies: Set<String> = []
            if let list = chunk.range(of: "dependencies: [") {
                var depth = 1
                var body = ""
                for character in chunk[list.upperBound...] {
                    if character == "[" { depth += 1 }
                    if character == "]" { depth -= 1; if depth == 0 { break } }
                    body.append(character)
                }
                // "Name" entries and .product(name: "Name", ...): every quoted word that is not a package.
                let parts = body.components(separatedBy: "\"")
                for (index, part) in parts.enumerated() where index % 2 == 1 {
                    let before = parts[index - 1]
                    if before.hasSuffix("package: ") { continue }
                    dependencies.insert(part)
                }
            }
            result[name] = dependencies
        }
        return result
    }

    @Test func everyTargetImportsOnlyWhatTheGraphAllows() throws {
        let manifest = try #require(readFile(repositoryRoot + "/Package.swift"))
        let targets = Self.targets(in: manifest)
        for (name, allowed) in Self.allowed {
            let found = try #require(targets[name], "Package.swift has no target \(name)")
            #expect(found.isSubset(of: allowed), "\(name) depends on \(found.subtracting(allowed).sorted()), which ARCHITECTURE.md does not allow")
        }
        #expect(Set(targets.keys).subtracting(Self.allowed.keys).subtracting(["PackGuardBench", "PackGuardTelemetry"]).isEmpty,
                "a new target needs its row in ARCHITECTURE.md and here: \(Set(targets.keys).subtracting(Self.allowed.keys).sorted())")
    }

    @Test func onlyTheDaemonTheBenchTelemetryAndTheCommandLineReadTheConfiguration() throws {
        let manifest = try #require(readFile(repositoryRoot + "/Package.swift"))
        for (name, dependencies) in Self.targets(in: manifest) where dependencies.contains("PackGuardConfig") {
            #expect(["PackGuardDaemon", "PackGuardBench", "PackGuardTelemetry", "PackGuardCommandLine", "packguard",
                     "packguard-daemon", "packguard-bench", "packguard-telemetry"].contains(name), "\(name) imports PackGuardConfig")
        }
    }

    /// Issue #17: `packguard run` must not map Foundation, ICU or libmosquitto, so nothing the
    /// `packguard` executable links (however indirectly) may bring them: the bench and telemetry,
    /// which do, are forwarded to their own executables. The daemon's own executable, which
    /// `packguard run` becomes, does not even link ArgumentParser (it brings FoundationEssentials).
    @Test(arguments: [("packguard", ["PackGuardBench", "PackGuardTelemetry", "CMosquitto", "Yams"]),
                      ("packguard-daemon", ["PackGuardBench", "PackGuardTelemetry", "CMosquitto", "Yams", "ArgumentParser"])])
    func theDaemonsExecutablesLinkNeitherTheBenchNorTelemetry(executable: String, forbidden: [String]) throws {
        let manifest = try #require(readFile(repositoryRoot + "/Package.swift"))
        let targets = Self.targets(in: manifest)
        var linked: Set<String> = []
        var pending = [executable]
        while let next = pending.popLast() {
            for dependency in targets[next] ?? [] where linked.insert(dependency).inserted { pending.append(dependency) }
        }
        #expect(linked.contains("PackGuardDaemon"), "the closure was read: \(linked.sorted())")
        for name in forbidden {
            #expect(!linked.contains(name), "\(executable) links \(name)")
        }
    }

    @Test func theSafetyDaemonNeverLinksTheNetworkClient() throws {
        let manifest = try #require(readFile(repositoryRoot + "/Package.swift"))
        let targets = Self.targets(in: manifest)
        for name in ["PackGuardCore", "PackGuardDaemon", "PackGuardGPIO", "PackGuardConfig"] {
            #expect(!(targets[name] ?? []).contains("PackGuardTelemetry") && !(targets[name] ?? []).contains("CMosquitto"),
                    "\(name) must not depend on telemetry: the daemon stays offline")
        }
    }

    /// Issue #17: the daemon's memory budget has no room for Foundation and ICU, so the configuration
    /// and everything it imports stay free of them (the YAML subset reader is our own for this).
    @Test(arguments: ["PackGuardYAML", "PackGuardConfig", "PackGuardCore", "PackGuardGPIO", "PackGuardADC", "PackGuardCAN",
                      "PackGuardPlatform", "PackGuardWords", "PackGuardCommandLine", "packguard", "packguard-daemon"])
    func theConfigurationAndWhatItImportsLinkNoFoundation(target: String) throws {
        let directory = repositoryRoot + "/Sources/" + target
        let files = try FileManager.default.subpathsOfDirectory(atPath: directory).filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty, "no sources in \(directory)")
        for file in files {
            let text = try #require(readFile(directory + "/" + file))
            for line in text.split(separator: "\n") where line.contains("import ") && line.contains("Foundation") {
                Issue.record("\(target)/\(file) imports Foundation: \(line)")
            }
        }
        let manifest = try #require(readFile(repositoryRoot + "/Package.swift"))
        #expect(!(Self.targets(in: manifest)[target] ?? []).contains("Yams"), "\(target) depends on Yams, which needs Foundation")
    }

    @Test func theParserReadsTargetsAndProducts() {
        let sample = """
            .target(name: "A", dependencies: ["B", .product(name: "Yams", package: "Yams")]),
            .target(
                name: "C"
            ),
            .executableTarget(name: "d", dependencies: ["A", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
            """
        let targets = Self.targets(in: sample)
        #expect(targets["A"] == ["B", "Yams"])
        #expect(targets["C"] == [])
        #expect(targets["d"] == ["A", "ArgumentParser"])
    }
}
