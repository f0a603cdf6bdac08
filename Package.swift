// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "TokenWatt",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tokenwatt-agent", targets: ["tokenwatt-agent"]),
        .executable(name: "tokenwatt-aggregator", targets: ["tokenwatt-aggregator"]),
        .executable(name: "tokenwatt-gateway", targets: ["tokenwatt-gateway"]),
        .executable(name: "tokenwatt", targets: ["tokenwatt"]),
        .executable(name: "tokenwatt-bench", targets: ["tokenwatt-bench"]),
        // For the fuzzing package in fuzz/ (scripts/fuzz.sh), which builds apart with libFuzzer.
        .library(name: "TokenWattCore", targets: ["TokenWattCore"]),
        .library(name: "TokenWattConfiguration", targets: ["TokenWattConfiguration"]),
        .library(name: "TokenWattAgent", targets: ["TokenWattAgent"]),
        .library(name: "TokenWattSender", targets: ["TokenWattSender"]),
        .library(name: "TokenWattAggregator", targets: ["TokenWattAggregator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
    ],
    targets: [
        // System libraries: the build needs libsnappy-dev and libsystemd-dev.
        .systemLibrary(name: "CSnappy", path: "Sources/CSnappy",
                       providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
                       providers: [.apt(["libsystemd-dev"])]),

        // Metric model, exposition formats, remote-write codec, configuration helpers.
        .target(name: "TokenWattCore", dependencies: [
            "CSnappy", "CZlib",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "Yams", package: "Yams"),
        ], exclude: ["RemoteWrite/Proto/remote.proto", "RemoteWrite/Proto/remote_v2.proto", "OTLP/Proto/otlp_metrics.proto"], swiftSettings: strict),
        // The JSON contracts of the aggregator's API: every body it answers or takes, as
        // `Codable` types that the handlers encode and the CLI and the gateway decode.
        .target(name: "TokenWattAPI", dependencies: ["TokenWattCore"], swiftSettings: strict),
        // What both daemons share: systemd notify and watchdog, journald logging, the --log-level
        // flag, the guarded HTTP server with its TLS and read access, and the one outbound client
        // and batch-shipping loop.
        .target(name: "TokenWattService", dependencies: [
            "CSystemd", "TokenWattCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),
        // Both daemons' configuration: every settings type, read from YAML and checked as the
        // daemons load it, so that the CLI validates a file without linking either daemon.
        .target(name: "TokenWattConfiguration", dependencies: ["TokenWattAPI", "TokenWattCore", "TokenWattService"],
                // The built-in cloud price list, compiled into the binary (no bundle to install beside it).
                resources: [.embedInCode("Aggregator/cloud-prices.yml")], swiftSettings: strict),
        // SQLite storage: schema, migrations, the single writer, queries, rollups, retention.
        .target(name: "TokenWattStore", dependencies: [
            "TokenWattConfiguration", "TokenWattCore",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),
        // The aggregator: ingest, exposition, query API, cost ledger, budgets and alert delivery.
        .target(name: "TokenWattAggregator", dependencies: [
            "TokenWattAPI", "TokenWattConfiguration", "TokenWattCore", "TokenWattService", "TokenWattStore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),

        // What a daemon that sends samples to the aggregator needs: the collector protocol, the
        // usage intake and its saved counters, the spool and the pusher. The agent and the
        // metering gateway both build on it.
        .target(name: "TokenWattSender", dependencies: [
            "TokenWattAPI", "TokenWattConfiguration", "TokenWattCore", "TokenWattService",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        // The metering gateway: callers, routes to local servers and cloud APIs, reservations
        // against the hard caps, and the usage of every answer, shipped as the agent ships its own.
        .target(name: "TokenWattGateway", dependencies: [
            "TokenWattAPI", "TokenWattConfiguration", "TokenWattCore", "TokenWattSender", "TokenWattService",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),

        // The node agent: collectors (one file per source), inference servers and the usage intake.
        .target(name: "TokenWattAgent", dependencies: [
            "TokenWattAPI", "TokenWattConfiguration", "TokenWattCore", "TokenWattSender", "TokenWattService",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),

        .executableTarget(name: "tokenwatt-agent", dependencies: [
            "TokenWattAgent", "TokenWattConfiguration", "TokenWattCore", "TokenWattService",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .executableTarget(name: "tokenwatt-gateway", dependencies: [
            "TokenWattConfiguration", "TokenWattCore", "TokenWattGateway", "TokenWattService",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .executableTarget(name: "tokenwatt-aggregator", dependencies: [
            "TokenWattAggregator", "TokenWattConfiguration", "TokenWattService",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .executableTarget(name: "tokenwatt", dependencies: [
            "TokenWattAPI", "TokenWattConfiguration", "TokenWattCore", "TokenWattService",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .executableTarget(name: "tokenwatt-bench", dependencies: [
            "TokenWattAPI", "TokenWattCore", "TokenWattService",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], swiftSettings: strict),

        // What the test targets share: free ports, loopback servers, starting the real binaries
        // and waiting for them, HTTP helpers, the fake NVML library (FakeNVML/, C compiled at run time).
        .target(name: "TokenWattTestSupport", dependencies: [
            "TokenWattCore", "TokenWattService",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], path: "Tests/TestSupport", exclude: ["FakeNVML"], swiftSettings: strict),

        .testTarget(name: "TokenWattCoreTests", dependencies: [
            "TokenWattCore", "TokenWattTestSupport",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "TokenWattServiceTests", dependencies: [
            "TokenWattService", "TokenWattTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
        ], swiftSettings: strict),
        .testTarget(name: "TokenWattStoreTests", dependencies: [
            "TokenWattConfiguration", "TokenWattStore", "TokenWattTestSupport",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),
        .testTarget(name: "TokenWattAggregatorTests", dependencies: [
            "TokenWattAPI", "TokenWattAggregator", "TokenWattConfiguration", "TokenWattService", "TokenWattTestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], swiftSettings: strict),
        .testTarget(name: "TokenWattAgentTests", dependencies: [
            "TokenWattAgent", "TokenWattConfiguration", "TokenWattSender", "TokenWattService", "TokenWattTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ],
                    resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "TokenWattGatewayTests", dependencies: [
            "TokenWattConfiguration", "TokenWattCore", "TokenWattGateway", "TokenWattSender", "TokenWattService", "TokenWattTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: [
            "TokenWattAPI", "TokenWattConfiguration", "TokenWattCore", "TokenWattStore", "TokenWattService", "TokenWattTestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ], swiftSettings: strict),
    ]
)
