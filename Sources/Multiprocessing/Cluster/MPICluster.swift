#if MPI
import CMPIShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The MPI job this program runs in: `mpiexec -n N ./app` (or `srun`) starts N copies; rank 0
/// is the caller, every other rank serves its chunks through a pool of its own.
///
/// ```swift
/// @main struct App {
///     static func main() async throws {
///         try Multiprocessing.bootstrap()
///         try MPICluster.bootstrap()        // ranks ≥ 1 serve here and never return
///         try await ProcessPool.with(cluster: .mpi) { pool in
///             let squares = try await pool.map(Square(), Array(0..<1_000_000), chunksize: 256)
///         }
///     }
/// }
/// ```
///
/// Call it after `Multiprocessing.bootstrap()` (the workers of each rank's pool start there)
/// and after logging is set up (each rank's workers log as the rank does). A rank's pool names
/// its workers after the rank and host: `SpawnPoolWorker-3@rank1.node7`. A task that crashes,
/// runs over its time limit or is cancelled fails alone, exactly as on one machine.
public enum MPICluster {
    /// Starts MPI. On rank 0 it returns; every other rank serves chunks here through a pool of
    /// `processesPerRank` workers (default: the CPUs the rank may use: Open MPI binds a rank to
    /// one core unless `--bind-to none`) until rank 0's program ends, then exits; a serving rank
    /// whose rank 0 falls silent exits with status 1.
    ///
    /// - Throws: ``PoolError`` with ``PoolError/Code-swift.struct/invalidArgument`` for
    ///   `processesPerRank` under 1, ``PoolError/Code-swift.struct/spawnFailed`` when MPI cannot
    ///   start or a rank's pool cannot.
    public static func bootstrap(processesPerRank: Int? = nil) throws {
        try ClusterRuntime.start(processesPerRank: processesPerRank)
    }

    /// This process's rank in the job (0 before ``bootstrap(processesPerRank:)``).
    public static var rank: Int { ClusterRuntime.current.map { Int($0.transport.rank) } ?? 0 }
    /// How many ranks the job has (1 before ``bootstrap(processesPerRank:)``).
    public static var size: Int { ClusterRuntime.current.map { Int($0.transport.size) } ?? 1 }
    /// The host this rank runs on, as MPI names it ("" before ``bootstrap(processesPerRank:)``).
    public static var host: String { ClusterRuntime.current?.transport.host ?? "" }
    /// The MPI the library was built against: "Open MPI" or "MPICH".
    public static var implementation: String {
        switch cmp_mpi_implementation() {
        case 1: "Open MPI"
        case 2: "MPICH"
        default: "MPI"
        }
    }
}
#endif
