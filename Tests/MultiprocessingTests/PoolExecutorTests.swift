import Multiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The calling thread's name, e.g. "mp-w0-in" for a pool's reader thread.
private func currentThreadName() -> String {
    readProcFile("/proc/thread-self/comm")
}

@Suite("pool.executor", .timeLimit(.minutes(2)))
struct PoolExecutorTests {
    @Test("under the pool's executor, code after an apply runs on the reader thread that read the answer")
    func resumesOnReaderThread() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let (sum, threads) = try await withTaskExecutorPreference(pool.executor) {
                    // An answer that arrives while `apply` still waits actively lets the caller
                    // go on where it is, so how many quick calls run on a cooperative thread
                    // first depends on timing. A slow first call makes the caller suspend: its
                    // resumption is then the reader thread's to run.
                    _ = try await pool.apply(SlowOn(slow: [-1], seconds: 0.05), -1)
                    var sum = 0
                    var threads: [String] = []
                    for i in 0..<200 {
                        sum += try await pool.apply(Square(), i)
                        threads.append(currentThreadName())
                    }
                    return (sum, threads)
                }
                #expect(sum == (0..<200).reduce(0) { $0 + $1 * $1 })
                // Resumed on a reader thread after the slow call, the loop stays on reader threads.
                let isReader = { (name: String) in name.hasPrefix("mp-w") && name.hasSuffix("-in") }
                #expect(threads.allSatisfy(isReader), "ran on \(threads)")
                // Outside the preference, code is back on Swift's own threads.
                _ = try await pool.apply(Square(), 1)
                #expect(!currentThreadName().hasPrefix("mp-w"))
            }
        }
    }

    @Test("map, imap, errors, sleeps and the pool's end all work under the pool's executor")
    func everythingUnderPreference() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool(processes: 2)
            // Everything, the pool's end included, with the pool's executor preferred.
            try await withTaskExecutorPreference(pool.executor) {
                #expect(try await pool.map(Square(), Array(0..<500), chunksize: 7) == (0..<500).map { $0 * $0 })
                var streamed: [Int] = []
                for try await value in try pool.imap(Square(), 0..<300, chunksize: 4) { streamed.append(value) }
                #expect(streamed == (0..<300).map { $0 * $0 })
                await #expect(throws: TaskError.self) { try await pool.apply(FailOn(failing: [3]), 3) }
                // Resumed by a timer, not by a reader: the global executor runs it.
                try await Task.sleep(for: .milliseconds(5))
                #expect(try await pool.apply(Square(), 9) == 81)
                pool.close()
                try await pool.join()
            }
        }
    }

    @Test("a worker death and terminate() resume waiters under the pool's executor")
    func faultsUnderPreference() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool(processes: 2)
            try await withTaskExecutorPreference(pool.executor) {
                let error = await #expect(throws: PoolError.self) { try await pool.apply(DieOn(fatal: [1], way: .kill), 1) }
                #expect(error?.code == .workerDied)
                #expect(try await pool.apply(Square(), 4) == 16)
                let gate = Gate.make()
                defer { gate.remove() }
                let held = try pool.applyAsync(GatedEcho(gate: gate, gated: [1]), 1)
                pool.terminate()
                await #expect(throws: PoolError.self) { try await held.get() }
                try await pool.join()
            }
        }
    }
}
