/// A pool's configuration as the scheduler uses it: the settings under the names
/// ``ProcessPool/Configuration`` gives them, and what is worked out from them once.
struct SchedulerSettings: Sendable {
    /// The pool's configuration, validated.
    let configuration: ProcessPool.Configuration
    /// How many child processes the pool keeps (a cluster's other workers aside).
    let processes: Int
    /// The initializer as workers receive it.
    let initializer: EncodedValue?
    /// The initializer's type, as errors name it.
    let initializerName: String?
    /// `Logger.Level` raw value workers install the process-named log handler at, if any.
    let logLevel: String?
    /// Workers that die before they are ready, in a row, before the pool gives up.
    let maxStartFailures: Int
    /// How long a worker that closed its channel may take to exit before SIGKILL.
    let exitGraceMilliseconds: Int32
    /// Whether the workers wait for their chunks on their sockets at once (a serving rank's:
    /// see ``WorkerIdleWait/waitsOnSocket``).
    var workersWaitOnSocket = false

    init(_ configuration: ProcessPool.Configuration, processes: Int, initializer: EncodedValue?, logLevel: String?) {
        self.configuration = configuration
        self.processes = processes
        self.initializer = initializer
        initializerName = configuration.initializer.map { String(reflecting: type(of: $0)) }
        self.logLevel = logLevel
        maxStartFailures = max(3, 2 * processes)
        exitGraceMilliseconds = 1_000
    }

    var maxTasksPerChild: Int? { configuration.maxTasksPerChild }
    /// Records a worker holds for the parent, 0 when workers log by themselves.
    var forwardedLogRecords: Int { configuration.workerLogs.forwardsToParent ? configuration.workerLogs.bufferedRecords : 0 }
    /// Whether a worker's chunk count or memory can end it: chunks then go to one worker at a
    /// time, not as a group.
    var retiresWorkers: Bool { configuration.maxTasksPerChild != nil || configuration.maxMemoryPerChild != nil }
    var maxMessageBytes: Int { configuration.maxMessageBytes }
    var killGrace: Duration { configuration.killGrace }
    var cancellation: ProcessPool.CancellationPolicy { configuration.cancellation }
    var workerScheduling: ProcessPool.WorkerScheduling { configuration.workerScheduling }
    var startTimeout: Duration { configuration.startTimeout }
    /// The initializer runs under the pool's `taskTimeout`, or `startTimeout` without one.
    var initializerTimeout: Duration { configuration.taskTimeout ?? configuration.startTimeout }
}
