import Multiprocessing
import Testing

/// `maxMemoryPerChild`: a worker over the limit after a chunk is replaced, its results kept.
@Suite("maxMemoryPerChild", .timeLimit(.minutes(2)))
struct MaxMemoryPerChildTests {
    @Test("a task that leaks 20 MiB per item under a 64 MiB limit: every result right, workers replaced, never more than 2 alive")
    func leakingTaskReplacesWorkers() async throws {
        try await withDeadline(60) { () async throws in
            // The probe's children are its pool's workers and nothing else.
            let probe = try ProbeProcess.start(["memory-limit"])
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0, "\(lines)")
            let fields = try #require(lines.first { $0.hasPrefix("memory ") }).split(separator: " ").compactMap { Int($0) }
            try #require(fields.count == 3, "\(lines)")
            #expect(fields[0] == 0, "wrong or missing results: \(lines)")
            // 16 items of 20 MiB: a worker holds three at most under 64 MiB, plus those sent
            // to it before it said it retires.
            #expect(fields[1] >= 3, "workers: \(lines)")
            #expect(fields[2] <= 2, "children alive at once: \(lines)")
        }
    }

    @Test("maxMemoryPerChild and workerLogs' buffer out of range are refused")
    func validation() {
        for bad in [0, -1] {
            let error = #expect(throws: PoolError.self) {
                _ = try ProcessPool(ProcessPool.Configuration(processes: 1, maxMemoryPerChild: bad))
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("maxMemoryPerChild") == true)
        }
        let error = #expect(throws: PoolError.self) {
            _ = try ProcessPool(ProcessPool.Configuration(processes: 1, workerLogs: .parent(bufferedRecords: 0)))
        }
        #expect(error?.code == .invalidArgument)
    }
}
