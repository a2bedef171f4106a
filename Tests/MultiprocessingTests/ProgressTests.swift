import Multiprocessing
import Synchronization
import Testing

/// Counts the items an `imap` reads from its input.
final class ReadCounter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .acquiring) }
    func increment() { count.add(1, ordering: .releasing) }
}

/// `0..<count`, counting each item read.
struct CountedNumbers: Sequence, Sendable {
    let count: Int
    let counter: ReadCounter

    func makeIterator() -> AnyIterator<Int> {
        var next = 0
        return AnyIterator {
            guard next < count else { return nil }
            defer { next += 1 }
            counter.increment()
            return next
        }
    }
}

/// Checks a call's snapshots: counts never go down, only the last is finished.
private func expectMonotonic(_ snapshots: [CallProgress], sourceLocation: SourceLocation = #_sourceLocation) {
    for (before, after) in zip(snapshots, snapshots.dropFirst()) {
        #expect(after.done >= before.done && after.failed >= before.failed, "\(before) then \(after)", sourceLocation: sourceLocation)
        #expect(after.elapsed >= before.elapsed, sourceLocation: sourceLocation)
    }
    #expect(snapshots.dropLast().allSatisfy { !$0.isFinished }, sourceLocation: sourceLocation)
    #expect(snapshots.last?.isFinished == true, "\(snapshots)", sourceLocation: sourceLocation)
}

