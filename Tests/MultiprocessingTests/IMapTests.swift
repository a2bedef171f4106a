import Multiprocessing
import Testing

@Suite("imap, imapUnordered", .timeLimit(.minutes(2)))
struct IMapTests {
    @Test("imap yields outputs in input order", arguments: [1, 3, 64, 10_000])
    func imapOrder(chunksize: Int) async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                var output: [Int] = []
                for try await x in try pool.imap(Square(), 0..<2000, chunksize: chunksize) { output.append(x) }
                #expect(output == (0..<2000).map { $0 * $0 })
            }
        }
    }

    @Test("imap of an empty input ends at once")
    func imapEmpty() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                var count = 0
                for try await _ in try pool.imap(Square(), [Int]()) { count += 1 }
                #expect(count == 0)
            }
        }
    }

    @Test("imap yields the first result while a later task is still running")
    func imapYieldsEarly() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let results = try pool.imap(GatedEcho(gate: gate, gated: [50]), [100, 50])
                var iterator = results.makeAsyncIterator()
                // Item 50 cannot finish until the gate opens, which happens only after this.
                #expect(try await iterator.next() == 100)
                gate.open()
                #expect(try await iterator.next() == 50)
                #expect(try await iterator.next() == nil)
            }
        }
    }

    @Test("imapUnordered yields in completion order")
    func imapUnorderedCompletionOrder() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let results = try pool.imapUnordered(GatedEcho(gate: gate, gated: [1]), [1, 2])
                var iterator = results.makeAsyncIterator()
                #expect(try await iterator.next() == 2)
                gate.open()
                #expect(try await iterator.next() == 1)
                #expect(try await iterator.next() == nil)
            }
        }
    }

    @Test("imapUnordered returns every output once")
    func imapUnorderedAll() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                var output: [Int] = []
                for try await x in try pool.imapUnordered(Square(), 0..<500, chunksize: 7) { output.append(x) }
                #expect(output.sorted() == (0..<500).map { $0 * $0 })
            }
        }
    }

    @Test("imap throws at a failed item; results goes on past it")
    func imapFailures() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                var seen: [Int] = []
                let error = await #expect(throws: TaskError.self) {
                    for try await x in try pool.imap(FailOn(failing: [3]), 0..<6) { seen.append(x) }
                }
                #expect(seen == [0, 1, 2])
                #expect(error?.itemIndex == 3)

                var outcomes: [String] = []
                for try await result in try pool.imap(FailOn(failing: [1, 4]), 0..<6, chunksize: 2).results {
                    switch result {
                    case .success(let x): outcomes.append("\(x)")
                    case .failure(let error as TaskError): outcomes.append("error@\(error.itemIndex)")
                    case .failure(let error): outcomes.append("unexpected \(error)")
                    }
                }
                #expect(outcomes == ["0", "error@1", "2", "3", "error@4", "5"])
            }
        }
    }

    @Test("imap over a long lazy input keeps a bounded window in flight")
    func imapIsLazy() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let pulled = Recorder<Int>()
                let input = (0..<1_000_000).lazy.map { (x: Int) -> Int in
                    pulled.append(x)
                    return x
                }
                var consumed = 0
                for try await x in try pool.imap(Square(), input, chunksize: 4) {
                    #expect(x == consumed * consumed)
                    consumed += 1
                    if consumed == 100 { break }
                }
                // Only a window's worth beyond what was consumed was ever read from the input.
                let window = 2 * 24 * 4
                #expect(pulled.values.count < 100 + window + 8)
            }
        }
    }

    @Test("an imap started before close() runs to its end, even when join() comes before the reading, as in Python")
    func imapThenClose() async throws {
        try await withDeadline { () async throws in
            // Far more chunks than the window a stream keeps submitted (2 x 24).
            let pool = try ProcessPool(processes: 2)
            let readFirst = try pool.imap(Square(), 0..<500)
            let joinFirst = try pool.imapUnordered(Square(), 0..<500)
            pool.close()
            try await pool.join()
            var unordered: [Int] = []
            for try await x in joinFirst { unordered.append(x) }
            #expect(unordered.sorted() == (0..<500).map { $0 * $0 })
            var ordered: [Int] = []
            for try await x in readFirst { ordered.append(x) }
            #expect(ordered == (0..<500).map { $0 * $0 })
            #expect(throws: PoolError.self) { try pool.imap(Square(), [1]) }
        }
    }

    @Test("an imap whose reader stopped early does not run the rest of its input when the pool closes")
    func abandonedImapThenClose() async throws {
        try await withDeadline { () async throws in
            let pool = try ProcessPool(processes: 2)
            let pulled = Recorder<Int>()
            let input = (0..<1_000_000).lazy.map { (x: Int) -> Int in
                pulled.append(x)
                return x
            }
            for try await x in try pool.imap(Square(), input) where x >= 100 { break }
            pool.close()
            try await pool.join()
            #expect(pulled.values.count < 1000)
        }
    }

    @Test(
        "an imap dropped after its first item withdraws its chunks that have not started",
        arguments: [ProcessPool.CancellationPolicy.killRunningTasks, .letRunningTasksFinish])
    func droppedImapWithdrawsWaitingChunks(cancellation: ProcessPool.CancellationPolicy) async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            let log = StartLog.make()
            defer {
                gate.remove()
                log.remove()
            }
            // Letting running items finish, a worker learns that the chunks it holds were withdrawn
            // when it next reads its requests, which it does at most once a millisecond while it
            // runs items; 1 MiB items keep each worker to the one chunk it runs
            // (`PoolCore.queuedBytesPerWorker`), so that every other chunk waits in the pool.
            let padding = cancellation == .letRunningTasksFinish ? 1 << 20 : 0
            let items = (0..<20).map { PaddedItem(index: $0, padding: [UInt8](repeating: 0, count: padding)) }
            try await ProcessPool.with(processes: 2, cancellation: cancellation) { (pool: ProcessPool) async throws in
                let first = try await firstElement(of: pool.imap(LoggedStart(log: log, gate: gate), items))
                #expect(first == 0)
                // Its sequence and iterator are gone: release whatever of it still runs or would run.
                gate.open(count: items.count)
            }
            // The pool is closed and joined, so what was going to run has run: item 0, and at
            // most the one item each worker had started when the stream was dropped.
            let started = log.items()
            #expect(started.contains(0))
            #expect(started.count <= 3, "items started: \(started)")
        }
    }

    @Test("printing the sequence shows an iterator, not results")
    func description() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let results = try pool.imap(Square(), [1, 2])
                #expect("\(results)" == "IMapSequence<Int>(ordered, chunksize: 1)")
                for try await _ in results {}
            }
        }
    }
}

/// The first element of `sequence`, read by an iterator that is gone when this returns.
private func firstElement<S: AsyncSequence>(of sequence: S) async throws -> S.Element? {
    var iterator = sequence.makeAsyncIterator()
    return try await iterator.next()
}
