import CMultiprocessing
import CoreMetrics
import Logging
import Synchronization

/// A pool of worker processes: Python's `multiprocessing.Pool`, with async/await.
///
/// Workers are fresh runs of this program's binary (the "spawn" start method), named
/// `SpawnPoolWorker-1`, `SpawnPoolWorker-2`, ... as in Python. Tasks are ``PoolTask`` values.
///
/// ```swift
/// try await ProcessPool.with(processes: 3) { pool in
///     let r = try await pool.map(Worker1(), [100, 50])   // [100, 50], in input order
/// }
/// ```
/// Settings are a ``Configuration``, given whole or one by one. Prefer
/// ``with(_:isolation:_:)``, which cannot leak workers. A pool made with ``init(_:)`` is ended by
/// ``close()`` then ``join()``, or by ``terminate()``; a pool that is dropped while still running
/// is terminated. `String(reflecting: pool)` describes what its scheduler holds, for diagnosing
/// a call that does not end.
public final class ProcessPool: Sendable, CustomDebugStringConvertible {
    /// What cancelling a call, or dropping an `imap`'s results before their end, does to its
    /// items that are already running.
    public enum CancellationPolicy: Sendable {
        /// Kill the workers running the call's items; they are replaced (the default).
        case killRunningTasks
        /// Let running items finish; their results are discarded.
        case letRunningTasksFinish
    }

    /// The number of worker processes: on a cluster, the serving ranks' pools together, and rank
    /// 0's own.
    public let processes: Int
    /// The time limit of each item when a call does not give one; nil for none.
    public var taskTimeout: Duration? { configuration.taskTimeout }
    /// The pool's settings, as given.
    public let configuration: Configuration
    let core: PoolCore

    /// Starts the pool's workers.
    ///
    /// - Throws: ``PoolError`` with ``PoolError/Code-swift.struct/invalidArgument`` for a
    ///   setting out of range, ``PoolError/Code-swift.struct/unsupportedTaskType`` for an
    ///   initializer type that a worker cannot find, ``PoolError/Code-swift.struct/spawnFailed``
    ///   if a worker cannot be started.
    public convenience init(_ configuration: Configuration) throws(PoolError) {
        try self.init(configuration, workersWaitOnSocket: false)
    }

    /// ``init(_:)``, with the workers waiting for chunks as a serving rank's do when
    /// `workersWaitOnSocket`.
    convenience init(_ configuration: Configuration, workersWaitOnSocket: Bool) throws(PoolError) {
        // A worker whose run of `main` got here first starts serving here (see `bootstrap()`).
        WorkerProcess.startIfWorker()
        let count = configuration.resolvedProcesses
        guard count >= 1 else {
            throw PoolError(.invalidArgument, "processes must be at least 1, got \(count)")
        }
        try self.init(
            configuration, localProcesses: count, otherCapacity: 0, workersWaitOnSocket: workersWaitOnSocket
        ) { _ in [] }
    }

    /// A pool of `localProcesses` child processes and the workers `adopting` makes for its core
    /// (hosts of a cluster), which run `otherCapacity` chunks at once between them. With
    /// `workersWaitOnSocket` its child processes wait for chunks as a serving rank's do.
    init(
        _ configuration: Configuration, localProcesses: Int, otherCapacity: Int, workersWaitOnSocket: Bool = false,
        adopting makeWorkers: (PoolCore) throws(PoolError) -> [any PoolWorker]
    ) throws(PoolError) {
        try configuration.validate()
        let encodedInitializer = try configuration.initializer.map { (initializer) throws(PoolError) -> EncodedValue in
            try encodeValue(initializer, role: "initializer")
        }
        self.configuration = configuration
        self.processes = localProcesses + otherCapacity
        var settings = SchedulerSettings(
            configuration, processes: localProcesses, initializer: encodedInitializer,
            logLevel: Self.workerLogLevel(configuration.workerLogs)?.rawValue)
        settings.workersWaitOnSocket = workersWaitOnSocket
        self.core = PoolCore(settings: settings)
        try core.start()
        do {
            for worker in try makeWorkers(core) { core.adopt(worker) }
        } catch {
            core.terminate()
            throw error
        }
    }

    /// Starts `processes` workers (default: the CPUs this process may use), with the other
    /// settings as ``Configuration`` describes them.
    public convenience init(
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
    ) throws(PoolError) {
        try self.init(
            Configuration(
                processes: processes, initializer: initializer, maxTasksPerChild: maxTasksPerChild,
                taskTimeout: taskTimeout, killGrace: killGrace, maxMessageBytes: maxMessageBytes,
                cancellation: cancellation, workerScheduling: workerScheduling, startTimeout: startTimeout,
                maxMemoryPerChild: maxMemoryPerChild, workerLogs: workerLogs, metricsFactory: metricsFactory))
    }