@Suite("progress of mapping calls, and imap's buffersize", .timeLimit(.minutes(2)))
struct ProgressTests {
    @Test("map's progress handler sees every item, in order, and its last call comes before map returns")
    func mapHandler() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let seen = Recorder<CallProgress>()
                let output = try await pool.map(Square(), Array(0..<300), chunksize: 1) { seen.append($0) }
                #expect(output == (0..<300).map { $0 * $0 })
                let snapshots = seen.values
                expectMonotonic(snapshots)
                #expect(snapshots.first?.total == 300)
                let last = try #require(snapshots.last)
                #expect(last.done == 300 && last.failed == 0 && last.fractionCompleted == 1)
            }
        }
    }

    @Test("starmap and a map of no items report too")
    func starmapAndEmpty() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let seen = Recorder<CallProgress>()
                let sums = try await pool.starmap(Add(), [(1, 2), (3, 4), (5, 6)], chunksize: 1) { seen.append($0) }
                #expect(sums == [3, 7, 11])
                expectMonotonic(seen.values)
                #expect(seen.values.last?.done == 3)
                let empty = Recorder<CallProgress>()
                _ = try await pool.map(Square(), [Int]()) { empty.append($0) }
                #expect(empty.values.map(\.completed) == [0])
                #expect(empty.values.first?.isFinished == true && empty.values.first?.total == 0)
            }
        }
    }

    @Test("mapAsync's progress finishes with the call; a late look gets the last snapshot")
    func mapAsyncHandle() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let handle = try pool.mapAsync(Square(), Array(0..<200), chunksize: 3)
                var snapshots: [CallProgress] = []
                for await p in handle.progress { snapshots.append(p) }
                expectMonotonic(snapshots)
                #expect(snapshots.last?.done == 200 && snapshots.last?.total == 200)
                #expect(try await handle.get().count == 200)
                var late: [CallProgress] = []
                for await p in handle.progress { late.append(p) }
                #expect(late == [snapshots.last!])
            }
        }
    }

    @Test("a failed mapAsync ends its progress, with the failed item counted")
    func failedMapAsync() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let handle = try pool.mapAsync(FailOn(failing: [0]), Array(0..<50), chunksize: 1)
                var snapshots: [CallProgress] = []
                for await p in handle.progress { snapshots.append(p) }
                expectMonotonic(snapshots)
                #expect(snapshots.last?.failed == 1)
                await #expect(throws: TaskError.self) { try await handle.get() }
            }
        }
    }

    @Test("imap's progress counts the items that threw, and its total once the input ended")
    func imapFailures() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let outputs = try pool.imapUnordered(FailOn(failing: [3, 17, 30]), 0..<50, chunksize: 2)
                let updates = outputs.progress
                let watcher = Task {
                    var snapshots: [CallProgress] = []
                    for await p in updates { snapshots.append(p) }
                    return snapshots
                }
                var failures = 0
                for try await result in outputs.results {
                    if case .failure = result { failures += 1 }
                }
                #expect(failures == 3)
                let snapshots = await watcher.value
                expectMonotonic(snapshots)
                let last = try #require(snapshots.last)
                #expect(last.done == 47 && last.failed == 3 && last.total == 50)
                #expect(last.done + last.failed == last.total)
            }
        }
    }

    @Test("a cancelled map ends its progress before it throws")
    func cancelledMap() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let (events, progressed) = AsyncStream.makeStream(of: CallProgress.self)
                let seen = Recorder<CallProgress>()
                let call = Task {
                    try await pool.map(GatedEcho(gate: gate, gated: Set(5..<10)), Array(0..<10), chunksize: 1) {
                        seen.append($0)
                        progressed.yield($0)
                    }
                }
                // Items 0..<5 finish; 5 and on wait at the gate.
                for await p in events where p.completed >= 5 { break }
                call.cancel()
                await #expect(throws: CancellationError.self) { try await call.value }
                let snapshots = seen.values
                expectMonotonic(snapshots)
                #expect(try #require(snapshots.last).completed < 10)
            }
        }
    }

    @Test("a terminated pool ends its calls' progress")
    func terminatedPool() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            let pool = try ProcessPool(processes: 2)
            let handle = try pool.mapAsync(GatedEcho(gate: gate, gated: Set(4..<8)), Array(0..<8), chunksize: 1)
            var snapshots: [CallProgress] = []
            for await p in handle.progress {
                snapshots.append(p)
                if p.completed >= 4 && !p.isFinished { pool.terminate() }
            }
            expectMonotonic(snapshots)
            #expect(try #require(snapshots.last).done == 4)
            await #expect(throws: PoolError.self) { try await handle.get() }
            try await pool.join()
        }
    }

    @Test("a dropped imap ends its progress")
    func droppedIMap() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                var outputs: IMapSequence<Int>? = try pool.imap(GatedEcho(gate: gate, gated: [1]), 0..<4)
                let progress = outputs!.progress
                outputs = nil
                var snapshots: [CallProgress] = []
                for await p in progress { snapshots.append(p) }
                expectMonotonic(snapshots)
                #expect(snapshots.last!.completed < 4)
            }
        }
    }

    @Test("imap's buffersize bounds how far it reads its input ahead of the consumer", arguments: [true, false])
    func buffersizeBoundsReadAhead(ordered: Bool) async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let (chunksize, buffersize) = (2, 3)
                let counter = ReadCounter()
                let input = CountedNumbers(count: 200, counter: counter)
                let outputs =
                    ordered
                    ? try pool.imap(Square(), input, chunksize: chunksize, buffersize: buffersize)
                    : try pool.imapUnordered(Square(), input, chunksize: chunksize, buffersize: buffersize)
                #expect(counter.value == chunksize * buffersize)
                var yielded = 0
                for try await _ in outputs {
                    yielded += 1
                    // The chunk in hand, and at most `buffersize` more.
                    let chunksTaken = (yielded + chunksize - 1) / chunksize
                    #expect(counter.value <= (chunksTaken + buffersize) * chunksize, "\(counter.value) read at \(yielded)")
                }
                #expect(yielded == 200)

                let defaultCounter = ReadCounter()
                let unbounded = try pool.imap(Square(), CountedNumbers(count: 200, counter: defaultCounter), chunksize: chunksize)
                #expect(defaultCounter.value > chunksize * buffersize, "the default window reads further ahead")
                for try await _ in unbounded {}
            }
        }
    }

    @Test("a buffersize below 1 is refused", arguments: [0, -3])
    func badBuffersize(buffersize: Int) async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let error = #expect(throws: PoolError.self) { try pool.imap(Square(), [1, 2], buffersize: buffersize) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.contains("buffersize must be at least 1") == true, "\(String(describing: error))")
            }
        }
    }
}
