// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]
// Test code is compiled without optimization even in release builds (the code under test keeps
// -O): the test modules build in 67 s instead of 92 s on a 2-core VM, and the heavy work of
// every test runs in the library.
let testSettings: [SwiftSetting] = strict + [.unsafeFlags(["-Onone"])]

let package = Package(
    name: "Meshstep",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "MeshstepWire", targets: ["MeshstepWire"]),
        .library(name: "MeshstepMesh", targets: ["MeshstepMesh"]),
        .library(name: "MeshstepSimulation", targets: ["MeshstepSimulation"]),
        .library(name: "MeshstepLockstep", targets: ["MeshstepLockstep"]),
        .library(name: "MeshstepSession", targets: ["MeshstepSession"]),
        .library(name: "MeshstepBots", targets: ["MeshstepBots"]),
        .library(name: "MeshstepNet", targets: ["MeshstepNet"]),
        .library(name: "MeshstepResolver", targets: ["MeshstepResolver"]),
        .library(name: "MeshstepResolverServer", targets: ["MeshstepResolverServer"]),
        .library(name: "MeshstepAddress", targets: ["MeshstepAddress"]),
        .library(name: "MeshstepNetBots", targets: ["MeshstepNetBots"]),
        .library(name: "MeshstepPrometheus", targets: ["MeshstepPrometheus"]),
        .executable(name: "meshstep", targets: ["meshstep"]),
        .library(name: "MeshstepArena", targets: ["MeshstepArena"]),
        .executable(name: "meshstep-demo", targets: ["meshstep-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
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
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // Deterministic lockstep building blocks: the game protocol, fixed-point math, seeded
        // game randomness, stable hashing, sync-test mode and replays.
        .target(
            name: "MeshstepLockstep",
            dependencies: ["MeshstepWire", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // The sans-IO session endpoint: lobby and roster, frames, repair, input delay, drops,
        // halts and events. The simulator bots and the UDP shell drive this same value.
        .target(name: "MeshstepSession", dependencies: ["MeshstepLockstep", "MeshstepWire", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // Headless bot players over the simulator: bot policies, seeded scenarios, the fault sweep.
        // No NIO: everything runs in virtual time.
        .target(
            name: "MeshstepBots",
            dependencies: ["MeshstepLockstep", "MeshstepSession", "MeshstepArena", "MeshstepMesh", "MeshstepSimulation"],
            swiftSettings: strict
        ),
        // Headless bot players over real UDP sockets (`meshstep bot`, `bots --network udp`).
        .target(
            name: "MeshstepNetBots",
            dependencies: [
                "MeshstepBots", "MeshstepNet", "MeshstepArena", "MeshstepLockstep", "MeshstepMesh", "MeshstepSession", "MeshstepSimulation",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // HOST:PORT parsing and conversions between mesh and SwiftNIO socket addresses.
        .target(
            name: "MeshstepAddress",
            dependencies: ["MeshstepWire", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        // The thin I/O shell: the sans-IO values on real UDP sockets (SwiftNIO), and the
        // thread-safe lockstep handle a game loop uses.
        .target(
            name: "MeshstepNet",
            dependencies: [
                "MeshstepMesh",
                "MeshstepAddress",
                "MeshstepResolver",
                "MeshstepLockstep",
                "MeshstepSession",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Virtual-time network simulator driving the same protocol values (mesh nodes, and
        // optionally a resolver service with a resolver client per node).
        .target(
            name: "MeshstepSimulation",
            dependencies: [
                "MeshstepMesh",
                "MeshstepResolver",
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // Resolver service, sans-IO: the service and client values and their wire format.
        .target(
            name: "MeshstepResolver",
            dependencies: [
                "MeshstepWire",
                "MeshstepMesh",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The resolver service on a SwiftNIO UDP socket (`meshstep resolver`), a ServiceLifecycle service.
        .target(
            name: "MeshstepResolverServer",
            dependencies: [
                "MeshstepResolver",
                "MeshstepAddress",
                "MeshstepMesh",
                "MeshstepWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // GET /metrics over HTTP for Prometheus (swift-prometheus on a SwiftNIO HTTP/1.1 server).
        .target(
            name: "MeshstepPrometheus",
            dependencies: [
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "meshstep",
            dependencies: [
                "MeshstepSimulation",
                "MeshstepBots",
                "MeshstepNetBots",
                "MeshstepArena",
                "MeshstepNet",
                "MeshstepResolver",
                "MeshstepResolverServer",
                "MeshstepPrometheus",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The complete small game of docs/LOCKSTEP.md (built in CI, so the guide compiles).
        .executableTarget(
            name: "meshstep-example",
            dependencies: [
                "MeshstepNet",
                "MeshstepLockstep",
                "MeshstepWire",
            ],
            path: "Examples/TinyGame",
            swiftSettings: strict
        ),
        // The demo game's rules (tanks, shells, rounds) and its bot: no SDL, fully deterministic.
        .target(name: "MeshstepArena", dependencies: ["MeshstepLockstep", "MeshstepWire"], swiftSettings: strict),
        // SDL2 from the system (libsdl2-dev), with a shim for the macros Swift cannot import.
        .systemLibrary(name: "CSDL2", path: "Sources/CSDL2", pkgConfig: "sdl2", providers: [.apt(["libsdl2-dev"])]),
        // The SDL2 demo client: play TankArena against bots, HUD, replays, headless screenshots.
        .executableTarget(
            name: "meshstep-demo",
            dependencies: [
                "CSDL2",
                "MeshstepArena",
                "MeshstepLockstep",
                "MeshstepSession",
                "MeshstepNet",
                "MeshstepAddress",
                "MeshstepMesh",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "MeshstepArenaTests", dependencies: ["MeshstepArena", "MeshstepLockstep"], swiftSettings: testSettings),
        // Runs the built meshstep-demo binary (no SDL dependency in the test itself).
        .testTarget(name: "MeshstepDemoTests", swiftSettings: testSettings),
        .testTarget(name: "MeshstepWireTests", dependencies: ["MeshstepWire"], swiftSettings: testSettings),
        .testTarget(
            name: "MeshstepMeshTests",
            dependencies: ["MeshstepMesh", .product(name: "MetricsTestKit", package: "swift-metrics"), .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "MeshstepLockstepTests", dependencies: ["MeshstepLockstep", "MeshstepSession", "MeshstepBots", "MeshstepArena", "MeshstepWire", "MeshstepMesh", "MeshstepSimulation"],
            swiftSettings: testSettings),
        .testTarget(
            name: "MeshstepNetTests",
            dependencies: ["MeshstepNet", "MeshstepMesh", "MeshstepBots", "MeshstepNetBots", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: testSettings
        ),
        .testTarget(name: "MeshstepSimulationTests", dependencies: ["MeshstepSimulation"], swiftSettings: testSettings),
        .testTarget(
            name: "MeshstepResolverTests",
            dependencies: [
                "MeshstepResolver",
                "MeshstepResolverServer",
                "MeshstepAddress",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: testSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The benchmarks (docs/BENCHMARKS.md): only with MESHSTEP_BENCHMARKS set, so that builds and CI
// neither resolve ordo-one/benchmark nor compile programs no test runs.
//   MESHSTEP_BENCHMARKS=1 swift package --disable-sandbox benchmark --target MeshstepMicro
//   MESHSTEP_BENCHMARKS=1 swift run -c release meshstep-netbench
if Context.environment["MESHSTEP_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets += [
        // Micro-benchmarks of the hot paths (ordo-one/benchmark), with Ed25519 as the baseline.
        .executableTarget(
            name: "MeshstepMicro",
            dependencies: [
                "MeshstepMesh",
                "MeshstepSimulation",
                "MeshstepLockstep",
                "MeshstepBots",
                "MeshstepWire",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/MeshstepMicro",
            swiftSettings: strict,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "meshstep-netbench",
            dependencies: [
                "MeshstepNet",
                "MeshstepMesh",
                "MeshstepLockstep",
                "MeshstepWire",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/NetBench",
            swiftSettings: strict
        ),
    ]
    package.products += [
        .executable(name: "meshstep-netbench", targets: ["meshstep-netbench"]),
    ]
}

// The protocol fuzzer (Fuzz/run-protocol.sh): only with MESHSTEP_FUZZ set, because it links
// libFuzzer's main and is built with -sanitize=fuzzer,address.
if Context.environment["MESHSTEP_FUZZ"] != nil {
    package.targets.append(
        .executableTarget(
            name: "meshstep-protocol-fuzz",
            dependencies: ["MeshstepResolver", "MeshstepSession", "MeshstepLockstep", "MeshstepArena", "MeshstepMesh", "MeshstepWire"],
            path: "Fuzz/Protocol",
            swiftSettings: strict
        ))
    package.products.append(.executable(name: "meshstep-protocol-fuzz", targets: ["meshstep-protocol-fuzz"]))
}
