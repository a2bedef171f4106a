import MetricsTestKit
import Multiprocessing
import Testing

/// The pool's swift-metrics, recorded into a `TestMetrics` factory given in the configuration
/// (swift-metrics' bootstrap is once per process; the factory needs none).
@Suite("metrics", .timeLimit(.minutes(2)))
struct MetricsTests {
    /// Collects every `.results` entry of an `imap`, so that no failure stops the call.
    private static func outcomes(_ sequence: IMapSequence<Int>) async throws -> [String] {
        var outcomes: [String] = []
        for try await result in sequence.results {
            switch result {
            case .success(let x): outcomes.append("\(x)")
            case .failure(let error as PoolError): outcomes.append("\(error.code)")
            case .failure: outcomes.append("error")
            }
        }
        return outcomes
    }

    @Test("items done and failed are counted per task type and error kind; each chunk's run time is timed")
    func itemsDoneAndFailed() async throws {
        try await withDeadline(60) { () async throws in
            let metrics = TestMetrics()
            let pool = try ProcessPool(ProcessPool.Configuration(processes: 2, metricsFactory: metrics))
            let outcomes = try await Self.outcomes(pool.imap(FailOn(failing: [3, 5]), 0..<10))
            #expect(outcomes == ["0", "1", "2", "error", "4", "error", "6", "7", "8", "9"])
            _ = try await pool.map(Square(), Array(0..<6), chunksize: 2)
            pool.close()
            try await pool.join()

            let failOn = [("task", "MultiprocessingTests.FailOn")]
            #expect(metrics.counterTotal(label: "multiprocessing_items_done", dimensions: failOn) == 8)
            #expect(
                metrics.counterTotal(
                    label: "multiprocessing_items_failed", dimensions: failOn + [("error", "taskError")]) == 2)
            #expect(try metrics.expectTimer("multiprocessing_chunk_run_time", failOn).values.count == 10)
            let square = [("task", "MultiprocessingTests.Square")]
            #expect(metrics.counterTotal(label: "multiprocessing_items_done", dimensions: square) == 6)
            // Three chunks of two items: one run time per chunk, not per item.
            #expect(try metrics.expectTimer("multiprocessing_chunk_run_time", square).values.count == 3)
            // Once all is done, nothing waits and no worker holds a chunk.
            #expect(try metrics.expectGauge("multiprocessing_queued_chunks").lastValue == 0)
            #expect(try metrics.expectGauge("multiprocessing_busy_workers").lastValue == 0)
            #expect(try metrics.expectGauge("multiprocessing_busy_workers").values.contains { $0 > 0 })
            #expect(metrics.counterTotal(label: "multiprocessing_worker_deaths") == 0)
        }
    }

    @Test("a worker that dies is counted as a death and its replacement; the item it ran fails as workerDied")
    func deathsAndReplacements() async throws {
        try await withDeadline(60) { () async throws in
            let metrics = TestMetrics()
            let pool = try ProcessPool(ProcessPool.Configuration(processes: 2, metricsFactory: metrics))
            let outcomes = try await Self.outcomes(pool.imap(DieOn(fatal: [2], way: .kill), 0..<5))
            #expect(outcomes == ["0", "1", "workerDied", "3", "4"])
            pool.close()
            try await pool.join()

            let dieOn = [("task", "MultiprocessingTests.DieOn")]
            #expect(metrics.counterTotal(label: "multiprocessing_items_done", dimensions: dieOn) == 4)
            #expect(
                metrics.counterTotal(
                    label: "multiprocessing_items_failed", dimensions: dieOn + [("error", "workerDied")]) == 1)
            #expect(metrics.counterTotal(label: "multiprocessing_worker_deaths", dimensions: [("reason", "died")]) == 1)
            #expect(metrics.counterTotal(label: "multiprocessing_worker_replacements") == 1)
        }
    }

    @Test("an item over its time limit counts a time-limit kill, a death for it and a replacement")
    func timeLimitKills() async throws {
        try await withDeadline(60) { () async throws in
            let metrics = TestMetrics()
            var configuration = ProcessPool.Configuration(processes: 2, metricsFactory: metrics)
            configuration.taskTimeout = .milliseconds(300)
            let pool = try ProcessPool(configuration)
            let outcomes = try await Self.outcomes(pool.imap(SlowOn(slow: [1]), 0..<3))
            #expect(outcomes == ["0", "taskTimedOut", "2"])
            pool.close()
            try await pool.join()

            let slowOn = [("task", "MultiprocessingTests.SlowOn")]
            #expect(
                metrics.counterTotal(label: "multiprocessing_time_limit_kills", dimensions: [("limit", "item")] + slowOn) == 1)
            #expect(
                metrics.counterTotal(
                    label: "multiprocessing_items_failed", dimensions: slowOn + [("error", "taskTimedOut")]) == 1)
            #expect(metrics.counterTotal(label: "multiprocessing_worker_deaths", dimensions: [("reason", "timeLimit")]) == 1)
            #expect(metrics.counterTotal(label: "multiprocessing_worker_replacements") == 1)
        }
    }
}
