import Testing

@testable import Multiprocessing

/// The chunks the scheduler has handed to the pool's only worker, read from its state line
/// ("SpawnPoolWorker-3[ready: true, inFlight: [41, 42], sent: 9]").
private func chunksHeld(_ pool: ProcessPool) throws -> Int {
    let state = pool.core.stateDescription
    let list = try #require(
        state.split(separator: "inFlight: [").dropFirst().first?.split(separator: "]").first,
        "no inFlight list in \(state)")
    return list.split(separator: ",").count
}

@Suite("pipelining: how many chunks a worker holds", .timeLimit(.minutes(2)))
struct PipeliningTests {
    @Test("a worker holds one chunk of 1 MiB buffers at a time, however short the task")
    func largeChunksAreNotQueued() async throws {
        try await withDeadline(60) { () async throws in
            let gate = Gate.make()
            let beacon = Beacon.make()
            defer {
                gate.remove()
                beacon.remove()
            }
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let task = GatedByteCount(gate: gate, beacon: beacon)
                // Quick items first: the scheduler learns that this task is short, and would queue
                // several chunks of it behind a busy worker (4 here without the byte limit; how
                // many depends on the measured time, so only the limit is asserted).
                #expect(try await pool.map(task, Array(repeating: [0], count: 8), chunksize: 1) == Array(repeating: 1, count: 8))

                let size = 1 << 20
                let inputs = (0..<6).map { [UInt8](repeating: $0 == 0 ? 1 : 0, count: size) }
                let call = try pool.mapAsync(task, inputs, chunksize: 1)
                // The first item waits at the gate: whatever else the worker holds now, the
                // scheduler gave it while it was busy.
                await beacon.awaitAnnouncement()
                #expect(try chunksHeld(pool) == 1, "1 MiB buffers: \(pool.core.stateDescription)")
                gate.open()
                #expect(try await call.get() == Array(repeating: size, count: 6))
            }
        }
    }
}
