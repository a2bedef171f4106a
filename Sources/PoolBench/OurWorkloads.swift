import Multiprocessing

// Our pool's side of each workload: one run, one figure, as the Python peer does it. Every
// function is nonisolated, so its awaits do not hop to the main actor, except the loops that
// take their caller's isolation (the same code times the nonisolated and the main-actor loop)
// and the `@MainActor` ones of the main-actor workloads. Pool creation and warm-up stay
// outside the timed section except in `startup`, whose point is to time them.

/// A figure from one run plus named details (means, RSS, serial times ...).
struct Measurement: Sendable {
    var value: Double
    var details: [Detail] = []

    struct Detail: Sendable {
        let name: String
        let value: Double
    }

    func detail(_ name: String) -> Double? { details.first(where: { $0.name == name })?.value }

    /// MB/s of `buffers` buffers of `bytesEach` bytes that each went to a task and came back
    /// (counted twice), in `seconds`: how `payload` and `shared-payload` are measured.
    static func payloadThroughput(buffers: Int, bytesEach: Int, seconds: Double) -> Measurement {
        let moved = 2 * buffers * bytesEach
        return Measurement(
            value: Double(moved) / seconds / 1e6,
            details: [
                .init(name: "buffers", value: Double(buffers)),
                .init(name: "bytes_moved", value: Double(moved)),
                .init(name: "seconds", value: seconds),
            ])
    }
}

/// Sizes of a run; `quick` shrinks them about 5x (the Python peer's `--quick` uses the same sizes).
struct Sizes: Sendable {
    let quick: Bool
    var applyCalls: Int { quick ? 1_000 : 5_000 }
    var mapChunk1Items: Int { quick ? 4_000 : 20_000 }
    var mapDefaultItems: Int { quick ? 20_000 : 100_000 }
    var imapItems: Int { quick ? 40_000 : 200_000 }
    var payloadBuffers: Int { quick ? 16 : 64 }
    var payloadBytes: Int { 1 << 20 }
    var cpuItems: Int { quick ? 16 : 64 }
    var cpuLimit: Int { 30_000 }
    var floorPingPongs: Int { quick ? 1_000 : 5_000 }
    var floorStreamBytes: Int { quick ? 16 << 20 : 64 << 20 }
}

/// How `pool-bench` makes each pool of ours.
struct PoolSetup: Sendable {
    let processes: Int
    let workerScheduling: ProcessPool.WorkerScheduling
    /// How the MPI workloads start their jobs (the local workloads ignore it).
    var mpi = MPISettings()

    func makePool() throws -> ProcessPool {
        try ProcessPool(processes: processes, workerScheduling: workerScheduling)
    }
}

/// Every worker up and the task types looked up, as the Python peer's `warm()`: a chunksize-1
/// map over 8 items per worker, then 5 applies.
nonisolated func warm(_ pool: ProcessPool) async throws {
    let items = Array(0..<(pool.processes * 8))
    let out = try await pool.map(Identity(), items, chunksize: 1)
    try check(out == items, "warm-up map returned wrong values")
    for i in 0..<5 {
        let r = try await pool.apply(Identity(), i)
        try check(r == i, "warm-up apply returned \(r), expected \(i)")
    }
}

/// Runs `body` on a started and warmed pool; the pool is closed and joined afterwards, outside
/// whatever `body` times.
nonisolated func withWarmPool<R: Sendable>(
    _ setup: PoolSetup, workerLogs: ProcessPool.WorkerLogs = .standardError, _ body: (ProcessPool) async throws -> R
) async throws -> R {
    try await ProcessPool.with(processes: setup.processes, workerScheduling: setup.workerScheduling, workerLogs: workerLogs) {
        pool in
        try await warm(pool)
        return try await body(pool)
    }
}

/// 1. Pool creation, one `apply` of the identity, `close` + `join`: the whole life of a pool.
nonisolated func oursStartup(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    let start = monotonicNanos()
    let pool = try setup.makePool()
    let r = try await pool.apply(Identity(), 1)
    pool.close()
    try await pool.join()
    let elapsed = seconds(since: start)
    try check(r == 1, "identity(1) returned \(r)")
    return Measurement(value: elapsed * 1e3)
}

/// 2. Sequential `apply` round trips on a warmed pool: p50 (and mean) in microseconds.
nonisolated func oursApplyLatency(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    let samples = try await withWarmPool(setup) { pool in
        try await applyRoundTrips(pool, count: sizes.applyCalls)
    }
    return latencyMeasurement(samples)
}

