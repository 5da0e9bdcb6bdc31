// swift-tools-version:6.1
import PackageDescription

// Architecture, inside out:
//   PackGuardCore    pure safety policy (value types, no I/O, no clock, no Foundation)
//   PackGuardYAML    the strict YAML subset the configuration is written in (no Foundation)
//   PackGuardJSON    strict JSON reader/writer and Codable coders for the control socket (no Foundation)
//   PackGuardConfig  YAML configuration: parsing and strict, located validation
//   PackGuardGPIO    GPIO lines: libgpiod backend (through CGPIOShim) and the mocked chip
//   PackGuardADC     ADS1115 over Linux I2C, and the mocked I2C bus
//   PackGuardCAN     CAN decoding tables (Orion presets) and the listen-only SocketCAN reader
//   PackGuardDaemon  the control loop, watchdogs, systemd notify, control socket
//   PackGuardBench   scenarios and the simulator panel on the mocked chip
//   PackGuardTelemetry  the separate telemetry process: MQTT (libmosquitto through CMosquitto),
//                    Home Assistant discovery, Prometheus textfile, read-only status page
//   PackGuardCommandLine  what the three executables share (configuration files, errors, forwarding)
//   packguard        the command line; becomes packguard-daemon for `packguard run`, and forwards bench,
//                    simulate and telemetry to packguard-bench and packguard-telemetry
//   packguard-daemon the daemon (`packguard run`): maps neither ArgumentParser, Foundation nor libmosquitto
//   packguard-bench  the bench and the simulator (Yams)
//   packguard-telemetry  the telemetry process (libmosquitto, Yams)
let package = Package(
    name: "PackGuard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "packguard", targets: ["packguard"]),
        .executable(name: "packguard-daemon", targets: ["packguard-daemon"]),
        .executable(name: "packguard-bench", targets: ["packguard-bench"]),
        .executable(name: "packguard-telemetry", targets: ["packguard-telemetry"]),
        // Libraries for the separate Benchmarks/ package (kept apart so the benchmark
        // dependencies never slow down the main build and test run).
        .library(name: "PackGuardCore", targets: ["PackGuardCore"]),
        .library(name: "PackGuardConfig", targets: ["PackGuardConfig"]),
        .library(name: "PackGuardGPIO", targets: ["PackGuardGPIO"]),
        .library(name: "PackGuardDaemon", targets: ["PackGuardDaemon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        .target(name: "PackGuardCore"),
        .target(name: "PackGuardWords", dependencies: ["PackGuardCore"]),
        .target(name: "PackGuardYAML"),
        .target(name: "PackGuardJSON"),
        .target(
            name: "PackGuardConfig",
            dependencies: ["PackGuardCore", "PackGuardGPIO", "PackGuardADC", "PackGuardCAN", "PackGuardYAML"]
        ),
        .systemLibrary(
            name: "CLibgpiod",
            pkgConfig: "libgpiod",
            providers: [.apt(["libgpiod-dev"])]
        ),
        .target(name: "CGPIOShim", dependencies: ["CLibgpiod"]),
        .target(
            name: "PackGuardGPIO",
            dependencies: ["PackGuardCore", "PackGuardPlatform", "CGPIOShim"]
        ),
        .target(name: "PackGuardADC", dependencies: ["PackGuardPlatform"]),
        .target(name: "PackGuardPlatform"),
        .target(name: "CSocketCAN"),
        .target(name: "CLinuxEvents"),
        .target(name: "PackGuardCAN", dependencies: ["PackGuardCore", "CSocketCAN"]),
        .target(
            name: "PackGuardDaemon",
            dependencies: [
                "PackGuardCore", "PackGuardWords", "PackGuardConfig", "PackGuardGPIO", "PackGuardADC", "PackGuardCAN",
                "PackGuardPlatform", "PackGuardJSON", "CLinuxEvents", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PackGuardBench",
            dependencies: [
                "PackGuardCore", "PackGuardWords", "PackGuardConfig", "PackGuardGPIO", "PackGuardADC", "PackGuardCAN", "PackGuardDaemon",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.embedInCode("Scenarios")]
        ),
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .target(
            name: "PackGuardTelemetry",
            dependencies: [
                "PackGuardDaemon", "PackGuardConfig", "CMosquitto",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "PackGuardCommandLine", dependencies: ["PackGuardConfig"]),
        .executableTarget(
            name: "packguard",
            dependencies: [
                "PackGuardCore", "PackGuardWords", "PackGuardConfig", "PackGuardGPIO", "PackGuardADC", "PackGuardCAN", "PackGuardDaemon",
                "PackGuardCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The daemon `packguard run` becomes: no ArgumentParser (nor the FoundationEssentials it brings).
        .executableTarget(
            name: "packguard-daemon",
            dependencies: [
                "PackGuardConfig", "PackGuardDaemon", "PackGuardCommandLine",
                .product(name: "Logging", package: "swift-log"),
            ],
            // Peak memory (issue #17): with lld, the load-time relocations packed (DT_RELR, glibc 2.36+:
            // Debian 12 and Raspberry Pi OS bookworm and later), so that the loader does not read 0.7 MB of
            // them at every start; and no symbol exported for dlopen, which nobody does to the daemon.
            linkerSettings: [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                                           "-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux]))]
        ),
        .executableTarget(
            name: "packguard-bench",
            dependencies: [
                "PackGuardConfig", "PackGuardBench", "PackGuardCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "packguard-telemetry",
            dependencies: [
                "PackGuardConfig", "PackGuardDaemon", "PackGuardTelemetry", "PackGuardCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PackGuardCoreTests",
            dependencies: [
                "PackGuardCore", "PackGuardWords",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "PackGuardYAMLTests",
            dependencies: [
                "PackGuardTestSupport", "PackGuardYAML", "PackGuardConfig",
                .product(name: "Yams", package: "Yams"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        // What several test targets share (a seeded generator, the repository's files).
        .target(name: "PackGuardTestSupport", dependencies: [], path: "Tests/PackGuardTestSupport"),
        .testTarget(name: "PackGuardCommandLineTests", dependencies: ["PackGuardCommandLine"]),
        .testTarget(
            name: "PackGuardJSONTests",
            dependencies: [
                "PackGuardTestSupport", "PackGuardJSON", "PackGuardDaemon",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "PackGuardConfigTests",
            dependencies: ["PackGuardTestSupport", "PackGuardConfig", "PackGuardCore", "PackGuardGPIO", "PackGuardCAN"]
        ),
        .testTarget(name: "PackGuardADCTests", dependencies: ["PackGuardADC", "PackGuardPlatform"]),
        .testTarget(
            name: "PackGuardCANTests",
            dependencies: [
                "PackGuardCAN", "PackGuardCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "PackGuardDaemonTests",
            dependencies: ["PackGuardTestSupport", "PackGuardDaemon", "PackGuardGPIO", "PackGuardConfig", "PackGuardCore", "PackGuardWords", "PackGuardCAN",
                           "PackGuardPlatform"]
        ),
        .testTarget(
            name: "PackGuardBenchTests",
            dependencies: ["PackGuardTestSupport", "PackGuardBench", "PackGuardDaemon", "PackGuardGPIO", "PackGuardConfig", "PackGuardCore"]
        ),
        .testTarget(
            name: "PackGuardTelemetryTests",
            dependencies: ["PackGuardTelemetry", "PackGuardDaemon", "PackGuardConfig", "PackGuardPlatform"]
        ),
        .testTarget(
            name: "PackGuardGPIOTests",
            dependencies: ["PackGuardGPIO", "PackGuardConfig", "PackGuardCore"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
