import Multiprocessing
import Testing

@Suite("apply, applyAsync", .timeLimit(.minutes(2)))
struct ApplyTests {
    @Test("apply runs one input in a worker")
    func apply() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                #expect(try await pool.apply(Square(), 12) == 144)
                let answer = try await pool.apply(WhoAmI(), 0)
                #expect(answer.name.hasPrefix("SpawnPoolWorker-"))
                #expect(answer.pid != getpidOfThisProcess())
            }
        }
    }

    @Test("apply rethrows the task's error with item index 0")
    func applyError() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let error = await #expect(throws: TaskError.self) { try await pool.apply(FailOn(failing: [5]), 5) }
                #expect(error?.itemIndex == 0)
                #expect(error?.errorDescription == "refused 5")
                // A task with stored properties carries each call's own state.
                #expect(try await pool.apply(FailOn(failing: [6]), 5) == 5)
                await #expect(throws: TaskError.self) { try await pool.apply(FailOn(failing: [5]), 5) }
            }
        }
    }

    @Test("applyAsync calls run concurrently on different workers; callbacks fire")
    func applyAsyncConcurrent() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let seen = Recorder<Int>()
                let blocked = try pool.applyAsync(GatedEcho(gate: gate, gated: [1]), 1, onSuccess: { seen.append($0) })
                // The second worker answers while the first is held by the gate.
                #expect(try await pool.apply(Square(), 5) == 25)
                #expect(!blocked.isReady)
                gate.open()
                #expect(try await blocked.get() == 1)
                #expect(seen.values == [1])
            }
        }
    }
}

import Glibc
func getpidOfThisProcess() -> Int32 { getpid() }
