import CoreMetrics
import Synchronization

/// The pool's swift-metrics instruments, made once per pool (and once per task type) so that an
/// event costs one call into the backend. A pool whose factory is swift-metrics' no-op handler
/// has none: ``PoolCore/metrics`` is nil and no event costs anything.
final class PoolMetrics: Sendable {
    let factory: any MetricsFactory
    /// Workers that ended other than by a clean exit, by why (`reason`).
    private let deaths: Mutex<[String: Counter]> = Mutex([:])
    /// Workers started in place of one that ended.
    let replacements: Counter
    /// Workers killed for not becoming ready within the start-up or initializer limit.
    let startTimeLimitKills: Counter
    /// Chunks waiting in the pool's queue for a worker.
    let queuedChunks: Gauge
    /// Workers holding at least one chunk.
    let busyWorkers: Gauge
    private let tasks: Mutex<[ObjectIdentifier: TaskMetrics]> = Mutex([:])

    /// The metric labels, one place for their spelling.
    enum Label {
        static let itemsDone = "multiprocessing_items_done"
        static let itemsFailed = "multiprocessing_items_failed"
        static let chunkRunTime = "multiprocessing_chunk_run_time"
        static let timeLimitKills = "multiprocessing_time_limit_kills"
        static let workerDeaths = "multiprocessing_worker_deaths"
        static let workerReplacements = "multiprocessing_worker_replacements"
        static let queuedChunks = "multiprocessing_queued_chunks"
        static let busyWorkers = "multiprocessing_busy_workers"
    }

    /// The instruments of a pool configured with `factory` (nil: the bootstrapped one), or nil
    /// when that is swift-metrics' no-op handler.
    static func make(_ factory: (any MetricsFactory)?) -> PoolMetrics? {
        let factory = factory ?? MetricsSystem.factory
        if factory is NOOPMetricsHandler { return nil }
        return PoolMetrics(factory)
    }

    private init(_ factory: any MetricsFactory) {
        self.factory = factory
        replacements = Counter(label: Label.workerReplacements, factory: factory)
        startTimeLimitKills = Counter(label: Label.timeLimitKills, dimensions: [("limit", "start")], factory: factory)
        queuedChunks = Gauge(label: Label.queuedChunks, factory: factory)
        busyWorkers = Gauge(label: Label.busyWorkers, factory: factory)
    }

    /// The instruments of the task type `type`, named `name` in their `task` dimension.
    func task(_ type: ObjectIdentifier, named name: @autoclosure () -> String) -> TaskMetrics {
        tasks.withLock { tasks in
            if let known = tasks[type] { return known }
            let made = TaskMetrics(task: name(), factory: factory)
            tasks[type] = made
            return made
        }
    }

    /// A worker ended other than by a clean exit; `reason` says why.
    func workerDied(_ reason: String) {
        deaths.withLock { deaths in
            if let counter = deaths[reason] { return counter }
            let made = Counter(label: Label.workerDeaths, dimensions: [("reason", reason)], factory: factory)
            deaths[reason] = made
            return made
        }.increment()
    }
}

/// The instruments of one task type in one pool.
final class TaskMetrics: Sendable {
    let task: String
    let factory: any MetricsFactory
    let itemsDone: Counter
    /// The worker's own measure of each chunk's run, from taking it to its outcome being ready:
    /// an item's run time only where chunks hold one item (`apply`, `imap`, `chunksize: 1`).
    let chunkRunTime: CoreMetrics.Timer
    let timeLimitKills: Counter
    private let failures: Mutex<[String: Counter]> = Mutex([:])

    init(task: String, factory: any MetricsFactory) {
        self.task = task
        self.factory = factory
        itemsDone = Counter(label: PoolMetrics.Label.itemsDone, dimensions: [("task", task)], factory: factory)
        chunkRunTime = CoreMetrics.Timer(label: PoolMetrics.Label.chunkRunTime, dimensions: [("task", task)], factory: factory)
        timeLimitKills = Counter(
            label: PoolMetrics.Label.timeLimitKills, dimensions: [("limit", "item"), ("task", task)], factory: factory)
    }

    /// Counts `count` items failed with an error of kind `kind`.
    func failed(_ count: Int, kind: String) {
        guard count > 0 else { return }
        failures.withLock { failures in
            if let counter = failures[kind] { return counter }
            let made = Counter(
                label: PoolMetrics.Label.itemsFailed, dimensions: [("task", task), ("error", kind)], factory: factory)
            failures[kind] = made
            return made
        }.increment(by: count)
    }

    /// Records how a chunk ended: its items done and failed, and its run time when a worker
    /// answered.
    func record(_ completion: ChunkCompletion, itemCount: Int, ranFor nanoseconds: UInt64?) {
        if let nanoseconds { chunkRunTime.recordNanoseconds(Int64(clamping: nanoseconds)) }
        switch completion {
        case .answered(.allSucceeded, _):
            itemsDone.increment(by: itemCount)
        case .answered(.mixed(let items), _):
            var done = 0
            for item in items {
                switch item {
                case .success: done += 1
                case .failure(let failure): failed(1, kind: Self.kind(of: failure))
                }
            }
            if done > 0 { itemsDone.increment(by: done) }
        case .answered(.rejected(let failure), _):
            failed(itemCount, kind: Self.kind(of: failure))
        case .failed(let error):
            failed(itemCount, kind: error.code.description)
        }
    }

    /// The `error` dimension of a failure from a worker: the pool error's code, or `taskError`
    /// for an error the task threw.
    static func kind(of failure: RemoteFailure) -> String {
        failure.poolErrorCode?.description ?? "taskError"
    }
}
