import MetricsTestKit
import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs `body` on a pool of two that has learnt that `GroupProbe` takes about a millisecond per
/// item (its first call runs the usual way), so that its next calls of enough items run as
/// chunk groups.
private func withTaughtPool(_ body: @escaping @Sendable (ProcessPool) async throws -> Void) async throws {
    try await withDeadline(60) { () async throws in
        try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
            let first = try await pool.map(GroupProbe(milliseconds: 1), Array(0..<8))
            #expect(first.map { $0[0] } == (0..<8).map(Int32.init))
            #expect(pool.core.groupsMade == 0, "an untimed task is handed out the usual way")
            try await body(pool)
        }
    }
}

/// Runs a call of 40 items and checks that every item comes back, in order; returns the pids
/// of the workers that ran them.
@discardableResult
private func expectEveryItem(
    _ pool: ProcessPool, _ task: GroupProbe = GroupProbe(milliseconds: 1),
    sourceLocation: SourceLocation = #_sourceLocation
) async throws -> [Int32] {
    let out = try await pool.map(task, Array(0..<40))
    #expect(out.map { $0[0] } == (0..<40).map(Int32.init), sourceLocation: sourceLocation)
    return out.map { $0[1] }
}

@Suite("chunk groups: workers claim a call's chunks from one shared list", .timeLimit(.minutes(2)))
struct ChunkGroupTests {
    @Test("a map of long items runs as a group, on both workers, with outputs in input order")
    func longItemsRunAsAGroup() async throws {
        try await withTaughtPool { pool in
            for round in 1...3 {
                // 2 ms items: the other worker would have to wait 80 ms for a CPU to miss out.
                let pids = try await expectEveryItem(pool, GroupProbe(milliseconds: 2))
                #expect(Set(pids).count == 2, "round \(round): both workers run items: \(pids)")
                #expect(pool.core.groupsMade == UInt64(round))
            }
            // starmap and mapAsync go the same way.
            let async = try pool.mapAsync(GroupProbe(milliseconds: 1), Array(0..<20))
            #expect(try await async.get().map { $0[0] } == (0..<20).map(Int32.init))
            #expect(pool.core.groupsMade == 4)
        }
    }

    @Test("while a group runs, the gauges count its members busy and its unanswered chunks waiting")
    func gaugesCountAGroup() async throws {
        try await withDeadline(60) { () async throws in
            let metrics = TestMetrics()
            let (busy, queued) = try await ProcessPool.with(processes: 2, metricsFactory: metrics) {
                (pool: ProcessPool) async throws -> ([Double], [Double]) in
                _ = try await pool.map(GroupProbe(milliseconds: 1), Array(0..<8))
                let busyBefore = try metrics.expectGauge("multiprocessing_busy_workers").values.count
                let queuedBefore = try metrics.expectGauge("multiprocessing_queued_chunks").values.count
                try await expectEveryItem(pool, GroupProbe(milliseconds: 2))
                #expect(pool.core.groupsMade == 1)
                return (
                    Array(try metrics.expectGauge("multiprocessing_busy_workers").values.dropFirst(busyBefore)),
                    Array(try metrics.expectGauge("multiprocessing_queued_chunks").values.dropFirst(queuedBefore))
                )
            }
            #expect(busy.contains(2), "busy workers during the group: \(busy)")
            #expect(queued.contains { $0 > 0 }, "queued chunks during the group: \(queued)")
            #expect(busy.last == 0 && queued.last == 0, "after the group: \(busy), \(queued)")
        }
    }

    @Test("short tasks, time limits and calls of one chunk are handed out the usual way")
    func notEveryCallIsAGroup() async throws {
        try await withTaughtPool { pool in
            #expect(try await pool.map(Square(), Array(0..<2000)) == (0..<2000).map { $0 * $0 })
            // The pool's estimate is the wall time its workers measured: on a loaded machine a
            // worker preempted mid-chunk measures Square long, and a call estimated long rightly
            // runs as a group. The estimate is set to a short task's, so that this checks the
            // dispatch and not the machine's load (the threshold: SchedulerDecisionTests.groupable).
            pool.core.state.withLock { $0.itemNanoseconds[ObjectIdentifier(Square.self)] = 200 }
            #expect(try await pool.map(Square(), Array(0..<2000)) == (0..<2000).map { $0 * $0 })
            _ = try await pool.map(GroupProbe(milliseconds: 1), Array(0..<40), timeout: .seconds(30))
            _ = try await pool.map(GroupProbe(milliseconds: 1), Array(0..<40), chunksize: 40)
            _ = try await pool.apply(GroupProbe(milliseconds: 1), 3)
            #expect(pool.core.groupsMade == 0)
        }
    }

