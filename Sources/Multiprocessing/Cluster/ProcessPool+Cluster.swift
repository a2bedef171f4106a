#if MPI
extension ProcessPool {
    /// A pool whose workers are the serving ranks of the MPI job (see ``MPICluster``), each a
    /// worker that runs as many chunks at once as its own pool has processes, plus
    /// `cluster.rankZeroProcesses` child processes of this one. Every call works as on a local
    /// pool. Call it on rank 0 after ``MPICluster/bootstrap(processesPerRank:)``.
    ///
    /// `configuration.processes` is not used (each rank sizes its own pool); an `initializer`,
    /// `maxTasksPerChild` or `maxMemoryPerChild` is not supported on a cluster yet. Time limits, cancellation and
    /// `maxMessageBytes` for arguments apply as on a local pool; the serving ranks' pools keep
    /// their own `killGrace`, `workerScheduling` and limit on results.
    ///
    /// - Throws: ``PoolError`` with ``PoolError/Code-swift.struct/invalidArgument`` for a
    ///   setting a cluster cannot honour, when no MPI job was started, when another cluster pool
    ///   is still alive, or when no rank serves and `rankZeroProcesses` is 0;
    ///   ``PoolError/Code-swift.struct/spawnFailed`` if a rank does not start serving within
    ///   `configuration.startTimeout`.
    public convenience init(cluster: ClusterConfiguration, _ configuration: Configuration = Configuration()) throws(PoolError) {
        WorkerProcess.startIfWorker()
        guard let runtime = ClusterRuntime.current, let coordinator = runtime.coordinator else {
            throw PoolError(.invalidArgument, "a cluster pool needs MPICluster.bootstrap() first, on rank 0 of an MPI job")
        }
        guard configuration.initializer == nil, configuration.maxTasksPerChild == nil, configuration.maxMemoryPerChild == nil
        else {
            throw PoolError(
                .invalidArgument, "initializer, maxTasksPerChild and maxMemoryPerChild are not supported on a cluster yet")
        }
        guard configuration.maxMessageBytes <= Int(Int32.max) else {
            throw PoolError(
                .invalidArgument,
                "maxMessageBytes must be at most \(Int32.max) on a cluster (an MPI message's size), got \(configuration.maxMessageBytes)")
        }
        guard cluster.rankZeroProcesses >= 0 else {
            throw PoolError(.invalidArgument, "rankZeroProcesses must not be negative, got \(cluster.rankZeroProcesses)")
        }
        let ranks = try coordinator.ranks(waitingAtMost: configuration.startTimeout)
        guard cluster.rankZeroProcesses > 0 || !ranks.isEmpty else {
            throw PoolError(
                .invalidArgument, "the MPI job has no rank to serve and rank 0 runs no workers: start it with mpiexec -n 2 or more")
        }
        let stopRunning = configuration.cancellation == .killRunningTasks
        try self.init(
            configuration, localProcesses: cluster.rankZeroProcesses, otherCapacity: ranks.reduce(0) { $0 + max(1, $1.hello.capacity) }
        ) { (core) throws(PoolError) -> [any PoolWorker] in
            var workers: [any PoolWorker] = []
            for (rank, hello) in ranks {
                let worker = RemoteWorker(
                    key: core.nextWorkerKey(), rank: rank, hello: hello, core: core, coordinator: coordinator,
                    stopRunningOnCancel: stopRunning)
                try coordinator.register(worker, rank: rank, rankLoss: cluster.rankLoss)
                workers.append(worker)
            }
            return workers
        }
    }

    /// ``with(_:isolation:_:)`` for a pool whose workers are the ranks of the MPI job: see
    /// ``init(cluster:_:)``.
    public static func with<R>(
        cluster: ClusterConfiguration,
        _ configuration: Configuration = Configuration(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (ProcessPool) async throws -> sending R
    ) async throws -> sending R {
        let pool = try ProcessPool(cluster: cluster, configuration)
        return try await pool.run(body)
    }
}
#endif
