import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#endif

/// A task may make a pool of its own: its worker is then a pool parent like any program.
@Suite("pools inside tasks", .timeLimit(.minutes(2)))
struct NestedPoolTests {
    @Test("a task that makes its own pool, whose task makes one too: three levels of workers, the right result")
    func threeLevels() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let answer = try await pool.apply(NestedSquares(depth: 2), 3)
                // 3 → [3, 4] → [3, 4] and [4, 5]: 9 + 16 + 16 + 25.
                #expect(answer.sum == 66)
                // One process per level, each the child of the one above, the first ours.
                #expect(answer.chain.count == 3)
                #expect(answer.chain.first?[1] == getpid())
                for (upper, lower) in zip(answer.chain, answer.chain.dropFirst()) {
                    #expect(lower[1] == upper[0], "\(answer.chain)")
                }
                #expect(Set(answer.chain.map { $0[0] }).count == 3)
            }
        }
    }
}
