import Synchronization
import CMultiprocessing
import Logging

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
/// Prefer ``with(processes:initializer:maxTasksPerChild:taskTimeout:cancellation:workerScheduling:startTimeout:isolation:_:)``, which cannot leak
/// workers. A pool made with ``init(processes:initializer:maxTasksPerChild:taskTimeout:killGrace:maxMessageBytes:cancellation:workerScheduling:startTimeout:)`` is ended by
/// ``close()`` then ``join()``, or by ``terminate()``; a pool that is dropped while still running
/// is terminated.
public final class ProcessPool: Sendable {
    /// What cancelling a call, or dropping an `imap`'s results before their end, does to its
    /// items that are already running.
    public enum CancellationPolicy: Sendable {
        /// Kill the workers running the call's items; they are replaced (the default).
        case killRunningTasks
        /// Let running items finish; their results are discarded.
        case letRunningTasksFinish
    }

    /// The number of worker processes.
    public let processes: Int
    /// The time limit of each item when a call does not give one; nil for none.
    public let taskTimeout: Duration?
    let core: PoolCore

    /// Starts `processes` workers (default: the CPUs this process may use).
    ///
    /// - Parameters:
    ///   - processes: How many workers run at once; at least 1.
    ///   - initializer: Run once in each worker as it starts (Python's `initializer`/`initargs`).
    ///   - maxTasksPerChild: A worker exits and is replaced after this many chunks (Python's
    ///     `maxtasksperchild`); nil keeps workers for the pool's life.
    ///   - taskTimeout: How long one item may run; an item over it fails with
    ///     ``PoolError/Code-swift.struct/taskTimedOut`` and its worker is killed (SIGTERM, then
    ///     SIGKILL after `killGrace`) and replaced. Calls may override it. Nil: no limit.
    ///   - killGrace: Time between SIGTERM and SIGKILL for a worker over its time limit.
    ///   - maxMessageBytes: The largest encoded chunk of arguments or results; larger ones fail
    ///     with ``PoolError/Code-swift.struct/messageTooLarge`` instead of being sent.
    ///   - cancellation: What cancelling a call's Swift task does to its running items.
    ///   - workerScheduling: How the kernel schedules the workers; see ``WorkerScheduling``.
    ///   - startTimeout: How long a worker may take from its spawn until it serves tasks (or
    ///     starts the initializer). The initializer itself may run for `taskTimeout`, or for
    ///     this long when there is none. A worker over either is killed and counts as one that
    ///     failed to start; after a few in a row the pool fails with
    ///     ``PoolError/Code-swift.struct/initializerFailed`` or
    ///     ``PoolError/Code-swift.struct/spawnFailed`` naming the limit, so a call never waits
    ///     forever for a worker that cannot start.
    /// - Throws: ``PoolError`` with ``PoolError/Code-swift.struct/invalidArgument`` for a bad
    ///   argument, ``PoolError/Code-swift.struct/unsupportedTaskType`` for an initializer type
    ///   that a worker cannot find, ``PoolError/Code-swift.struct/spawnFailed`` if a worker
    ///   cannot be started.
    public init(
        processes: Int? = nil,
        initializer: (any PoolInitializer)? = nil,
        maxTasksPerChild: Int? = nil,
        taskTimeout: Duration? = nil,
        killGrace: Duration = .milliseconds(500),
        maxMessageBytes: Int = 1 << 30,
        cancellation: CancellationPolicy = .killRunningTasks,
        workerScheduling: WorkerScheduling = .inherit,
        startTimeout: Duration = .seconds(120)
    ) throws(PoolError) {
        // A worker whose run of `main` got here first starts serving here (see `bootstrap()`).
        WorkerProcess.startIfWorker()
        let count = processes ?? Int(cmp_available_cpus())
        guard count >= 1 else {
            throw PoolError(.invalidArgument, "processes must be at least 1, got \(count)")
        }
        if let maxTasksPerChild, maxTasksPerChild < 1 {
            throw PoolError(.invalidArgument, "maxTasksPerChild must be at least 1 or nil, got \(maxTasksPerChild)")
        }
        if let taskTimeout, taskTimeout <= .zero {
            throw PoolError(.invalidArgument, "taskTimeout must be positive or nil, got \(taskTimeout)")
        }
        guard startTimeout > .zero else {
            throw PoolError(.invalidArgument, "startTimeout must be positive, got \(startTimeout)")
        }
        guard maxMessageBytes >= 1024 && maxMessageBytes <= Int(UInt32.max) - 64 else {
            throw PoolError(.invalidArgument, "maxMessageBytes must be between 1024 and \(Int(UInt32.max) - 64), got \(maxMessageBytes)")
        }
        let encodedInitializer = try initializer.map { (initializer) throws(PoolError) -> EncodedValue in
            try encodeValue(initializer, role: "initializer")
        }
        self.processes = count
        self.taskTimeout = taskTimeout
        self.core = PoolCore(settings: PoolCore.Settings(
            processes: count,
            initializer: encodedInitializer,
            maximumTasksPerChild: maxTasksPerChild,
            logLevel: ProcessNameLogHandler.levelForWorkers?.rawValue,
            maximumFrameSize: maxMessageBytes,
            maximumStartFailures: max(3, 2 * count),
            exitGraceMilliseconds: 1_000,
            killGrace: killGrace,
            killRunningOnCancel: cancellation == .killRunningTasks,
            batchScheduling: workerScheduling == .batch,
            startTimeout: startTimeout,
            initializerTimeout: taskTimeout ?? startTimeout,
            initializerName: initializer.map { String(reflecting: type(of: $0)) }))
        try core.start()
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
        processes: Int? = nil,
        initializer: (any PoolInitializer)? = nil,
        maxTasksPerChild: Int? = nil,
        taskTimeout: Duration? = nil,
        cancellation: CancellationPolicy = .killRunningTasks,
        workerScheduling: WorkerScheduling = .inherit,
        startTimeout: Duration = .seconds(120),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (ProcessPool) async throws -> sending R
    ) async throws -> sending R {
        let pool = try ProcessPool(processes: processes, initializer: initializer, maxTasksPerChild: maxTasksPerChild,
                                   taskTimeout: taskTimeout, cancellation: cancellation, workerScheduling: workerScheduling,
                                   startTimeout: startTimeout)
        do {
            let result = try await body(pool)
            pool.close()
            try await pool.join()
            return result
        } catch {
            pool.terminate()
            try? await pool.join()
            throw error
        }
    }

    /// An executor that runs code resumed by this pool's answers on the thread that read them:
    /// prefer it (`withTaskExecutorPreference(pool.executor) { ... }`) around a loop of short
    /// calls that each wait for the last. See ``PoolExecutor``.
    public var executor: PoolExecutor { core.executor }

    /// The scheduler's state in one line (workers, chunks in flight, what waits): a debugging aid
    /// whose format may change.
    public var _schedulerState: String { core.stateDescription }

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
    // ~10% of the caller's time encoding the same empty task.
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
