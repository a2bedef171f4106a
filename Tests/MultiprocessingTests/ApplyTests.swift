import Glibc
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

    @Test("a loop of quick apply calls, a slow one among them, and concurrent ones all get their own answers")
    func quickAndSlowApplies() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                // Quick calls: the caller waits for them without suspending (AnswerSpin).
                for i in 0..<300 { #expect(try await pool.apply(Square(), i) == i * i) }
                // One far longer than the wait: the caller suspends and is resumed as usual.
                #expect(try await pool.apply(SlowOn(slow: [7], seconds: 0.05), 7) == 7)
                for i in 0..<300 { #expect(try await pool.apply(Square(), i) == i * i) }
                // A result large enough to travel as an attachment: the waiting caller leaves it to
                // the reader thread, which it wakes.
                #expect(try await pool.apply(MakeBytes(), 300_000).count == 300_000)
                #expect(try await pool.apply(Square(), 9) == 81)
                // Several callers at once: one of them may wait actively, the others suspend.
                let sums = try await withThrowingTaskGroup(of: Int.self) { group in
                    for caller in 0..<8 {
                        group.addTask {
                            var sum = 0
                            for i in 0..<50 { sum += try await pool.apply(Square(), caller * 100 + i) }
                            return sum
                        }
                    }
                    return try await group.reduce(0, +)
                }
                var expected = 0
                for caller in 0..<8 {
                    for i in 0..<50 { expected += (caller * 100 + i) * (caller * 100 + i) }
                }
                #expect(sums == expected)
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

func getpidOfThisProcess() -> Int32 { getpid() }
