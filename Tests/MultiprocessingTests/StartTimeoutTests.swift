import Multiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A worker that never becomes ready does not hang the calls waiting for it: it is killed over
/// its start-up or initializer time limit, and the pool fails naming the limit.
@Suite("workers that never start", .timeLimit(.minutes(1)))
struct StartTimeoutTests {
    @Test("an initializer that never finishes runs under the pool's taskTimeout; the call fails naming it")
    func stuckInitializerUnderTaskTimeout() async throws {
        try await withDeadline(30) { () async throws in
            let error = await #expect(throws: PoolError.self) {
                try await ProcessPool.with(processes: 1, initializer: StuckInitializer(), taskTimeout: .milliseconds(300)) { pool in
                    try await pool.apply(Square(), 3)
                }
            }
            #expect(error?.code == .initializerFailed)
            #expect(error?.message.contains("StuckInitializer") == true, "\(String(describing: error))")
            #expect(error?.message.contains("time limit of 0.3 seconds") == true, "\(String(describing: error))")
        }
    }

    @Test("without taskTimeout the initializer runs under startTimeout")
    func stuckInitializerUnderStartTimeout() async throws {
        try await withDeadline(30) { () async throws in
            let error = await #expect(throws: PoolError.self) {
                // Long enough that a worker under load still reaches its initializer in time.
                try await ProcessPool.with(processes: 2, initializer: StuckInitializer(), startTimeout: .seconds(1)) { pool in
                    try await pool.map(Square(), Array(0..<10))
                }
            }
            #expect(error?.code == .initializerFailed)
            #expect(error?.message.contains("time limit of 1.0 seconds") == true, "\(String(describing: error))")
        }
    }

    @Test("a worker stuck before it serves (in main's top-level code) fails the pool naming the start-up limit")
    func stuckBeforeServing() async throws {
        let lines = try await withDeadline(30) { () async throws in
            let probe = try ProbeProcess.start(
                executable: ProbeProcess.directory + "/MainSwiftProbe", ["stuck-start"],
                capturing: STDOUT_FILENO)
            return await offCooperativePool { probe.linesUntilExit() }.lines
        }
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.hasPrefix("PoolError.spawnFailed:") == true, "\(lines)")
        #expect(lines.first?.contains("start-up limit of 0.3 seconds") == true, "\(lines)")
    }

    @Test("startTimeout must be positive")
    func invalidStartTimeout() {
        let error = #expect(throws: PoolError.self) { try ProcessPool(processes: 1, startTimeout: .zero) }
        #expect(error?.code == .invalidArgument)
    }
}
