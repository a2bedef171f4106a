import Dispatch
import Synchronization
import Testing

@testable import Multiprocessing

@Suite("join() while a worker is being replaced", .timeLimit(.minutes(1)))
struct JoinDuringReplacementTests {
    @Test("join() called after the only worker died, before its replacement is up, waits for the work")
    func joinWaitsForReplacement() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool(processes: 1)
            // The replacement's spawn waits here until the test has called join(), so that join()
            // is called in the moment between the dead worker's removal and its replacement's
            // registration.
            let hookEntered = Mutex(false)
            let release = DispatchSemaphore(value: 0)
            pool.core.beforeReplacementSpawn.withLock { hook in
                hook = {
                    hookEntered.withLock { $0 = true }
                    // Bounded so that a test that failed before releasing it does not hold the
                    // reader thread for ever.
                    _ = release.wait(timeout: .now() + 30)
                }
            }
            // The worker dies on the first call; the second call's items wait for its replacement.
            let dies = try pool.applyAsync(DieOn(fatal: [0], way: .kill), 0)
            let squares = try pool.mapAsync(Square(), [1, 2, 3], chunksize: 1)
            pool.close()
            while !hookEntered.withLock({ $0 }) { await Task.yield() }
            let (workers, starting) = pool.core.state.withLock { ($0.workers.count, $0.replacementsStarting) }
            #expect(workers == 0 && starting == 1, "the pool is not in the moment a replacement is being started")
            let joinReturned = Mutex(false)
            let joining = Task {
                try await pool.join()
                joinReturned.withLock { $0 = true }
            }
            // join() either waits (it registered as a waiter) or returned at once.
            while pool.core.state.withLock({ $0.joinWaiters.isEmpty }) && !joinReturned.withLock({ $0 }) {
                await Task.yield()
            }
            #expect(!joinReturned.withLock { $0 }, "join() returned while a replacement was being started")
            release.signal()
            try await joining.value
            #expect(squares.isReady, "join() returned with a call's items still to run")
            #expect(try await squares.get() == [1, 4, 9])
            let error = await #expect(throws: PoolError.self) { try await dies.get() }
            #expect(error?.code == .workerDied)
        }
    }
}
