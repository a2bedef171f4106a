// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "swift-multiprocessing",
    products: [
        .library(name: "Multiprocessing", targets: ["Multiprocessing"]),
        .executable(name: "multiprocessing-demo", targets: ["MultiprocessingDemo"]),
        .executable(name: "pool-bench", targets: ["PoolBench"]),
        .executable(name: "pool-bench-data", targets: ["PoolBenchData"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // Glibc's Swift module lacks pipe2/prctl/pidfd/wait-status macros; this fills the gaps and
        // holds the load-time hook that diverts worker processes before `main` runs.
        .target(name: "CMultiprocessing"),
        .target(
            name: "Multiprocessing",
            dependencies: [
                "CMultiprocessing",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "MultiprocessingDemo",
            dependencies: [
                "Multiprocessing",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A pool parent for the fault tests that need a process of their own (parent death, soak).
        .executableTarget(
            name: "MultiprocessingProbe",
            dependencies: ["Multiprocessing"]
        ),
        // A program written as top-level code (`main.swift`), for the tests of where workers start.
        .executableTarget(
            name: "MainSwiftProbe",
            dependencies: ["Multiprocessing"]
        ),
        // `swift run -c release pool-bench`: our pool next to CPython's multiprocessing.Pool.
        // Foundation-free on purpose (worker spawn stays fast); see README.md, "Benchmark".
        // PoolBenchData is built with it, not linked into it: pool-bench runs it for `payload-data`.
        .executableTarget(name: "PoolBench", dependencies: ["Multiprocessing", "PoolBenchData"]),
        // `pool-bench-data`: the `payload` workload with Foundation `Data`, in a program of its own
        // because it links Foundation.
        .executableTarget(name: "PoolBenchData", dependencies: ["Multiprocessing"]),
        .testTarget(
            name: "MultiprocessingTests",
            dependencies: [
                "Multiprocessing",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
