import Testing

@testable import Multiprocessing

@Suite("join() while a worker is being replaced", .timeLimit(.minutes(1)))
struct JoinDuringReplacementTests {
    @Test("join() called after the only worker died, before its replacement is up, waits for the work")
    func joinWaitsForReplacement() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool(processes: 1)
            // The worker dies on the first call; the second call's items wait for its replacement.
            let dies = try pool.applyAsync(DieOn(fatal: [0], way: .kill), 0)
            let squares = try pool.mapAsync(Square(), [1, 2, 3], chunksize: 1)
            pool.close()
            // The moment between the dead worker's removal and its replacement's registration
            // (the replacement's spawn): join() called then must still wait.
            while !pool.core.state.withLock({ $0.workers.isEmpty }) { await Task.yield() }
            try await pool.join()
            #expect(squares.isReady, "join() returned with a call's items still to run")
            #expect(try await squares.get() == [1, 4, 9])
            let error = await #expect(throws: PoolError.self) { try await dies.get() }
            #expect(error?.code == .workerDied)
        }
    }
}
