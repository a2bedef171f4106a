// The MPI workloads, the ranks' side: `pool-bench --mpi-child WORKLOAD ...`, started by the
// launcher on every rank (see MPIWorkloads.swift). Rank 0 makes the cluster pool, runs the
// workload once, times it and prints one JSON line as the Python peers do; every other rank
// serves chunks through a pool of its own inside `MPICluster.bootstrap` and never gets past it.

import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the parent passes to the ranks.
struct MPIChildSettings: Sendable {
    var workload: String
    var quick = false
    var processesPerRank: Int?
    /// The parent's CLOCK_MONOTONIC reading just before it started the launcher.
    var launchedAt: UInt64?

    static let usage = "usage: pool-bench --mpi-child WORKLOAD [--quick] [--processes-per-rank N] [--launched-at NANOSECONDS]"

    static func parse(_ arguments: [String]) -> MPIChildSettings? {
        guard let workload = arguments.first, mpiWorkloadNames.contains(workload) else { return nil }
        var settings = MPIChildSettings(workload: workload)
        var index = 1
        while index < arguments.count {
            switch arguments[index] {
            case "--quick": settings.quick = true
            case "--processes-per-rank":
                guard index + 1 < arguments.count, let n = Int(arguments[index + 1]), n >= 1 else { return nil }
                settings.processesPerRank = n
                index += 1
            case "--launched-at":
                guard index + 1 < arguments.count, let at = UInt64(arguments[index + 1]) else { return nil }
                settings.launchedAt = at
                index += 1
            default: return nil
            }
            index += 1
        }
        return settings
    }
}

/// The `--mpi-child` program; never returns.
nonisolated func mpiChildMain(_ arguments: [String]) async -> Never {
    let entered = monotonicNanos()
    guard let settings = MPIChildSettings.parse(arguments) else {
        log(MPIChildSettings.usage)
        exit(2)
    }
    #if MPI
    do {
        // Ranks other than 0 serve here until rank 0's program ends, then exit.
        try MPICluster.bootstrap(processesPerRank: settings.processesPerRank)
        let bootstrapped = monotonicNanos()
        let measurement = try await runMPIChildWorkload(settings, entered: entered, bootstrapped: bootstrapped)
        let unit = mpiWorkloadSpecs.first(where: { $0.name == settings.workload })?.unit ?? ""
        emit(peerLine(workload: settings.workload, unit: unit, measurement))
        exit(0)  // atexit: the serving ranks are told to finish, then MPI is finalized
    } catch {
        log("pool-bench --mpi-child \(settings.workload) (rank \(MPICluster.rank)): \(error)")
        exit(1)
    }
    #else
    log("pool-bench --mpi-child \(settings.workload): built without the MPI trait")
    exit(2)
    #endif
}

/// The line a peer prints for the parent (`measurement(printedBy:peer:)` reads it).
func peerLine(workload: String, unit: String, _ measurement: Measurement) -> String {
    let extra = measurement.details.map { "\(jsonString($0.name)): \(jsonNumber($0.value))" }.joined(separator: ", ")
    return "{\"workload\": \(jsonString(workload)), \"value\": \(jsonNumber(measurement.value)), "
        + "\"unit\": \(jsonString(unit)), \"extra\": {\(extra)}}"
}

#if MPI
/// Which process of which rank ran an item, after a little work so that one fast worker cannot
/// take every item (as the Python peers' `worker_pid`).
struct WorkerName: PoolTask {
    func run(_ x: Int) async throws -> String {
        try await Task.sleep(for: .milliseconds(1))
        return CurrentProcess.name
    }
}

/// Rank 0's run of one workload: the figure and its details.
nonisolated func runMPIChildWorkload(
    _ settings: MPIChildSettings, entered: UInt64, bootstrapped: UInt64
) async throws -> Measurement {
    let sizes = Sizes(quick: settings.quick)
    switch settings.workload {
    case "mpi-startup":
        // No warm-up: the first result is the point.
        let launched = settings.launchedAt ?? entered
        func milliseconds(_ at: UInt64) -> Double { Double(at &- launched) / 1e6 }
        let pool = try ProcessPool(cluster: .mpi)
        let poolUp = monotonicNanos()
        let r = try await pool.apply(Identity(), 1)
        let first = monotonicNanos()
        pool.close()
        try await pool.join()
        try check(r == 1, "identity(1) returned \(r)")
        return Measurement(
            value: milliseconds(first),
            details: [
                .init(name: "first_result_ms", value: milliseconds(first)),
                .init(name: "main_ms", value: milliseconds(entered)),
                .init(name: "bootstrap_ms", value: milliseconds(bootstrapped)),
                .init(name: "pool_ms", value: milliseconds(poolUp)),
                .init(name: "task_processes", value: Double(pool.processes)),
                .init(name: "ranks", value: Double(MPICluster.size)),
            ])
    case "mpi-apply":
        return try await ProcessPool.with(cluster: .mpi) { pool in
            let seen = try await warmCluster(pool)
            var m = latencyMeasurement(try await applyRoundTrips(pool, count: sizes.mpiApplyCalls))
            m.details += taskProcesses(pool, seen: seen)
            return m
        }
    case "mpi-map-chunk1", "mpi-map-64":
        let chunksize = settings.workload == "mpi-map-64" ? 64 : 1
        let items = Array(0..<sizes.mpiMapItems)
        let (out, elapsed, processes) = try await ProcessPool.with(cluster: .mpi) { pool in
            let seen = try await warmCluster(pool)
            let start = monotonicNanos()
            let out = try await pool.map(Identity(), items, chunksize: chunksize)
            return (out, seconds(since: start), taskProcesses(pool, seen: seen))
        }
        try check(out == items, "map(chunksize: \(chunksize)) result mismatch")
        return Measurement(
            value: Double(items.count) / elapsed,
            details: [
                .init(name: "n", value: Double(items.count)),
                .init(name: "seconds", value: elapsed),
                .init(name: "us_per_task", value: elapsed / Double(items.count) * 1e6),
                .init(name: "chunksize", value: Double(chunksize)),
            ] + processes)
    default:
        throw BenchError("unknown MPI workload \(settings.workload)")
    }
}

/// Every worker of every serving rank up and answering (at most 10 s), then `warm`'s map and
/// applies; returns how many distinct worker processes answered.
nonisolated func warmCluster(_ pool: ProcessPool) async throws -> Int {
    var seen: Set<String> = []
    let deadline = monotonicNanos() + 10_000_000_000
    while seen.count < pool.processes && monotonicNanos() < deadline {
        seen.formUnion(try await pool.map(WorkerName(), Array(0..<(pool.processes * 8)), chunksize: 1))
    }
    if seen.count < pool.processes {
        log("pool-bench --mpi-child: only \(seen.count) of \(pool.processes) workers answered the warm-up")
    }
    try await warm(pool)
    return seen.count
}

/// The pool's task processes (the serving ranks' workers) and how many of them answered.
func taskProcesses(_ pool: ProcessPool, seen: Int) -> [Measurement.Detail] {
    [
        .init(name: "task_processes", value: Double(pool.processes)),
        .init(name: "task_processes_seen", value: Double(seen)),
        .init(name: "ranks", value: Double(MPICluster.size)),
    ]
}
#endif
