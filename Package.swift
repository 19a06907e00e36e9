// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "wzt",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wzt", targets: ["wzt"]),
        // What an integrator adds to their own package (docs/client.md).
        .library(name: "WZTClient", targets: ["WZTClient", "BusCore", "IntakeContracts", "MandatingContracts", "NetworksContracts",
                                              "GBOOnboardingContracts", "AMAContracts"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Generated sequences with shrinking, for the domain modules' invariants (tests only).
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // Regional rule sets: the API as a shared library, and the built-in plugins.
        .package(path: "Plugins/PluginAPI"),
        .package(path: "Plugins/Flanders"),
        .package(path: "Plugins/Brussels"),
    ],
    targets: [
        // libzmq 4.3 as a system library; the Swift API over it lives in ZeroMQ.
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"]), .brew(["zeromq"])]
        ),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        // OpenSSL's libcrypto, for sealing personal fields with AES-GCM without a context per call.
        .systemLibrary(
            name: "COpenSSL",
            providers: [.apt(["libssl-dev"]), .brew(["openssl"])]
        ),

        // The envelope and the contracts: what the bus and its clients share, without the log's
        // dependencies (no database, no OpenSSL, no NIO).
        .target(name: "BusCore", dependencies: [.product(name: "PluginAPI", package: "PluginAPI")]),
        // The bus: durable event log, sealing of personal fields, in-process dispatch.
        .target(name: "Bus", dependencies: [
            "BusCore", "Storage", "COpenSSL",
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // A node's client for integrators: publishing with acks, the live feed with replay, CURVE;
        // the contracts as Codable types. Nothing of the node's own dependencies.
        .target(name: "WZTClient", dependencies: ["BusCore", "ZeroMQ"]),
        // ZeroMQ ingress (ROUTER), egress (PUB) and replay (ROUTER) in front of the bus.
        .target(name: "BusTransport", dependencies: [
            "Bus", "WZTClient", "ZeroMQ",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // A module's own database behind one protocol: SQLite through GRDB (synchronous=FULL, WAL) by default.
        .target(name: "Storage", dependencies: [
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        // A module's database in a PostgreSQL server, where the config asks for one.
        .target(name: "PostgresStorage", dependencies: [
            "Storage",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The append-only trail of reads of personal data; written by the HTTP side, never by modules.
        .target(name: "Audit", dependencies: [
            "Storage",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // What a module sees: the Module protocol, its transaction, inbox and outbox.
        .target(name: "ModuleKit", dependencies: [
            "Bus", "Storage",
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),

        // Contracts: versioned Codable events, no logic, no storage.
        .target(name: "IntakeContracts", dependencies: ["BusCore", .product(name: "PluginAPI", package: "PluginAPI")]),
        .target(name: "MandatingContracts", dependencies: ["BusCore", .product(name: "PluginAPI", package: "PluginAPI")]),

        .target(name: "NetworksContracts", dependencies: ["BusCore", .product(name: "PluginAPI", package: "PluginAPI")]),

        .target(name: "GBOOnboardingContracts", dependencies: ["BusCore", .product(name: "PluginAPI", package: "PluginAPI")]),

        .target(name: "AMAContracts", dependencies: ["BusCore", "IntakeContracts", .product(name: "PluginAPI", package: "PluginAPI")]),

        // Domain modules: each imports ModuleKit, Bus and Contracts targets only.
        .target(name: "AMA", dependencies: [
            "Bus", "ModuleKit", "Storage", "AMAContracts",
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Tells agencies what they must know through their webhooks and mailboxes; reads the
        // other modules' contracts only to say what happened, never more.
        .target(name: "Notifications", dependencies: [
            "Bus", "ModuleKit", "Storage", "IntakeContracts", "MandatingContracts", "NetworksContracts", "GBOOnboardingContracts", "AMAContracts",
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
        ]),
        .target(name: "GBOOnboarding", dependencies: [
            "Bus", "ModuleKit", "Storage", "GBOOnboardingContracts", "IntakeContracts",
            .product(name: "PluginAPI", package: "PluginAPI"),
        ]),
        .target(name: "Intake", dependencies: [
            "Bus", "ModuleKit", "Storage", "IntakeContracts", "MandatingContracts", "NetworksContracts", "GBOOnboardingContracts",
            .product(name: "PluginAPI", package: "PluginAPI"),
        ]),
        .target(name: "Networks", dependencies: [
            "Bus", "ModuleKit", "Storage", "NetworksContracts",
            .product(name: "PluginAPI", package: "PluginAPI"),
        ]),
        .target(name: "Mandating", dependencies: [
            "Bus", "ModuleKit", "Storage", "MandatingContracts",
            .product(name: "PluginAPI", package: "PluginAPI"),
        ]),

        // The HTTP side for operators: health, readiness and Prometheus metrics. The bus does not depend on it.
        .target(name: "OperatorHTTP", dependencies: [
            "Audit", "Bus", "BusTransport", "ModuleKit",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Config, module registry, rule book, plugin loader and the service group that runs a node.
        .target(name: "Core", dependencies: [
            "Audit", "Bus", "BusTransport", "ModuleKit", "Storage", "PostgresStorage", "IntakeContracts", "Intake", "MandatingContracts", "Mandating",
            "NetworksContracts", "Networks", "GBOOnboardingContracts", "GBOOnboarding", "AMAContracts", "AMA", "Notifications", "OperatorHTTP", "ZeroMQ",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "FlandersRules", package: "Flanders"),
            .product(name: "BrusselsRules", package: "Brussels"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .executableTarget(name: "wzt", dependencies: [
            "Audit", "Core", "Bus", "BusTransport", "ZeroMQ", "AMA", "AMAContracts", "Notifications", "ModuleKit", "OperatorHTTP",
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // Scripts/bench drives this; it is not shipped.
        .executableTarget(name: "wzt-bench", dependencies: [
            "Core", "Bus", "BusTransport", "ModuleKit", "ZeroMQ", "IntakeContracts",
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),

        // A sample module and helpers shared by the test targets.
        .target(name: "TestSupport", dependencies: [
            "Bus", "ModuleKit", "Storage", "PostgresStorage",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ], path: "Tests/Support"),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "StorageTests", dependencies: [
            "Storage", "PostgresStorage", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "BusTests", dependencies: [
            "Bus", "IntakeContracts", "TestSupport",
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ], exclude: ["Corpus"]),
        .testTarget(name: "ModuleKitTests", dependencies: [
            "ModuleKit", "Bus", "Storage", "PostgresStorage", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "CoreTests", dependencies: [
            "Audit", "Core", "Notifications", "Bus", "BusTransport", "ModuleKit", "OperatorHTTP", "ZeroMQ", "IntakeContracts", "PostgresStorage", "Storage", "TestSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "RuleSetTests", dependencies: [
            "Core", "ModuleKit",
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "FlandersRules", package: "Flanders"),
            .product(name: "BrusselsRules", package: "Brussels"),
        ], exclude: ["Fixtures"]),
        .testTarget(name: "ScenarioTests", dependencies: [
            "Core", "Bus", "ModuleKit", "Intake", "Mandating", "MandatingContracts", "Networks", "NetworksContracts", "GBOOnboarding", "GBOOnboardingContracts",
            "AMA", "AMAContracts", "IntakeContracts", "Storage", "PostgresStorage", "TestSupport",
            .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["Python"]),
        .testTarget(name: "ModuleTests", dependencies: [
            "AMA", "AMAContracts", "Notifications", "IntakeContracts", "MandatingContracts", "NetworksContracts", "ModuleKit", "Bus", "Storage", "TestSupport",
            .product(name: "PluginAPI", package: "PluginAPI"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "InteropTests", dependencies: ["TestSupport", "Bus", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")], exclude: ["Python"]),
    ]
)

// Scripts/fuzz builds the fuzz targets that need the node's libraries with libFuzzer, which
// supplies `main`; an ordinary build does not see them.
if Context.environment["WZT_FUZZ"] == "1" {
    package.targets.append(.executableTarget(name: "wzt-fuzz", dependencies: ["Bus", "Core"], path: "Tests/Fuzz/Linked"))
}

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
