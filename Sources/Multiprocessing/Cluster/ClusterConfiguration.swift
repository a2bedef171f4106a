#if MPI
/// Where a pool's workers are when they are not only this process's children: the ranks of an
/// MPI job, each serving chunks through a pool of its own (see ``MPICluster``).
public struct ClusterConfiguration: Sendable {
    /// What the pool does when a rank stops answering.
    public enum RankLoss: Sendable {
        /// End the whole job (`MPI_Abort`), saying which rank was lost: what MPI's launchers do
        /// anyway when one of its processes dies, unless told to let the others live on. Under
        /// Open MPI's `--enable-recovery` the job still stops, but `mpiexec` may exit 0.
        case endJob
        /// Fail the items the rank held (``PoolError/Code-swift.struct/workerDied``, naming its
        /// host and rank) and go on with the other ranks. Needs a launcher that lets the job live
        /// on: Open MPI's `mpiexec --enable-recovery`. MPICH 4.0's launcher ends the job when a
        /// rank dies, `-disable-auto-cleanup` or not.
        case failItsItems
    }

    /// What the pool does when a rank stops answering.
    public var rankLoss: RankLoss
    /// Worker processes rank 0 runs itself, beside the other ranks'; none by default: rank 0
    /// is the caller.
    public var rankZeroProcesses: Int

    /// The ranks of the MPI job this program runs in; rank 0 is the caller.
    public static var mpi: ClusterConfiguration { ClusterConfiguration(rankLoss: .endJob, rankZeroProcesses: 0) }

    /// The ranks of the MPI job, with what to do when one is lost and how many workers rank 0
    /// runs itself.
    public static func mpi(rankLoss: RankLoss = .endJob, rankZeroProcesses: Int = 0) -> ClusterConfiguration {
        ClusterConfiguration(rankLoss: rankLoss, rankZeroProcesses: rankZeroProcesses)
    }
}
#endif
