import Multiprocessing

#if canImport(Glibc)
import Glibc
#endif

// A program the MPI tests run under mpiexec: rank 0 makes a cluster pool and prints what the
// scenario named by the first argument saw; the other ranks serve. Built without the MPI trait
// it says so and exits 2.

struct Square: PoolTask {
    func run(_ x: Int) async throws -> Int { x * x }
}

/// Which process of which rank ran an item.
struct WhereAmI: PoolTask {
    func run(_ x: Int) async throws -> String { CurrentProcess.name }
}

@main
struct MPIProbe {
    static func main() async throws {
        try Multiprocessing.bootstrap()
        #if MPI
        try MPICluster.bootstrap()
        let scenario = CommandLine.arguments.dropFirst().first ?? "map"
        do {
            try await run(scenario)
        } catch {
            print("error: \(error)")
        }
        #else
        print("built without the MPI trait")
        exit(2)
        #endif
    }

    #if MPI
    static func run(_ scenario: String) async throws {
        switch scenario {
        case "map":
            try await ProcessPool.with(cluster: .mpi) { pool in
                let squares = try await pool.map(Square(), Array(0..<1000), chunksize: 7)
                print("map \(squares == (0..<1000).map { $0 * $0 }) processes \(pool.processes)")
                let names = Set(try await pool.map(WhereAmI(), Array(0..<40), chunksize: 1))
                print("workers \(names.sorted().joined(separator: " "))")
            }
        default:
            if try await HostScenarios.run(scenario) { return }
            print("unknown scenario \(scenario)")
        }
    }
    #endif
}
