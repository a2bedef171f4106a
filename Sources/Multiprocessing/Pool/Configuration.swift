import CMultiprocessing
import CoreMetrics

extension ProcessPool {
    /// Every setting of a pool, in one value: what ``ProcessPool/init(_:)`` and
    /// ``ProcessPool/with(_:isolation:_:)`` take. Each has a default, so a configuration names
    /// only what it changes:
    ///
    /// ```swift
    /// var configuration = ProcessPool.Configuration(processes: 4)
    /// configuration.taskTimeout = .seconds(30)
    /// try await ProcessPool.with(configuration) { pool in ... }
    /// ```
    public struct Configuration: Sendable {
        /// How many workers run at once; nil for the CPUs this process may use.
        public var processes: Int?
        /// Run once in each worker as it starts (Python's `initializer`/`initargs`).
        public var initializer: (any PoolInitializer)?
        /// A worker exits and is replaced after this many chunks (Python's
        /// `maxtasksperchild`); nil keeps workers for the pool's life.
        public var maxTasksPerChild: Int?
        /// A worker whose resident memory is over this many bytes after a chunk exits and is
        /// replaced once it has run the chunks already sent to it; the chunk's results are kept
        /// (Celery's `worker_max_memory_per_child`, which counts KiB where this counts bytes;
        /// loky's workers are replaced for their memory too). For a task that leaks, or that
        /// leaves its worker's heap grown. Nil: no limit.
        public var maxMemoryPerChild: Int?
        /// Where swift-log records emitted in workers go; see ``WorkerLogs``.
        public var workerLogs: WorkerLogs
        /// How long one item may run; an item over it fails with
        /// ``PoolError/Code-swift.struct/taskTimedOut`` and its worker is killed and replaced.
        /// Calls may override it. Also the initializer's limit when set. Nil: no limit.
        public var taskTimeout: Duration?
        /// Time between SIGTERM and SIGKILL for a worker over a time limit.
        public var killGrace: Duration
        /// The largest encoded chunk of arguments or results; larger ones fail with
        /// ``PoolError/Code-swift.struct/messageTooLarge`` instead of being sent.
        public var maxMessageBytes: Int
        /// What cancelling a call's Swift task does to its running items.
        public var cancellation: CancellationPolicy
        /// How the kernel schedules the workers; see ``WorkerScheduling``.
        public var workerScheduling: WorkerScheduling
        /// How long a worker may take from its spawn until it serves tasks (or starts the
        /// initializer), and how long the initializer may run when there is no `taskTimeout`. A
        /// worker over it is killed and counts as one that failed to start; after a few in a row
        /// the pool fails with ``PoolError/Code-swift.struct/initializerFailed`` or
        /// ``PoolError/Code-swift.struct/spawnFailed`` naming the limit, so a call never waits
        /// forever for a worker that cannot start.
        public var startTimeout: Duration
        /// Where the pool's metrics go: items done and failed, chunk run times, worker deaths,
        /// replacements and time-limit kills, queued chunks and busy workers (see
        /// <doc:Observability>). Nil: the factory `MetricsSystem.bootstrap` installed when the
        /// pool is made; with swift-metrics' default no-op factory the pool records nothing.
        public var metricsFactory: (any MetricsFactory)?

        /// A configuration; every setting left out keeps its default.
        public init(
            processes: Int? = nil,
            initializer: (any PoolInitializer)? = nil,
            maxTasksPerChild: Int? = nil,
            taskTimeout: Duration? = nil,
            killGrace: Duration = .milliseconds(500),
            maxMessageBytes: Int = 1 << 30,
            cancellation: CancellationPolicy = .killRunningTasks,
            workerScheduling: WorkerScheduling = .inherit,
            startTimeout: Duration = .seconds(120),
            maxMemoryPerChild: Int? = nil,
            workerLogs: WorkerLogs = .standardError,
            metricsFactory: (any MetricsFactory)? = nil
        ) {
            self.processes = processes
            self.initializer = initializer
            self.maxTasksPerChild = maxTasksPerChild
            self.taskTimeout = taskTimeout
            self.killGrace = killGrace
            self.maxMessageBytes = maxMessageBytes
            self.cancellation = cancellation
            self.workerScheduling = workerScheduling
            self.startTimeout = startTimeout
            self.maxMemoryPerChild = maxMemoryPerChild
            self.workerLogs = workerLogs
            self.metricsFactory = metricsFactory
        }

        /// The number of workers: `processes`, or the CPUs this process may use.
        var resolvedProcesses: Int { processes ?? Int(cmp_available_cpus()) }

        /// Throws ``PoolError/Code-swift.struct/invalidArgument`` naming the first setting out
        /// of range (`processes` aside, which a cluster counts its own way).
        func validate() throws(PoolError) {
            if let maxTasksPerChild, maxTasksPerChild < 1 {
                throw PoolError(.invalidArgument, "maxTasksPerChild must be at least 1 or nil, got \(maxTasksPerChild)")
            }
            if let maxMemoryPerChild, maxMemoryPerChild < 1 {
                throw PoolError(.invalidArgument, "maxMemoryPerChild must be at least 1 byte or nil, got \(maxMemoryPerChild)")
            }
            if workerLogs.forwardsToParent && workerLogs.bufferedRecords < 1 {
                throw PoolError(
                    .invalidArgument, "workerLogs' bufferedRecords must be at least 1, got \(workerLogs.bufferedRecords)")
            }
            if let taskTimeout, taskTimeout <= .zero {
                throw PoolError(.invalidArgument, "taskTimeout must be positive or nil, got \(taskTimeout)")
            }
            guard startTimeout > .zero else {
                throw PoolError(.invalidArgument, "startTimeout must be positive, got \(startTimeout)")
            }
            guard maxMessageBytes >= 1024 && maxMessageBytes <= Int(UInt32.max) - 64 else {
                throw PoolError(
                    .invalidArgument,
                    "maxMessageBytes must be between 1024 and \(Int(UInt32.max) - 64), got \(maxMessageBytes)")
            }
        }
    }
}
