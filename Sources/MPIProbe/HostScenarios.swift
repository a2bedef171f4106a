import Multiprocessing

#if canImport(Glibc)
import Glibc
#endif

/// Scenarios of the tests that run ranks on several emulated hosts (see
/// `Tests/MultiprocessingTests/MPI/`).
enum HostScenarios {
    /// Runs `name` if it is one of these; false if it is not.
    static func run(_ name: String) async throws -> Bool {
        #if MPI
        let arguments = Array(CommandLine.arguments.dropFirst(2))
        switch name {
        case "hold-on-rank":
            // hold-on-rank RANK [end-job|fail-its-items]
            guard let rank = arguments.first.flatMap({ Int($0) }) else {
                print("usage: hold-on-rank RANK [end-job|fail-its-items]")
                return true
            }
            try await holdOnRank(rank, failItsItems: arguments.dropFirst().first == "fail-its-items")
            return true
        default: return false
        }
        #else
        return false
        #endif
    }

    #if MPI
    /// A map whose items on `rank` start and never finish, so that the test can cut that rank's
    /// host off while they run. Under `.endJob` the job ends when the rank is found lost; under
    /// `.failItsItems` the call's error and a second call over the ranks left are printed.
    static func holdOnRank(_ rank: Int, failItsItems: Bool) async throws {
        let cluster: ClusterConfiguration = .mpi(rankLoss: failItsItems ? .failItsItems : .endJob)
        try await ProcessPool.with(cluster: cluster) { pool in
            do {
                let results = try await pool.map(HoldOnRank(rank: rank), Array(0..<24), chunksize: 1)
                print("map returned \(results.count) results")
            } catch {
                print("map failed: \(error)")
            }
            // Only reached under .failItsItems: the pool goes on with the ranks it has left.
            let names = Set(try await pool.map(WhereAmI(), Array(0..<40), chunksize: 1))
            print("after the loss, workers \(names.sorted().joined(separator: " "))")
        }
    }
    #endif
}

/// Returns its input at once, except on the rank it names, where each item announces that it
/// started (the test waits for that line before it cuts the host off) and then never ends.
struct HoldOnRank: PoolTask {
    let rank: Int

    func run(_ x: Int) async throws -> Int {
        let name = CurrentProcess.name
        guard name.hasSuffix("@rank\(rank)") || name.contains("@rank\(rank).") else { return x }
        // One write, unbuffered: the line must reach the launcher's output before the cut.
        let line = "holding item \(x) on \(name)\n"
        _ = line.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
        while true { try await Task.sleep(for: .seconds(3_600)) }
    }
}
