// swift-tools-version: 6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Meshstep",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "MeshstepWire", targets: ["MeshstepWire"]),
        .library(name: "MeshstepMesh", targets: ["MeshstepMesh"]),
        .library(name: "MeshstepSimulation", targets: ["MeshstepSimulation"]),
        .library(name: "MeshstepLockstep", targets: ["MeshstepLockstep"]),
        .library(name: "MeshstepBots", targets: ["MeshstepBots"]),
        .library(name: "MeshstepResolver", targets: ["MeshstepResolver"]),
        .executable(name: "meshstep", targets: ["meshstep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Versioned binary codec. No dependencies, so the fuzzer can compile it alone.
        .target(name: "MeshstepWire", swiftSettings: strict),
        // Sans-IO mesh protocol: events in, actions out.
        .target(
            name: "MeshstepMesh",
            dependencies: [
                "MeshstepWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Deterministic lockstep building blocks: the game protocol, fixed-point math, seeded
        // game randomness, stable hashing, sync-test mode and replays.
        .target(name: "MeshstepLockstep", dependencies: ["MeshstepWire"], swiftSettings: strict),
        // Headless bot players: the reference game, a bot policy, and bots-over-the-simulator runs.
        .target(
            name: "MeshstepBots",
            dependencies: ["MeshstepLockstep", "MeshstepMesh", "MeshstepSimulation"],
            swiftSettings: strict
        ),
        // Virtual-time network simulator driving the same protocol values.
        .target(
            name: "MeshstepSimulation",
            dependencies: [
                "MeshstepMesh",
                .product(name: "Collections", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // Resolver service: a sans-IO core (service and client values) plus a SwiftNIO UDP server.
        .target(
            name: "MeshstepResolver",
            dependencies: [
                "MeshstepWire",
                "MeshstepMesh",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "meshstep",
            dependencies: [
                "MeshstepSimulation",
                "MeshstepBots",
                "MeshstepResolver",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "meshstep-bench",
            dependencies: [
                "MeshstepMesh",
                "MeshstepSimulation",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/MeshBench",
            swiftSettings: strict
        ),
        .testTarget(name: "MeshstepWireTests", dependencies: ["MeshstepWire"], swiftSettings: strict),
        .testTarget(name: "MeshstepMeshTests", dependencies: ["MeshstepMesh"], swiftSettings: strict),
        .testTarget(name: "MeshstepLockstepTests", dependencies: ["MeshstepLockstep", "MeshstepBots"], swiftSettings: strict),
        .testTarget(name: "MeshstepSimulationTests", dependencies: ["MeshstepSimulation"], swiftSettings: strict),
        .testTarget(
            name: "MeshstepResolverTests",
            dependencies: [
                "MeshstepResolver",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