/// 2b. The same loop with the pool's executor preferred: the thread that reads an answer runs
/// the caller on to its next `apply`.
nonisolated func oursApplyLatencyOnPoolExecutor(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    let samples = try await withWarmPool(setup) { pool in
        try await withTaskExecutorPreference(pool.executor) {
            try await applyRoundTrips(pool, count: sizes.applyCalls)
        }
    }
    return latencyMeasurement(samples)
}

/// 2c. `apply-latency`'s loop called from the main actor, with the same loop nonisolated on the
/// same pool just before it: the figure is the main actor's p50, the details compare the two.
nonisolated func oursApplyLatencyOnMainActor(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    let (elsewhere, onMain) = try await withWarmPool(setup) { pool in
        let elsewhere = try await applyRoundTrips(pool, count: sizes.applyCalls)
        let onMain = try await applyRoundTripsOnMainActor(pool, count: sizes.applyCalls)
        return (elsewhere, onMain)
    }
    var measurement = latencyMeasurement(onMain)
    let nonisolatedP50 = median(elsewhere)! * 1e6
    measurement.details += [
        .init(name: "nonisolated_p50_us", value: nonisolatedP50),
        .init(name: "nonisolated_mean_us", value: mean(elsewhere)! * 1e6),
        .init(name: "main_over_nonisolated", value: measurement.value / nonisolatedP50),
    ]
    return measurement
}

/// The round trips of `applyRoundTrips`, on the main actor: each `await` there starts and
/// resumes on the main thread's executor, as in a program's top-level code.
@MainActor
func applyRoundTripsOnMainActor(_ pool: ProcessPool, count n: Int) async throws -> [Double] {
    MainActor.preconditionIsolated("the main-actor workload must run on the main actor")
    return try await applyRoundTrips(pool, count: n)
}

/// Sequential `apply` of the identity, timed one by one, on the caller's actor if it has one.
func applyRoundTrips(
    _ pool: ProcessPool, count n: Int,
    isolation: isolated (any Actor)? = #isolation
) async throws -> [Double] {
    var samples: [Double] = []
    samples.reserveCapacity(n)
    for i in 0..<n {
        let start = monotonicNanos()
        let r = try await pool.apply(Identity(), i)
        samples.append(seconds(since: start))
        try check(r == i, "apply returned \(r), expected \(i)")
    }
    return samples
}

func latencyMeasurement(_ samples: [Double]) -> Measurement {
    let n = samples.count
    let p50 = median(samples)! * 1e6
    return Measurement(
        value: p50,
        details: [
            .init(name: "p50_us", value: p50),
            .init(name: "mean_us", value: mean(samples)! * 1e6),
            .init(name: "n", value: Double(n)),
        ])
}

/// 3. `map` of the identity, chunksize 1: every item is its own message.
nonisolated func oursMapChunk1(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    try await timedMap(setup, count: sizes.mapChunk1Items, chunksize: 1)
}

/// 3b. `map-chunk1` with worker logs sent to the parent (`workerLogs = .parent`), the
/// identity logging nothing: what forwarding costs a pool whose tasks do not log.
nonisolated func oursMapChunk1ParentLogs(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    try await timedMap(setup, count: sizes.mapChunk1Items, chunksize: 1, workerLogs: .parent)
}

/// 4. `map` of the identity with the default (Python's) chunking.
nonisolated func oursMapDefault(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    try await timedMap(setup, count: sizes.mapDefaultItems, chunksize: nil)
}

nonisolated func timedMap(
    _ setup: PoolSetup, count: Int, chunksize: Int?, workerLogs: ProcessPool.WorkerLogs = .standardError
) async throws -> Measurement {
    let items = Array(0..<count)
    let (out, elapsed) = try await withWarmPool(setup, workerLogs: workerLogs) { pool in
        let start = monotonicNanos()
        let out = try await pool.map(Identity(), items, chunksize: chunksize)
        return (out, seconds(since: start))
    }
    try check(out == items, "map(chunksize: \(chunksize.map(String.init) ?? "default")) result mismatch")
    return Measurement(
        value: Double(count) / elapsed,
        details: [
            .init(name: "n", value: Double(count)),
            .init(name: "seconds", value: elapsed),
        ])
}

