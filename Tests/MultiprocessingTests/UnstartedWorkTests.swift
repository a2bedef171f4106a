import Multiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// No item fails that never started: work handed to a worker that was already dead, and had
/// not taken it, runs on another worker.
@Suite("work a dead worker never started", .timeLimit(.minutes(2)))
struct UnstartedWorkTests {
    @Test("a call right after its idle worker was killed runs on the replacement (200 rounds)")
    func killThenCall() async throws {
        try await withDeadline(90) { () async throws in
            try await ProcessPool.with(processes: 1) { pool in
                var failures: [String] = []
                for round in 0..<200 {
                    let idle = try await pool.apply(WhoAmI(), round).pid
                    kill(idle, SIGKILL)
                    // Gone, but the pool may not have seen it yet: the next chunk can be written
                    // to the dead worker's channel.
                    #expect(await offCooperativePool { waitForExit(of: idle, milliseconds: 10_000) })
                    do {
                        let square = try await pool.apply(Square(), round)
                        #expect(square == round * round)
                    } catch {
                        failures.append("round \(round): \(error)")
                    }
                }
                #expect(failures.isEmpty, "\(failures.count) of 200 calls failed; first: \(failures.first ?? "")")
            }
        }
    }
}
