// The `many-results-1m` and `many-results-10m` workloads (`--workload many-results` names both):
// `map` squaring 1 M or 10 M Ints with default chunks, timed, with the parent's peak resident
// memory growth next to the size of the results array. Each round runs in a fresh process of
// this binary (`pool-bench --many-results-child N ...`), so that memory an earlier workload or
// round left mapped cannot hide the growth.

import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The sizes of the two rows.
let manyResultsSizes: [(name: String, items: Int)] = [
    ("many-results-1m", 1_000_000),
    ("many-results-10m", 10_000_000),
]

let manyResultsWorkloadNames = manyResultsSizes.map(\.name)

let manyResultsWorkloads: [Workload] = manyResultsSizes.map { size in
    Workload(
        name: size.name, unit: "ms", lowerIsBetter: true,
        ours: { setup, _ in try manyResultsRound(setup, items: size.items) }, floor: nil)
}

/// Longest a child's round may take before it is killed.
let manyResultsTimeoutSeconds = 120.0

/// One round: `pool-bench --many-results-child N PROCESSES SCHEDULING` and its JSON line.
nonisolated func manyResultsRound(_ setup: PoolSetup, items: Int) throws -> Measurement {
    let arguments = [
        "/proc/self/exe", "--many-results-child", String(items), String(setup.processes),
        setup.workerScheduling == .batch ? "batch" : "inherit",
    ]
    switch runProcess(arguments, timeoutSeconds: manyResultsTimeoutSeconds) {
    case .failure(let error): throw error
    case .success(let output): return try measurement(printedBy: output, peer: "many-results child").get()
    }
}

/// The child: a warmed pool and the input array first; then the peak is reset to the current
/// resident size (the baseline), the map is timed, and the peak read again while the results are
/// still held. Prints one JSON line and exits.
nonisolated func manyResultsChildMain(_ arguments: [String]) async -> Never {
    guard arguments.count == 3, let items = Int(arguments[0]), let processes = Int(arguments[1]) else {
        log("usage: pool-bench --many-results-child ITEMS PROCESSES inherit|batch")
        exit(2)
    }
    let setup = PoolSetup(processes: processes, workerScheduling: arguments[2] == "batch" ? .batch : .inherit)
    do {
        let measurement = try await withWarmPool(setup) { pool in
            let input = Array(0..<items)
            let peakReset = resetPeakRSS()
            guard let before = MemoryStatus.current() else { throw BenchError("cannot read /proc/self/status") }
            let start = monotonicNanos()
            let output = try await pool.map(Square(), input)
            let elapsed = seconds(since: start)
            guard let after = MemoryStatus.current() else { throw BenchError("cannot read /proc/self/status") }
            try check(output.count == items, "\(output.count) results for \(items) items")
            for index in stride(from: 0, to: items, by: 9973) {
                try check(output[index] == index * index, "result \(index) is \(output[index])")
            }
            try check(output.last == (items - 1) * (items - 1), "the last result is wrong")
            return manyResultsMeasurement(
                items: items, seconds: elapsed, baselineKiB: before.rssKiB, baselinePeakKiB: before.hwmKiB,
                peakKiB: after.hwmKiB, peakReset: peakReset)
        }
        emit(peerLine(workload: "many-results", unit: "ms", measurement))
        exit(0)
    } catch {
        log("pool-bench --many-results-child: \(error)")
        exit(1)
    }
}

/// The figures of one round: time in ms, and the peak growth over the baseline against the
/// results array's size (8 bytes an Int).
func manyResultsMeasurement(
    items: Int, seconds: Double, baselineKiB: Int, baselinePeakKiB: Int, peakKiB: Int, peakReset: Bool
) -> Measurement {
    let mebibyte = 1024.0 * 1024.0
    let growth = Double(peakKiB - baselineKiB) / 1024
    let results = Double(items * MemoryLayout<Int>.stride) / mebibyte
    return Measurement(
        value: seconds * 1e3,
        details: [
            .init(name: "n", value: Double(items)),
            .init(name: "seconds", value: seconds),
            .init(name: "baseline_rss_mib", value: Double(baselineKiB) / 1024),
            .init(name: "baseline_hwm_mib", value: Double(baselinePeakKiB) / 1024),
            .init(name: "hwm_after_mib", value: Double(peakKiB) / 1024),
            .init(name: "peak_growth_mib", value: growth),
            .init(name: "results_mib", value: results),
            .init(name: "growth_over_results", value: growth / results),
            .init(name: "peak_reset", value: peakReset ? 1 : 0),
        ])
}
