import Multiprocessing
import Testing

/// A task's `Codable` error reaches the caller as its own type, as Python re-raises the
/// original exception class; any other error as a ``TaskError``.
@Suite("task errors keep their type", .timeLimit(.minutes(1)))
struct ErrorTypeTests {
    @Test("apply, map, mapAsync and imap throw the task's Codable error as itself")
    func codableErrorsComeBackAsThemselves() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 2) { pool in
                do {
                    _ = try await pool.apply(ParseOdd(), 3)
                    Issue.record("apply did not throw")
                } catch let error as ParseError {
                    #expect(error == .badDigit(51, line: 3))
                }
                do {
                    _ = try await pool.map(ParseOdd(), [2, 4, 7, 9], chunksize: 2)
                    Issue.record("map did not throw")
                } catch let error as ParseError {
                    #expect(error == .badDigit(55, line: 7), "the first failed item in input order")
                }
                let job = try pool.mapAsync(ParseOdd(), [1, 2])
                await #expect(throws: ParseError.badDigit(49, line: 1)) { try await job.get() }
                var outcomes: [Result<Int, ParseError>] = []
                for try await result in try pool.imap(ParseOdd(), [0, 5, 6], chunksize: 3).results {
                    outcomes.append(result.mapError { $0 as! ParseError })
                }
                #expect(outcomes == [.success(0), .failure(.badDigit(53, line: 5)), .success(6)])
            }
        }
    }

    @Test("an error type can learn where it was thrown from its decoder's userInfo")
    func origin() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { pool in
                do {
                    _ = try await pool.map(ParseOdd(), [0, 2, 104], chunksize: 3)
                    Issue.record("map did not throw")
                } catch let error as LocatedError {
                    #expect(error.reason == "too big: 104")
                    let origin = try #require(error.origin)
                    #expect(origin.itemIndex == 2)
                    #expect(origin.workerName.hasPrefix("SpawnPoolWorker-"))
                    #expect(origin.workerPID > 0)
                }
            }
        }
    }

    @Test("errors that are not Codable, or whose type cannot be found by name, come as TaskError")
    func otherErrors() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { pool in
                let plain = await #expect(throws: TaskError.self) { try await pool.apply(FailOn(failing: [4]), 4) }
                #expect(plain?.typeName.hasSuffix("TestFailure") == true)
                #expect(plain?.origin.itemIndex == 0)
                let hidden = await #expect(throws: TaskError.self) { try await pool.apply(ThrowPrivateError(), 9) }
                #expect(hidden?.typeName.contains("Hidden") == true)
                #expect(hidden?.errorDescription.contains("9") == true)
            }
        }
    }
}
