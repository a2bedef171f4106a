#if MPI
import Multiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The pool across the ranks of an MPI job, run as a user would: `mpiexec -n 3 MPIProbe ...`
/// under the MPI the package was built against.
@Suite("a pool across MPI ranks", .serialized, .timeLimit(.minutes(3)))
struct MPIClusterTests {
    private func run(_ scenario: String, ranks: Int = 3, seconds: Double = 60) async throws -> [String] {
        try await withDeadline(seconds) { () async throws in
            let (lines, status) = try await offCooperativePool { try MPIRun.probe([scenario], ranks: ranks) }
            #expect(status == 0, "launcher status \(status): \(lines)")
            return lines
        }
    }

    @Test("map over 3 ranks gives the right results, run by every worker of ranks 1 and 2")
    func map() async throws {
        let lines = try await run("map")
        #expect(lines.contains("map true processes 4"), "\(lines)")
        let workers = try #require(lines.first { $0.hasPrefix("workers ") })
        for rank in 1...2 {
            #expect(workers.contains("@rank\(rank)"), "\(workers)")
        }
        #expect(MPIRun.leftovers().isEmpty)
    }
}
#endif
