// swift-tools-version:6.1
import PackageDescription

// PackGuard's benchmarks, a separate package so that ordo-one/benchmark (and its dependencies)
// never slow down the main build and test run. Run from this directory:
//
//   swift package benchmark                        # every benchmark, release build
//   swift package benchmark --target HotPath       # policy step, controller step, allocations
//   swift package benchmark --target Reaction      # edge -> relay through the real control loop
//
// The C reflex baseline for the real-kernel rig is in reflex/ (plain C, built with make).
let package = Package(
    name: "PackGuardBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named, so the dependency does not depend on the name of the clone's directory.
        .package(name: "PackGuard", path: ".."),
        // Only the malloc interposer trait: the default traits also enable "RuntimeInterposer",
        // which on Linux with Swift 6.3 pulls in ordo-one/swift-runtime-interposer (only needed for
        // ARC metrics, which these benchmarks do not use, and not in the build machine's package set).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPath",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PackGuardCore", package: "PackGuard"),
                .product(name: "PackGuardConfig", package: "PackGuard"),
                .product(name: "PackGuardGPIO", package: "PackGuard"),
                .product(name: "PackGuardDaemon", package: "PackGuard"),
            ],
            path: "Benchmarks/HotPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Reaction",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PackGuardCore", package: "PackGuard"),
                .product(name: "PackGuardConfig", package: "PackGuard"),
                .product(name: "PackGuardGPIO", package: "PackGuard"),
                .product(name: "PackGuardDaemon", package: "PackGuard"),
            ],
            path: "Benchmarks/Reaction",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