/// 5. `imap` squaring, chunksize 64, consumed one at a time; the parent's RSS before and after.
nonisolated func oursIMapStream(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    let n = sizes.imapItems
    var expected = 0
    for i in 0..<n { expected += i * i }
    return try await withWarmPool(setup) { pool in
        let peakReset = resetPeakRSS()
        let before = MemoryStatus.current()
        var total = 0
        var count = 0
        let start = monotonicNanos()
        for try await x in try pool.imap(Square(), 0..<n, chunksize: 64) {
            total &+= x
            count += 1
        }
        let elapsed = seconds(since: start)
        let after = MemoryStatus.current()
        try check(count == n, "imap yielded \(count) items, expected \(n)")
        try check(total == expected, "imap sum of squares mismatch")
        var details: [Measurement.Detail] = [
            .init(name: "n", value: Double(n)),
            .init(name: "seconds", value: elapsed),
            .init(name: "peak_reset", value: peakReset ? 1 : 0),
        ]
        if let before, let after {
            details += [
                .init(name: "rss_before_mib", value: Double(before.rssKiB) / 1024),
                .init(name: "hwm_before_mib", value: Double(before.hwmKiB) / 1024),
                .init(name: "rss_after_mib", value: Double(after.rssKiB) / 1024),
                .init(name: "hwm_after_mib", value: Double(after.hwmKiB) / 1024),
                .init(name: "peak_growth_mib", value: Double(after.hwmKiB - before.rssKiB) / 1024),
            ]
        }
        return Measurement(value: Double(n) / elapsed, details: details)
    }
}

/// 5b. `imap-stream`'s loop consumed on the main actor, with the same loop nonisolated on the
/// same pool just before it: the figure is the main actor's rate, the details compare the two.
nonisolated func oursIMapMainActor(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    let n = sizes.imapItems
    let (elsewhere, onMain) = try await withWarmPool(setup) { pool in
        let elsewhere = try await timedIMapSquares(pool, count: n)
        let onMain = try await timedIMapSquaresOnMainActor(pool, count: n)
        return (elsewhere, onMain)
    }
    return Measurement(
        value: Double(n) / onMain,
        details: [
            .init(name: "n", value: Double(n)),
            .init(name: "seconds", value: onMain),
            .init(name: "nonisolated_seconds", value: elsewhere),
            .init(name: "nonisolated_tasks_per_s", value: Double(n) / elsewhere),
            .init(name: "main_over_nonisolated", value: onMain / elsewhere),
        ])
}

/// `timedIMapSquares` on the main actor: the loop's `for try await` takes each item there.
@MainActor
func timedIMapSquaresOnMainActor(_ pool: ProcessPool, count n: Int) async throws -> Double {
    MainActor.preconditionIsolated("the main-actor workload must run on the main actor")
    return try await timedIMapSquares(pool, count: n)
}

/// `imap` squaring `0..<n`, chunksize 64, consumed one by one on the caller's actor if it has
/// one; checks the sum and returns the seconds taken.
func timedIMapSquares(
    _ pool: ProcessPool, count n: Int,
    isolation: isolated (any Actor)? = #isolation
) async throws -> Double {
    var expected = 0
    for i in 0..<n { expected &+= i * i }
    var total = 0
    var count = 0
    let start = monotonicNanos()
    for try await x in try pool.imap(Square(), 0..<n, chunksize: 64) {
        total &+= x
        count += 1
    }
    let elapsed = seconds(since: start)
    try check(count == n, "imap yielded \(count) items, expected \(n)")
    try check(total == expected, "imap sum of squares mismatch")
    return elapsed
}

/// 6. `map` of the identity over 1 MiB byte buffers, chunksize 1: MB/s in + out (1 MB = 1e6 B).
nonisolated func oursPayload(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    let count = sizes.payloadBuffers
    let size = sizes.payloadBytes
    let buffers = (0..<count).map { i in [UInt8](repeating: UInt8(truncatingIfNeeded: i &* 37 &+ 1), count: size) }
    let (out, elapsed) = try await withWarmPool(setup) { pool in
        let start = monotonicNanos()
        let out = try await pool.map(EchoBytes(), buffers, chunksize: 1)
        return (out, seconds(since: start))
    }
    try check(out.count == count, "got \(out.count) buffers, expected \(count)")
    for (i, buffer) in out.enumerated() {
        let fill = UInt8(truncatingIfNeeded: i &* 37 &+ 1)
        try check(
            buffer.count == size && buffer.first == fill && buffer.last == fill && buffer[size / 2] == fill,
            "buffer \(i) came back changed")
    }
    return .payloadThroughput(buffers: count, bytesEach: size, seconds: elapsed)
}

