import Multiprocessing
import Testing

@Suite("map, mapAsync, starmap", .timeLimit(.minutes(2)))
struct MapTests {
    @Test("map returns outputs in input order", arguments: [nil, 1, 3, 5000] as [Int?])
    func mapKeepsInputOrder(chunksize: Int?) async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let input = Array(0..<1000)
                let output = try await pool.map(Square(), input, chunksize: chunksize)
                #expect(output == input.map { $0 * $0 })
            }
        }
    }

    @Test("map of an empty input returns an empty array")
    func mapEmpty() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let output = try await pool.map(Square(), [Int]())
                #expect(output.isEmpty)
                let unchunked = try await pool.map(Square(), [Int](), chunksize: 1)
                #expect(unchunked.isEmpty)
            }
        }
    }

    @Test("more items than workers are all processed, by more than one worker")
    func moreItemsThanWorkers() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let answers = try await pool.map(WhoAmI(), Array(0..<40), chunksize: 1)
                #expect(answers.count == 40)
                #expect(answers.allSatisfy { $0.name.hasPrefix("SpawnPoolWorker-") })
                #expect(Set(answers.map(\.pid)).count >= 1)
                #expect(Set(answers.map(\.pid)).count <= 2)
            }
        }
    }

    @Test("values of several Codable shapes survive the round trip")
    func codableValues() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let strings = ["", "a", "日本語", String(repeating: "x", count: 10_000)]
                let stringsBack = try await pool.map(Identity<String>(), strings)
                #expect(stringsBack == strings)
                let optionals: [Int?] = [1, nil, 3]
                let optionalsBack = try await pool.map(Identity<Int?>(), optionals)
                #expect(optionalsBack == optionals)
                let bytes: [[UInt8]] = [[], [1, 2, 3], Array(repeating: 7, count: 100_000)]
                let bytesBack = try await pool.map(Identity<[UInt8]>(), bytes, chunksize: 1)
                #expect(bytesBack == bytes)
                let nested: [[String: [Double]]] = [["a": [1.5, -2]], [:]]
                let nestedBack = try await pool.map(Identity<[String: [Double]]>(), nested)
                #expect(nestedBack == nested)
            }
        }
    }

    @Test("small and large results from one worker come back in order (pipe and socket)")
    func smallAndLargeResultsInOrder() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                // Answers up to 64 KiB come up the worker's pipe, larger ones up its socket,
                // announced in the pipe; one worker sends them all, so their order is tested.
                let sizes = [10, 70_000, 3, 300_000, 0, 65_536, 1, 1 << 20, 2]
                let mapped = try await pool.map(MakeBytes(), sizes, chunksize: 1)
                #expect(mapped.map(\.count) == sizes)
                let chunked = try await pool.map(MakeBytes(), sizes, chunksize: 2)
                #expect(chunked.map(\.count) == sizes)
                // A caller of apply waiting actively reads the announcement and the socket itself.
                for _ in 0..<3 {
                    for size in sizes { #expect(try await pool.apply(MakeBytes(), size).count == size) }
                }
                var streamed: [Int] = []
                for try await bytes in try pool.imap(MakeBytes(), sizes) { streamed.append(bytes.count) }
                #expect(streamed == sizes)
            }
        }
    }

    @Test("an error thrown by a task reaches the caller: type, message, worker, first failed item")
    func taskErrorReachesCaller() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let error = await #expect(throws: TaskError.self) {
                    try await pool.map(FailOn(failing: [7, 3, 12]), Array(0..<20), chunksize: 2)
                }
                #expect(error?.itemIndex == 3)
                #expect(error?.typeName.hasSuffix("TestFailure") == true)
                #expect(error?.errorDescription == "refused 3")
                #expect(error?.workerName.hasPrefix("SpawnPoolWorker-") == true)
                #expect((error?.workerPID ?? 0) > 0)
                // The pool is still usable.
                #expect(try await pool.map(Square(), [2, 3]) == [4, 9])
            }
        }
    }

    @Test("mapAsync returns at once; get() and the handle's state follow the work")
    func mapAsyncHandle() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let job = try pool.mapAsync(GatedEcho(gate: gate, gated: [1]), [0, 1, 2], chunksize: 1)
                #expect(!job.isReady)
                #expect(throws: PoolError.self) { _ = try job.isSuccessful }
                gate.open()
                #expect(try await job.get() == [0, 1, 2])
                #expect(job.isReady)
                #expect(try job.isSuccessful)
                #expect(try await job.get() == [0, 1, 2])  // get() may be called again
            }
        }
    }

    @Test("get(timeout:) throws a timeout error and the work goes on")
    func getTimeoutExpires() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let job = try pool.mapAsync(GatedEcho(gate: gate, gated: [50]), [100, 50])
                let error = await #expect(throws: PoolError.self) {
                    try await job.get(timeout: .milliseconds(200))
                }
                #expect(error?.code == .timeout)
                #expect(await job.wait(timeout: .milliseconds(50)) == false)
                gate.open()
                #expect(try await job.get(timeout: .seconds(30)) == [100, 50])
                await job.wait()
                #expect(job.isReady)
            }
        }
    }

    @Test("success and error callbacks run before get() returns; a throwing callback breaks nothing")
    func callbacks() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let seen = Recorder<String>()
                let ok = try pool.mapAsync(Square(), [1, 2], onSuccess: { seen.append("ok \($0)") })
                #expect(try await ok.get() == [1, 4])
                #expect(seen.values == ["ok [1, 4]"])

                let bad = try pool.mapAsync(FailOn(failing: [1]), [0, 1], onError: { seen.append("error \(type(of: $0))") })
                await #expect(throws: TaskError.self) { try await bad.get() }
                #expect(try bad.isSuccessful == false)
                #expect(seen.values.last == "error TaskError")

                struct CallbackBroke: Error {}
                let throwing = try pool.mapAsync(Square(), [3], onSuccess: { _ in throw CallbackBroke() })
                #expect(try await throwing.get() == [9])
                #expect(try await pool.map(Square(), [4]) == [16])
            }
        }
    }

    @Test("starmap spreads argument tuples over the task's arguments")
    func starmap() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                #expect(try await pool.starmap(Add(), [(1, 2), (3, 4), (10, -10)]) == [3, 7, 0])
                let job = try pool.starmapAsync(Describe(), [("a", 1, true), ("b", 2, false)], chunksize: 1)
                #expect(try await job.get() == ["a-1-true", "b-2-false"])
            }
        }
    }
}
