// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "auditship",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "auditship", targets: ["auditship"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.10.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.20.0"),
    ],
    targets: [
        // C libraries, each wrapped once in a Swift module below.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // glibc's malloc.h (mallopt), for the agent's heap trimming; nothing to link.
        .systemLibrary(name: "CMalloc"),

        // Thin Swift wrappers: no C type leaks past these.
        .target(name: "Gzip", dependencies: ["CZlib", "CDeflate"], swiftSettings: swiftSettings),
        .target(name: "OpenSSLKit", dependencies: ["COpenSSL"], swiftSettings: swiftSettings),
        .target(name: "Zstd", dependencies: ["CZstd"], swiftSettings: swiftSettings),
        .target(name: "CurlClient", dependencies: ["CCurl"], swiftSettings: swiftSettings),

        // One process per state directory or store: an flock held for the process's life.
        .target(name: "ProcessLock", swiftSettings: swiftSettings),
        // Event model and byte-level scanner.
        .target(name: "AuditModel", swiftSettings: swiftSettings),
        // Kubernetes audit Policy: parse, match, check, simulate.
        .target(name: "AuditPolicy", dependencies: ["AuditModel", .product(name: "Yams", package: "Yams")], swiftSettings: swiftSettings),
        // Alert rules on audit events: YAML rules, the built-in pack, the engine.
        .target(name: "AuditAlerts", dependencies: ["AuditModel", .product(name: "Yams", package: "Yams")], swiftSettings: swiftSettings),
        // Wire protocol between agents, webhook clients and the aggregator.
        .target(name: "AuditWire", dependencies: ["AuditModel", "Gzip", "Zstd", "OpenSSLKit"], swiftSettings: swiftSettings),
        // Deterministic generator of realistic audit logs.
        .target(name: "AuditGenerator", dependencies: ["AuditModel"], swiftSettings: swiftSettings),
        // The agent: tail, checkpoint, batch, compress, ship. No server stack.
        .target(name: "AuditAgent", dependencies: [
            "AuditModel", "AuditWire", "AuditPolicy", "Gzip", "CurlClient", "ProcessLock", "CMalloc",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // Backfill: history files through the agent's reading and shipping, or straight into a store.
        .target(name: "AuditBackfill", dependencies: [
            "AuditModel", "AuditAgent", "AuditPolicy", "AuditWire", "AuditStore", "OpenSSLKit", "ProcessLock",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // Tamper evidence: the hash chain's formats, signed checkpoints, the verifier, proofs.
        .target(name: "AuditChain", dependencies: ["AuditModel", "OpenSSLKit"], swiftSettings: swiftSettings),
        // The store's block format: sealed event blocks, columns, index postings, rollups (pure; zstd).
        .target(name: "AuditBlock", dependencies: ["AuditModel", "AuditChain", "OpenSSLKit", "Zstd"], swiftSettings: swiftSettings),
        // The unified store (SQLite via GRDB).
        .target(name: "AuditStore", dependencies: [
            "AuditModel", "AuditChain", "AuditBlock", "OpenSSLKit",
            .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: swiftSettings),
        // The PostgreSQL store, for several aggregators sharing one database.
        .target(name: "AuditStorePostgres", dependencies: [
            "AuditModel", "AuditStore", "AuditChain",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // Fuzzing: the targets (parsers and decoders with their properties), the driver that hands
        // them to libFuzzer in a -sanitize=fuzzer build (Tests/Fuzz/run) or replays files otherwise.
        .target(name: "CLibFuzzer", path: "Tests/Fuzz/CLibFuzzer"),
        .target(name: "AuditFuzzTargets", dependencies: [
            "AuditModel", "AuditWire", "AuditAgent", "AuditPolicy", "AuditAlerts", "AuditChain", "AuditBlock", "Gzip", "Zstd", "OpenSSLKit",
        ], path: "Tests/Fuzz/Targets", swiftSettings: swiftSettings),
        .executableTarget(name: "auditship-fuzz", dependencies: ["AuditFuzzTargets", "CLibFuzzer"],
                          path: "Tests/Fuzz/Driver", swiftSettings: swiftSettings),
        // The aggregator server.
        .target(name: "AuditAggregator", dependencies: [
            "AuditModel", "AuditWire", "AuditStore", "AuditStorePostgres", "AuditAlerts", "AuditHunt", "AuditChain", "AuditUIAssets", "Gzip", "OpenSSLKit", "CurlClient",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // The web UI's page, script and style, embedded in the binary; served by `auditship ui` and the aggregator.
        .target(name: "AuditUIAssets", resources: [.embedInCode("Assets")], swiftSettings: swiftSettings),
        // `auditship alerts hunt`: rules over stored history, reading only what the index says they can match.
        .target(name: "AuditHunt", dependencies: ["AuditAlerts", "AuditStore", "AuditBlock", "AuditModel", "CurlClient"], swiftSettings: swiftSettings),
        // `auditship ui`: the web UI's local server on 127.0.0.1.
        .target(name: "AuditUI", dependencies: [
            "AuditModel", "AuditStore", "AuditAggregator", "AuditWire", "AuditUIAssets", "CurlClient",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // `auditship bench`: a file per section, each figure beside its reference.
        .target(name: "BrowserDriver", dependencies: ["CurlClient"], swiftSettings: swiftSettings),
        .target(name: "AuditBench", dependencies: [
            "BrowserDriver",
            "AuditModel", "AuditUI", "AuditUIAssets", "AuditGenerator", "AuditAgent", "AuditStore", "AuditStorePostgres", "AuditChain", "AuditWire",
            "AuditBlock", "AuditAlerts", "AuditHunt", "OpenSSLKit", "Gzip", "Zstd", "CurlClient",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // Subcommands.
        .target(name: "AuditshipCLI", dependencies: [
            "AuditModel", "AuditPolicy", "AuditAlerts", "AuditWire", "AuditGenerator", "AuditAgent", "AuditStore", "AuditStorePostgres",
            "AuditAggregator", "AuditBackfill", "AuditChain", "AuditBench", "AuditUI", "AuditHunt", "OpenSSLKit", "Gzip", "CurlClient", "ProcessLock",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "auditship", dependencies: [
            "AuditshipCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),

        // Where the tests find ../shared (real-world data a bare clone lacks): skip or require.
        .target(name: "SharedFixtures", path: "Tests/SharedFixtures", swiftSettings: swiftSettings),
        .testTarget(name: "AuditModelTests", dependencies: ["AuditModel", "AuditGenerator"], swiftSettings: swiftSettings),
        .testTarget(name: "AuditPolicyTests", dependencies: ["AuditPolicy", "SharedFixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "AuditAlertsTests", dependencies: ["AuditAlerts", "SharedFixtures", .product(name: "Yams", package: "Yams")], swiftSettings: swiftSettings),
        .testTarget(name: "AuditHuntTests", dependencies: ["AuditHunt", "AuditAlerts", "AuditStore", "AuditBlock", "AuditModel", "OpenSSLKit", "SharedFixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "WrapperTests", dependencies: ["Gzip", "OpenSSLKit", "Zstd"], swiftSettings: swiftSettings),
        .testTarget(name: "AuditBlockTests", dependencies: ["AuditBlock", "AuditChain", "AuditGenerator", "AuditModel", "OpenSSLKit"], swiftSettings: swiftSettings),
        .testTarget(name: "AuditAgentTests", dependencies: ["AuditAgent", "AuditModel", "AuditPolicy", "AuditBackfill", "SharedFixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "AuditStoreTests", dependencies: [
            "AuditStore", "AuditStorePostgres", "AuditBlock", "AuditChain", "AuditModel", "OpenSSLKit", "SharedFixtures",
            .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "EndToEndTests", dependencies: ["SharedFixtures", "OpenSSLKit", "CurlClient", "BrowserDriver", "Gzip", "AuditModel", "AuditGenerator"], swiftSettings: swiftSettings),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["AuditFuzzTargets", "AuditGenerator"], swiftSettings: swiftSettings),
    ]
)