    @Test("an item that throws in a group fails the call with its TaskError; the next call runs")
    func itemErrorInAGroup() async throws {
        try await withTaughtPool { pool in
            await #expect(throws: TaskError.self) {
                _ = try await pool.map(GroupProbe(milliseconds: 1, failOn: 29), Array(0..<40))
            }
            do {
                _ = try await pool.map(GroupProbe(milliseconds: 1, failOn: 29), Array(0..<40))
            } catch let error as TaskError {
                #expect("\(error)".contains("refused 29"), "\(error)")
            }
            // The error comes with the failing chunk's answer, perhaps before the group ends;
            // a call made meanwhile waits for the group's workers and runs the usual way.
            #expect(pool.core.groupsMade >= 1)
            try await expectEveryItem(pool)
        }
    }

    @Test("a worker that dies in a group fails the items it held with workerDied; the pool goes on")
    func workerDiesInAGroup() async throws {
        try await withTaughtPool { pool in
            let before = pool.core.groupsMade
            do {
                _ = try await pool.map(GroupProbe(milliseconds: 1, dieOn: 30), Array(0..<40))
                Issue.record("the call succeeded although a worker died")
            } catch let error as PoolError {
                #expect(error.code == .workerDied)
                #expect("\(error)".contains("died before sending the results of"), "\(error)")
                #expect("\(error)".contains("30"), "the lost items include the one it died on: \(error)")
            }
            #expect(pool.core.groupsMade == before + 1)
            // The replacement may still be starting (the call then runs the usual way): either
            // way every item comes back.
            try await expectEveryItem(pool)
        }
    }

    @Test("cancelling a call in a group kills the worker running its item, which ends the group")
    func cancelInAGroup() async throws {
        let gate = Gate.make()
        let beacon = Beacon.make()
        defer {
            gate.remove()
            beacon.remove()
        }
        try await withTaughtPool { pool in
            let task = GroupProbe(milliseconds: 1, holdOn: 0, gate: gate, beacon: beacon)
            let call = Task { try await pool.map(task, Array(0..<40)) }
            await beacon.awaitAnnouncement()
            #expect(pool.core.groupsMade == 1)
            call.cancel()
            await #expect(throws: CancellationError.self) { _ = try await call.value }
            // Nothing opens the gate: left alive, the worker held there would keep the group
            // (and its claim on item 0) forever. The other one answers the next call meanwhile.
            try await expectEveryItem(pool)
            #expect(!pool.core.stateDescription.contains("group:"), "\(pool.core.stateDescription)")
        }
    }

    @Test("terminate() during a group fails the call with terminated and joins")
    func terminateDuringAGroup() async throws {
        let gate = Gate.make()
        let beacon = Beacon.make()
        defer {
            gate.remove()
            beacon.remove()
        }
        try await withDeadline(60) { () async throws in
            let pool = try ProcessPool(processes: 2)
            _ = try await pool.map(GroupProbe(milliseconds: 1), Array(0..<8))
            let call = try pool.mapAsync(GroupProbe(milliseconds: 1, holdOn: 5, gate: gate, beacon: beacon), Array(0..<40))
            await beacon.awaitAnnouncement()
            #expect(pool.core.groupsMade == 1)
            pool.terminate()
            do {
                _ = try await call.get()
                Issue.record("the call succeeded after terminate()")
            } catch let error as PoolError {
                #expect(error.code == .terminated, "\(error)")
            }
            try await pool.join()
        }
    }
}

/// A call that wants nothing: chunks for the group's bookkeeping alone.
private final class NullSink: ChunkSink {
    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {}
    var isFinished: Bool { false }
}

@Suite("chunk groups: claim words")
struct ChunkGroupClaimTests {
    private func chunks(_ count: Int, firstID: UInt64) -> [ChunkWork] {
        let sink = NullSink()
        return (0..<count).map { index in
            ChunkWork(
                chunkID: firstID + UInt64(index), taskType: ObjectIdentifier(NullSink.self), frame: [WireBytes([0])], frameBytes: 1,
                index: index, firstItem: index, itemCount: 1, timeLimit: nil, sink: sink)
        }
    }

    @Test("a chunk goes to the first claimant; the parent withdraws the rest; the next group uses the other half")
    func claims() throws {
        let board = try #require(WakeBoard.make(), "no memfd here")
        let copy = try #require(board.descriptorCopy())
        let worker = try #require(WorkerWakeBoard(descriptor: copy, slot: 3))
        let claimant: UInt32 = 4  // slot 3 + 1

        let group = ChunkGroup(id: 1, chunks: chunks(4, firstID: 100), members: [0, 1], board: board)
        #expect(worker.claim(Int32(group.firstClaim)))
        #expect(!worker.claim(Int32(group.firstClaim)), "a claimed chunk cannot be claimed again")
        #expect(group.isClaimed(0, by: claimant) && !group.isClaimed(1, by: claimant))
        #expect(group.position(of: 102) == 2 && group.position(of: 99) == nil)

        // The claimant dies: what it held is settled as lost; the rest is withdrawn.
        #expect(group.takeClaimed(by: claimant).map(\.chunkID) == [100])
        #expect(group.withdrawUnclaimed().map(\.chunkID) == [101, 102, 103])
        #expect(!worker.claim(Int32(group.firstClaim + 1)), "a withdrawn chunk cannot be claimed")
        #expect(group.isDrained && !group.isOver, "drained, but its members have not passed it")
        let left = [group.leave(0), group.leave(0), group.leave(1)]
        #expect(left == [true, false, true])
        #expect(group.isOver)

        // The next group may start while a member still passes this one: other words.
        let next = ChunkGroup(id: 2, chunks: chunks(2, firstID: 200), members: [0], board: board)
        #expect(next.firstClaim != group.firstClaim)
        #expect(board.claimant(group.firstClaim + 1) == WakeBoard.parentClaimant, "the first group's words are untouched")
        #expect(worker.claim(Int32(next.firstClaim + 1)))
        #expect(next.claimants() == [claimant])
        #expect(next.settle(1) && !next.settle(1))
        #expect(next.abandon().map(\.chunkID) == [200])
        #expect(next.isDrained)
    }
}
