import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The wake-board counters of the worker that runs it: `[sleeps, missed rings]`.
struct WakeBoardCounters: PoolTask {
    func run(_ x: Int) async throws -> [Int] {
        [WorkerWakeBoard.sleeps.load(ordering: .relaxed), WorkerWakeBoard.missedRings.load(ordering: .relaxed)]
    }
}

/// Waits, 10 s at most, until `condition` holds.
private func waitUntil(_ what: @autoclosure () -> String, _ condition: () -> Bool) async throws {
    let clock = ContinuousClock()
    let limit = clock.now + .seconds(10)
    while !condition() {
        try #require(clock.now < limit, "never: \(what())")
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// Waits until `count` workers of `pool` sleep on its wake board.
private func workersAsleep(_ pool: ProcessPool, _ count: Int) async throws {
    try await waitUntil("\(count) workers asleep on the board: \(String(reflecting: pool))") {
        pool.core.workersAsleepOnBoard >= count
    }
}

@Suite("the wake board idle workers sleep on", .timeLimit(.minutes(2)))
struct WakeBoardTests {
    @Test(
        "every kind of send wakes a worker asleep on the board, none by its timeout",
        .enabled(if: WakeBoard.make() != nil, "this system cannot make a wake board (memfd, mmap); workers wait in poll"))
    func everySendWakes() async throws {
        try await withDeadline(60) { () async throws in
            let pool = try ProcessPool(processes: 2)
            // Chunks for both workers, woken by one ring.
            try await workersAsleep(pool, 2)
            #expect(try await pool.map(Square(), Array(0..<8), chunksize: 1) == (0..<8).map { $0 * $0 })
            // One chunk for one of them.
            try await workersAsleep(pool, 2)
            #expect(try await pool.apply(Square(), 7) == 49)
            // A frame far larger than the socket's buffer: the writer thread sends it in parts,
            // each of which must wake the worker.
            try await workersAsleep(pool, 2)
            let large = [UInt8](repeating: 7, count: 8 << 20)
            #expect(try await pool.apply(Identity<[UInt8]>(), large) == large)
            try await workersAsleep(pool, 2)
            let counters = try await pool.map(WakeBoardCounters(), [0, 1], chunksize: 1)
            #expect(counters.reduce(0) { $0 + $1[0] } >= 4, "the workers slept on the board: \(counters)")
            #expect(counters.allSatisfy { $0[1] == 0 }, "missed rings (sleeps that ended by timeout): \(counters)")
            // The end of the stream wakes them too: join returns.
            try await workersAsleep(pool, 2)
            pool.close()
            try await pool.join()
        }
    }

    @Test(
        "the writer thread rings for each part it sends to a worker asleep on the board",
        .enabled(if: WakeBoard.make() != nil, "this system cannot make a wake board (memfd, mmap); workers wait in poll"))
    func writerThreadRings() async throws {
        let board = try #require(WakeBoard.make())
        let target = try #require(board.takeSlot())
        // The worker's side, in this process: the board mapped a second time.
        let copy = try #require(board.descriptorCopy())
        let worker = try #require(WorkerWakeBoard(descriptor: copy, slot: target.slot))
        // The worker side marks itself asleep before it last looks at its socket: data that
        // came in between ends its sleep before it waits, with no ring needed (one full run in
        // ten here). A side that did wait must have been rung, not ended by its timeout (which
        // counts from before the send: half of it is the bound). A writer thread not run for
        // the whole sleep (a machine loaded far beyond its cores) cannot ring in time: such a
        // round is tried again, and a writer that never rings fails every round.
        let bound = Duration.milliseconds(Int(WorkerWakeBoard.timeoutMilliseconds) / 2)
        var round = (rang: false, waited: Duration.zero)
        for _ in 0..<3 {
            round = try await writerRound(board: board, target: target, worker: worker)
            if round.rang || round.waited < bound { break }
        }
        #expect(round.rang || round.waited < bound, "the sleep ended by its timeout after \(round.waited): the writer thread did not ring")
    }

    /// One round of `writerThreadRings`: the worker side asleep, a send far larger than the
    /// socket holds; whether the board rang for the slot, and how long the sleep took.
    private func writerRound(
        board: WakeBoard, target: WakeTarget, worker: WorkerWakeBoard
    ) async throws -> (rang: Bool, waited: Duration) {
        var ends: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
        let (sending, receiving) = (ends[0], ends[1])
        let channel = OutboundChannel(descriptor: sending, threadName: "test-wake-out", wake: target)
        let ringsBefore = board.ringCount(target)
        let waited = try await withDeadline(30) { () async throws -> Duration in
            async let woke: Void = offCooperativePool { worker.sleep(untilReadable: receiving) }
            try await waitUntil("the worker side asleep on the board") { target.isAsleep }
            // The caller sends the first part and, as asked, does not ring; the writer thread
            // sends the rest, and must ring.
            let sent = ContinuousClock.now
            channel.enqueue([UInt8](repeating: 1, count: 8 << 20))
            _ = channel.flushWithoutWaking()
            await woke
            return ContinuousClock.now - sent
        }
        channel.stop()
        close(sending)
        close(receiving)
        return (board.ringCount(target) != ringsBefore, waited)
    }
}