    deinit {
        if core.phase == .running { core.terminate() }
    }

    /// Makes a pool, runs `body` with it, and always ends the pool's workers before returning.
    ///
    /// When `body` returns, the pool is closed and joined: work it submitted and did not await
    /// still completes. When `body` throws (or its task is cancelled), the pool is terminated:
    /// unfinished work fails with ``PoolError/Code-swift.struct/terminated``. (Python's
    /// `with Pool() as p:` always terminates.)
    public static func with<R>(
        _ configuration: Configuration,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (ProcessPool) async throws -> sending R
    ) async throws -> sending R {
        try await ProcessPool(configuration).run(body)
    }

    /// Runs `body` with this pool, then closes and joins it, or terminates it if `body` threw.
    func run<R>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (ProcessPool) async throws -> sending R
    ) async throws -> sending R {
        do {
            let result = try await body(self)
            close()
            try await join()
            return result
        } catch {
            terminate()
            try? await join()
            throw error
        }
    }

    /// ``with(_:isolation:_:)`` with the settings given one by one, as ``Configuration``
    /// describes them.
    public static func with<R>(
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
        metricsFactory: (any MetricsFactory)? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (ProcessPool) async throws -> sending R
    ) async throws -> sending R {
        try await with(
            Configuration(
                processes: processes, initializer: initializer, maxTasksPerChild: maxTasksPerChild,
                taskTimeout: taskTimeout, killGrace: killGrace, maxMessageBytes: maxMessageBytes,
                cancellation: cancellation, workerScheduling: workerScheduling, startTimeout: startTimeout,
                maxMemoryPerChild: maxMemoryPerChild, workerLogs: workerLogs, metricsFactory: metricsFactory),
            isolation: isolation, body)
    }

    /// An executor that runs code resumed by this pool's answers on the thread that read them:
    /// prefer it (`withTaskExecutorPreference(pool.executor) { ... }`) around a loop of short
    /// calls that each wait for the last. See ``PoolExecutor``.
    public var executor: PoolExecutor { core.executor }

    /// The scheduler's state in one line (workers, chunks in flight, what waits): a debugging
    /// aid whose format may change.
    public var debugDescription: String { "ProcessPool(\(core.stateDescription))" }

    /// Stops accepting work. Work already submitted completes; then the workers exit.
    ///
    /// An `imap` started before counts as submitted, as in Python: the rest of its input is
    /// submitted at once (its results wait for its reader, so `join()` may come first), unless
    /// its sequence was already dropped. An endless input then never lets the pool finish.
    public func close() {
        core.close()
    }

    /// Kills the workers now. Every unfinished item fails with
    /// ``PoolError/Code-swift.struct/terminated`` (Python leaves such results pending forever).
    public func terminate() {
        core.terminate()
    }

    /// Waits for every worker to exit, after ``close()`` or ``terminate()``.
    /// - Throws: ``PoolError/Code-swift.struct/poolStillRunning`` if neither was called.
    public func join() async throws(PoolError) {
        try await core.join()
    }
}

/// Encodes a task or initializer for the wire, checking that a worker can find its type.
func encodeValue<T: Encodable>(_ value: T, role: String) throws(PoolError) -> EncodedValue {
    // A value without stored properties encodes to the same bytes every time (its type's
    // `encode(to:)` has nothing of its own to write): encode it once. A loop of `apply` spent
    // a noticeable part of its time encoding the same empty task.
    let stateless = MemoryLayout<T>.size == 0
    if stateless, let known = StatelessValueEncodings.encoding(of: T.self) { return known }
    let name = try TaskTypeNames.name(of: T.self)
    let encoded: EncodedValue
    do {
        encoded = EncodedValue(typeName: name, payload: try BinaryEncoder().encode(value))
    } catch {
        throw PoolError(.encodingFailed, "the \(role) \(String(reflecting: T.self)) could not be encoded: \(error)")
    }
    if stateless { StatelessValueEncodings.remember(encoded, for: T.self) }
    return encoded
}

/// The encodings of task and initializer types without stored properties, one per type.
enum StatelessValueEncodings {
    private static let known = Mutex<[ObjectIdentifier: EncodedValue]>([:])

    static func encoding<T>(of type: T.Type) -> EncodedValue? {
        known.withLock { $0[ObjectIdentifier(type)] }
    }

    static func remember<T>(_ encoded: EncodedValue, for type: T.Type) {
        known.withLock { $0[ObjectIdentifier(type)] = encoded }
    }
}