/// 6b. `payload`'s buffers as 1 MiB slices of one shared array, each incremented in place by a
/// task: no byte is copied. MB/s counted as `payload` counts them (each buffer in and out), so the
/// two rows compare what a user gets.
nonisolated func oursSharedPayload(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    let count = sizes.payloadBuffers
    let size = sizes.payloadBytes
    let array = try SharedArray<UInt8>(count: count * size)
    // Filled before the pool (as `payload` makes its buffers before): every page is in memory.
    try array.withUnsafeMutableBufferPointer { bytes in
        for i in 0..<count {
            let fill = UInt8(truncatingIfNeeded: i &* 37 &+ 1)
            UnsafeMutableBufferPointer(rebasing: bytes[(i * size)..<((i + 1) * size)]).update(repeating: fill)
        }
    }
    let (out, elapsed) = try await withWarmPool(setup) { pool in
        let start = monotonicNanos()
        let out = try await pool.map(AddOneInPlace(), array.slices(of: size), chunksize: 1)
        return (out, seconds(since: start))
    }
    try check(out == [Int](repeating: size, count: count), "wrong slice counts")
    for i in 0..<count {
        let fill = UInt8(truncatingIfNeeded: i &* 37 &+ 2)
        try check(
            array[i * size] == fill && array[(i + 1) * size - 1] == fill && array[i * size + size / 2] == fill,
            "slice \(i) was not incremented once")
    }
    return .payloadThroughput(buffers: count, bytesEach: size, seconds: elapsed)
}

/// 7. Primes below 30 000 on each of 64 items: the pool's speedup over a serial loop in this
/// process, next to a 2-way `TaskGroup` in this process.
nonisolated func oursCPUBound(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    let inputs = [Int](repeating: opaque(sizes.cpuLimit), count: sizes.cpuItems)
    // A Swift run takes ~40-80 ms, so one stolen vCPU slice on a shared VM moves it by 10% or
    // more: each round times serial, TaskGroup and pool three times, interleaved, and keeps each
    // one's fastest (noise only ever adds time). Python's runs take seconds and are timed once.
    var serialSeconds = Double.infinity
    var groupSeconds = Double.infinity
    var poolSeconds = Double.infinity
    var serial: [Int] = []
    var grouped: [Int] = []
    var parallel: [Int] = []
    try await withWarmPool(setup) { pool in
        // As in a pool in use: the pool hands out a task's chunks by its measured time, which
        // the first call of the task learns (it runs chunk by chunk, not as a chunk group).
        _ = try await pool.map(CountPrimes(), Array(inputs.prefix(2 * setup.processes)), chunksize: 1)
        for _ in 0..<3 {
            var start = monotonicNanos()
            serial = []
            for n in inputs { serial.append(countPrimes(below: n)) }
            serialSeconds = min(serialSeconds, seconds(since: start))

            start = monotonicNanos()
            grouped = await taskGroupCounts(inputs, width: setup.processes)
            groupSeconds = min(groupSeconds, seconds(since: start))

            start = monotonicNanos()
            parallel = try await pool.map(CountPrimes(), inputs)
            poolSeconds = min(poolSeconds, seconds(since: start))
        }
    }
    try check(serial == parallel && serial == grouped, "serial, TaskGroup and pool results differ")
    try check(
        serial.allSatisfy { $0 == primesBelow30000 },
        "count_primes(\(sizes.cpuLimit)) = \(serial.first ?? -1), expected \(primesBelow30000)")
    return Measurement(
        value: serialSeconds / poolSeconds,
        details: [
            .init(name: "serial_s", value: serialSeconds),
            .init(name: "pool_s", value: poolSeconds),
            .init(name: "taskgroup_s", value: groupSeconds),
            .init(name: "taskgroup_speedup", value: serialSeconds / groupSeconds),
            .init(name: "items", value: Double(inputs.count)),
            .init(name: "count", value: Double(serial.first ?? -1)),
        ])
}

/// The same items in this process, at most `width` at a time, in a task group.
nonisolated func taskGroupCounts(_ inputs: [Int], width: Int) async -> [Int] {
    await withTaskGroup(of: (Int, Int).self) { group in
        var results = [Int](repeating: -1, count: inputs.count)
        var next = 0
        while next < min(width, inputs.count) {
            let index = next
            group.addTask { (index, countPrimes(below: inputs[index])) }
            next += 1
        }
        while let (index, count) = await group.next() {
            results[index] = count
            if next < inputs.count {
                let index = next
                group.addTask { (index, countPrimes(below: inputs[index])) }
                next += 1
            }
        }
        return results
    }
}
