import Multiprocessing
import Testing

/// A task that closes descriptors must not silently break the worker for the calls after it.
@Suite("a task that closes descriptors", .timeLimit(.minutes(1)))
struct ChannelIsolationTests {
    @Test("closing descriptors 3 and 4, where the channel arrived, leaves the worker working")
    func closingTheLowDescriptors() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { pool in
                let closer = try await pool.apply(CloseDescriptors(from: 3, through: 5), 7)
                #expect(closer == 7)
                // Before, the next innocent call failed: the worker had lost its channel.
                let next = try await pool.apply(Square(), 4)
                #expect(next == 16)
                let mapped = try await pool.map(Square(), Array(0..<20), chunksize: 3)
                #expect(mapped == (0..<20).map { $0 * $0 })
            }
        }
    }

    @Test("closing every descriptor fails that call, naming the cause; the next call runs on a new worker")
    func closingTheChannel() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { pool in
                do {
                    _ = try await pool.apply(CloseDescriptors(from: 3, through: 1023), 1)
                    Issue.record("the call that closed the channel succeeded")
                } catch let error as PoolError {
                    #expect(error.code == .workerDied)
                    #expect(error.message.contains("the task closed the worker's channel"), "\(error)")
                }
                let next = try await pool.apply(Square(), 5)
                #expect(next == 25)
            }
        }
    }
}
