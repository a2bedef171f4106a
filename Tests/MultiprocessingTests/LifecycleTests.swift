import Multiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("pool life cycle and arguments", .timeLimit(.minutes(2)))
struct LifecycleTests {
    @Test("bad arguments throw invalidArgument at once")
    func badArguments() async throws {
        try await withDeadline { () async throws in
            #expect(throws: PoolError.self) { _ = try ProcessPool(processes: 0) }
            #expect(throws: PoolError.self) { _ = try ProcessPool(processes: -2) }
            #expect(throws: PoolError.self) { _ = try ProcessPool(processes: 1, maxTasksPerChild: 0) }
            let error = #expect(throws: PoolError.self) { _ = try ProcessPool(processes: 0) }
            #expect(error?.code == .invalidArgument)
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                for chunksize in [0, -1] {
                    let mapError = await #expect(throws: PoolError.self) {
                        try await pool.map(Square(), [1], chunksize: chunksize)
                    }
                    #expect(mapError?.code == .invalidArgument)
                    #expect(throws: PoolError.self) { try pool.imap(Square(), [1], chunksize: chunksize) }
                    #expect(throws: PoolError.self) { try pool.imapUnordered(Square(), [1], chunksize: chunksize) }
                }
            }
        }
    }

    @Test("the default size is the number of CPUs available")
    func defaultProcesses() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool()
            #expect(pool.processes == Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
            pool.close()
            try await pool.join()
        }
    }

    @Test("calls after close() throw poolNotRunning; join() waits for the workers")
    func callsAfterClose() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool(processes: 2)
            #expect(try await pool.map(Square(), [1, 2]) == [1, 4])
            let joinEarly = await #expect(throws: PoolError.self) { try await pool.join() }
            #expect(joinEarly?.code == .poolStillRunning)
            pool.close()
            let error = await #expect(throws: PoolError.self) { try await pool.map(Square(), [1]) }
            #expect(error?.code == .poolNotRunning)
            #expect(throws: PoolError.self) { try pool.applyAsync(Square(), 1) }
            #expect(throws: PoolError.self) { try pool.imap(Square(), [1]) }
            try await pool.join()
        }
    }

    @Test("calls after a closed pool's workers exited still throw poolNotRunning")
    func callsAfterJoin() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool(processes: 2)
            #expect(try await pool.map(Square(), [1, 2]) == [1, 4])
            pool.close()
            // The workers exit cleanly once told: the pool wound down, it did not fail.
            try await pool.join()
            let error = await #expect(throws: PoolError.self) { try await pool.map(Square(), [1]) }
            #expect(error?.code == .poolNotRunning, "\(String(describing: error))")
            let applyError = #expect(throws: PoolError.self) { try pool.applyAsync(Square(), 1) }
            #expect(applyError?.code == .poolNotRunning)
            let imapError = #expect(throws: PoolError.self) { try pool.imap(Square(), [1]) }
            #expect(imapError?.code == .poolNotRunning)
        }
    }

    @Test("close() lets submitted work finish before the workers exit")
    func closeFinishesWork() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            let pool = try ProcessPool(processes: 2)
            let job = try pool.mapAsync(GatedEcho(gate: gate, gated: [1]), [0, 1, 2, 3], chunksize: 1)
            pool.close()
            gate.open()
            try await pool.join()
            #expect(try await job.get() == [0, 1, 2, 3])
        }
    }

    @Test("terminate() while tasks run fails them promptly with terminated")
    func terminateWhileRunning() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            let pool = try ProcessPool(processes: 2)
            let job = try pool.mapAsync(GatedEcho(gate: gate, gated: Set(0..<10)), Array(0..<10), chunksize: 1)
            let single = try pool.applyAsync(GatedEcho(gate: gate, gated: [1]), 1)
            pool.terminate()
            let error = await #expect(throws: PoolError.self) { try await job.get() }
            #expect(error?.code == .terminated)
            let singleError = await #expect(throws: PoolError.self) { try await single.get() }
            #expect(singleError?.code == .terminated)
            try await pool.join()
            await #expect(throws: PoolError.self) { try await pool.apply(Square(), 1) }
        }
    }

    @Test("terminate() while an imap is being read ends the reading with terminated")
    func terminateWhileStreaming() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool(processes: 2)
            var seen = 0
            let error = await #expect(throws: PoolError.self) {
                for try await _ in try pool.imap(Square(), 0..<100_000) {
                    seen += 1
                    if seen == 100 { pool.terminate() }
                }
            }
            #expect(error?.code == .terminated)
            #expect(seen >= 100)
            try await pool.join()
        }
    }

    @Test("the scoped form terminates the pool when its body throws")
    func scopedFormTerminatesOnError() async throws {
        struct BodyFailed: Error {}
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            let captured = Recorder<AsyncResult<[Int]>>()
            await #expect(throws: BodyFailed.self) {
                try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                    captured.append(try pool.mapAsync(GatedEcho(gate: gate, gated: [0]), [0]))
                    throw BodyFailed()
                }
            }
            let error = await #expect(throws: PoolError.self) { try await captured.values[0].get() }
            #expect(error?.code == .terminated)
        }
    }

    @Test("the initializer runs once in every worker before its tasks")
    func initializerOncePerWorker() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2, initializer: RecordingInitializer(tag: "ready")) { (pool: ProcessPool) async throws in
                let answers = try await pool.map(WhoAmI(), Array(0..<50), chunksize: 1)
                #expect(answers.allSatisfy { $0.initializerRuns == 1 && $0.initializerTag == "ready" })
            }
        }
    }

    @Test("an initializer that throws fails the pool instead of respawning forever")
    func initializerThrows() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool(processes: 2, initializer: FailingInitializer())
            let error = await #expect(throws: PoolError.self) { try await pool.map(Square(), [1, 2, 3]) }
            #expect(error?.code == .initializerFailed)
            #expect(error?.message.contains("Refused") == true)
            let again = await #expect(throws: PoolError.self) { try await pool.apply(Square(), 1) }
            #expect(again?.code == .initializerFailed)
            try await pool.join()
        }
    }

    @Test("maxTasksPerChild replaces workers after that many chunks")
    func maxTasksPerChild() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2, maxTasksPerChild: 2) { (pool: ProcessPool) async throws in
                let answers = try await pool.map(WhoAmI(), Array(0..<10), chunksize: 1)
                var perWorker: [Int32: Int] = [:]
                for answer in answers { perWorker[answer.pid, default: 0] += 1 }
                #expect(perWorker.values.allSatisfy { $0 <= 2 })
                #expect(perWorker.count >= 5)
                #expect(Set(answers.map(\.name)).count == perWorker.count)
            }
        }
    }

    @Test("a private task type is refused in the caller with its name")
    func privateTaskType() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let error = await #expect(throws: PoolError.self) { try await pool.map(HiddenTask(), [1]) }
                #expect(error?.code == .unsupportedTaskType)
                #expect(error?.message.contains("HiddenTask") == true)
            }
        }
    }

    @Test(
        "a worker that dies mid-task fails that item; the pool replaces it and goes on",
        arguments: [DieOn.Way.exit, .kill, .trap])
    func workerDeath(way: DieOn.Way) async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let error = await #expect(throws: PoolError.self) {
                    try await pool.map(DieOn(fatal: [5], way: way), Array(0..<10), chunksize: 1)
                }
                #expect(error?.code == .workerDied, "\(String(describing: error))")
                #expect(error?.workerName?.hasPrefix("SpawnPoolWorker-") == true)
                switch way {
                case .exit: #expect(error?.exitStatus == .exited(3))
                case .kill: #expect(error?.exitStatus == .signaled(SIGKILL))
                case .trap: #expect(error?.exitStatus == .signaled(SIGILL) || error?.exitStatus == .signaled(SIGTRAP))
                }
                // Every other item still completes.
                var outcomes: [Int: Bool] = [:]
                for try await result in try pool.imap(DieOn(fatal: [3], way: way), 0..<8).results {
                    outcomes[outcomes.count] = (try? result.get()) != nil
                }
                #expect(outcomes.filter { !$0.value }.map(\.key) == [3])
                #expect(try await pool.map(Square(), Array(0..<20)) == (0..<20).map { $0 * $0 })
            }
        }
    }
}

private struct HiddenTask: PoolTask {
    func run(_ x: Int) async throws -> Int { x }
}
