// swift-tools-version: 6.1
import PackageDescription

// Supported platforms: Linux with glibc (built and tested on x86-64, Swift 6.3). The library
// uses Linux interfaces (posix_spawn of /proc/self/exe, pidfd, prctl, futex, memfd); other
// systems are not supported yet. What a macOS port would need: the DocC article
// "Performance design", section "Platforms".
let package = Package(
    name: "swift-multiprocessing",
    products: [
        .library(name: "Multiprocessing", targets: ["Multiprocessing"]),
        // The pool as a swift-service-lifecycle `Service`: a product of its own, so that the core
        // does not depend on service-lifecycle (and its async-algorithms).
        .library(name: "MultiprocessingServiceLifecycle", targets: ["MultiprocessingServiceLifecycle"]),
        .executable(name: "multiprocessing-demo", targets: ["MultiprocessingDemo"]),
        .executable(name: "pool-bench", targets: ["PoolBench"]),
        .executable(name: "pool-bench-data", targets: ["PoolBenchData"]),
    ],
    // The pool across machines on MPI (`ProcessPool.with(cluster: .mpi)`), opt-in: without it
    // nothing needs MPI's headers or libraries. Built against pkg-config's `mpi` (Debian: the
    // selected alternative, Open MPI or MPICH).
    traits: [
        .trait(name: "MPI", description: "The cluster backend on MPI: ranks serve chunks through pools of their own.")
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The core's metrics (CoreMetrics) and tracing (Tracing): small, Foundation-free APIs whose
        // default backends do nothing.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // MultiprocessingServiceLifecycle only.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // `swift package generate-documentation --target Multiprocessing` (the DocC catalog in
        // Sources/Multiprocessing/Multiprocessing.docc); a plugin only, not linked into anything.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Glibc's Swift module lacks pipe2/prctl/pidfd/wait-status macros; this fills the gaps and
        // holds the load-time hook that diverts worker processes before `main` runs.
        .target(name: "CMultiprocessing"),
        // MPI's headers and library, through pkg-config; used only with the MPI trait.
        .systemLibrary(name: "CMPI", pkgConfig: "mpi"),
        // The MPI calls the cluster backend makes, with plain C types (MPI's handles differ
        // between implementations and its macros do not import); stubs without the trait.
        .target(
            name: "CMPIShim",
            dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))],
            cSettings: [.define("SWIFT_MULTIPROCESSING_MPI", .when(traits: ["MPI"]))]
        ),
        .target(
            name: "Multiprocessing",
            dependencies: [
                "CMultiprocessing",
                "CMPIShim",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // `ProcessPoolService`: a pool run by a swift-service-lifecycle `ServiceGroup`.
        .target(
            name: "MultiprocessingServiceLifecycle",
            dependencies: [
                "Multiprocessing",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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
        // Also the tracing test's parent: it bootstraps an in-memory tracer in itself and its workers.
        .executableTarget(
            name: "MultiprocessingProbe",
            dependencies: [
                "Multiprocessing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
        // A program written as top-level code (`main.swift`), for the tests of where workers start.
        .executableTarget(
            name: "MainSwiftProbe",
            dependencies: ["Multiprocessing"]
        ),
        // A program the MPI tests run under mpiexec (it only says so without the MPI trait).
        .executableTarget(
            name: "MPIProbe",
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
                "MultiprocessingServiceLifecycle",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)
