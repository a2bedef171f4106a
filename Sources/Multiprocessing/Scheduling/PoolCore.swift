import CMultiprocessing
import Synchronization
import Tracing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The scheduler: which worker holds which chunk, what waits, and what happens when a worker
/// answers or ends. One lock guards ``SchedulerState``; sends, signals and user callbacks run
/// outside it. Its jobs are split by file: life cycle (here), dispatch, chunk groups,
/// cancellation, time limits, answers, and worker ends.
final class PoolCore: Sendable {
    let settings: SchedulerSettings
    /// Runs code that prefers it on the reader thread that resumed it.
    let executor = PoolExecutor()
    /// Lets a caller of `apply` wait a moment for a quick answer without suspending.
    let answerSpin = AnswerSpin()
    let state = Mutex(SchedulerState())
    let watchdog = Watchdog(name: "mp-watchdog")
    /// Where idle workers sleep; nil where it cannot be made (they then wait in `poll`).
    let wakeBoard = WakeBoard.make()
    /// The pool's swift-metrics instruments; nil when its factory is the no-op one.
    let metrics: PoolMetrics?
    /// The tracer bootstrapped when the pool was made; nil for none.
    let tracer: (any Tracer)?
    /// Test hook: runs on the thread starting a replacement, before its process is spawned, so
    /// that a test can hold the pool in the moment a replacement is counted but not registered.
    let beforeReplacementSpawn = Mutex<(@Sendable () -> Void)?>(nil)

    init(settings: SchedulerSettings) {
        self.settings = settings
        metrics = PoolMetrics.make(settings.configuration.metricsFactory)
        tracer = TraceCarrier.bootstrappedTracer
    }

    /// Hands `chunk`'s completion to its call, counting it first; `ranFor` is the worker's
    /// measure of its run, when it answered.
    func finish(_ chunk: ChunkWork, _ completion: ChunkCompletion, ranFor nanoseconds: UInt64? = nil) {
        chunk.metrics?.record(completion, itemCount: chunk.itemCount, ranFor: nanoseconds)
        chunk.sink.chunkFinished(chunk, completion, ranFor: nanoseconds)
    }

    // MARK: - Life cycle

    /// Starts `settings.processes` workers; on failure kills those already started.
    func start() throws(PoolError) {
        for _ in 0..<settings.processes {
            do {
                try spawnWorker()
            } catch {
                terminate()
                throw error
            }
        }
    }

    /// Starts a worker, registers it and hands it what is pending. `replacing`: a replacement
    /// counted in ``SchedulerState/replacementsStarting``, which its registration takes back; if
    /// it fails to spawn, the caller takes it back with
    /// `failEverything(with:replacementFailed: true)`, under the same lock as the failure.
    func spawnWorker(replacing: Bool = false) throws(PoolError) {
        let key = state.withLock { state in
            defer { state.nextKey += 1 }
            return state.nextKey
        }
        if replacing, let hook = beforeReplacementSpawn.withLock({ $0 }) { hook() }
        let worker = try LocalWorker.spawn(key: key, board: wakeBoard, settings: settings)
        worker.enqueue([
            WireBytes(
                ParentMessage.configure(
                    WorkerConfiguration(
                        workerName: worker.label.name, logLevel: settings.logLevel, initializer: settings.initializer,
                        maxTasksPerChild: settings.maxTasksPerChild ?? 0, maxMessageBytes: settings.maxMessageBytes,
                        forwardedLogRecords: settings.forwardedLogRecords,
                        maxMemoryPerChild: settings.configuration.maxMemoryPerChild ?? 0)
                ).encodeFrame())
        ])
        let (toSend, isDoomed, toShutDown): ([any PoolWorker], Bool, [any PoolWorker]) = state.withLock { state in
            state.workers[worker.key] = TrackedWorker(worker: worker)
            if replacing { state.replacementsStarting -= 1 }
            if state.phase == .terminating { return ([], true, []) }
            let (toSend, timed) = state.schedule(maxTasksPerChild: settings.maxTasksPerChild)
            if timed { pokeWatchdog() }
            guard state.phase == .closing else { return (toSend, false, []) }
            // A replacement that arrives after close() told the others to exit is told too; one
            // whose work went elsewhere meanwhile may find the pool idle. Either way join() would
            // otherwise wait for it forever.
            return (toSend, false, state.shutdownSent ? [worker] : state.shutdownIfIdle())
        }
        do {
            try worker.startReading(for: self)
        } catch {
            worker.abandon()
            state.withLock { state in
                // Chunks already handed to it never left: they wait for another worker.
                if let slot = state.workers.removeValue(forKey: worker.key) { state.pending.prepend(Array(slot.inFlight)) }
            }
            throw error
        }
        if isDoomed { worker.kill() }
        // Its start-up runs against a clock.
        pokeWatchdog()
        send(to: [worker] + toSend.filter { $0 !== worker })
        for other in toShutDown { other.shutdownAfterQueued() }
    }

    /// Takes on a worker made elsewhere (a host of a cluster), ready to run chunks at once.
    func adopt(_ worker: any PoolWorker) {
        let toSend: [any PoolWorker] = state.withLock { state in
            let slot = TrackedWorker(worker: worker)
            slot.isReady = true
            state.workers[worker.key] = slot
            return schedule(&state)
        }
        send(to: toSend)
    }

    /// A key for a worker made elsewhere.
    func nextWorkerKey() -> Int {
        state.withLock { state in
            defer { state.nextKey += 1 }
            return state.nextKey
        }
    }

    /// Stops taking work; workers exit once everything submitted is done. An `imap` started
    /// before counts as submitted, as in Python: its remaining input is submitted now, its
    /// results wait for the consumer.
    func close() {
        let (toShutDown, streams): ([any PoolWorker], [any OpenStream]) = state.withLock { state in
            guard state.phase == .running else { return ([], []) }
            state.phase = .closing
            return (state.shutdownIfIdle(), state.openStreams.values.compactMap(\.stream))
        }
        for worker in toShutDown { worker.shutdownAfterQueued() }
        // Off the caller's thread: pulling and encoding the rest of an input can take a while,
        // and close() returns at once. Each stream reports itself closed when done.
        for stream in streams { Task.detached { stream.submitRemainingInput() } }
    }

    /// Registers an `imap` call that will submit chunks as its consumer pulls results.
    func streamOpened(_ stream: any OpenStream) throws(PoolError) {
        try state.withLock { (state: inout SchedulerState) throws(PoolError) in
            try state.checkAcceptingWork()
            state.openStreams[ObjectIdentifier(stream)] = WeakOpenStream(stream: stream)
        }
    }

    /// The stream will submit nothing more (input exhausted, cancelled, failed or dropped).
    /// Called once per stream, never with `state` locked.
    func streamClosed(_ id: ObjectIdentifier) {
        let toShutDown: [any PoolWorker] = state.withLock { state in
            state.openStreams.removeValue(forKey: id)
            return state.shutdownIfIdle()
        }
        for worker in toShutDown { worker.shutdownAfterQueued() }
    }

    /// Fails everything not yet finished with `terminated` and kills the workers.
    func terminate() {
        let (failed, workers): ([ChunkWork], [any PoolWorker]) = state.withLock { state in
            guard state.phase != .terminating else { return ([], []) }
            state.phase = .terminating
            let failed = state.takeUnfinishedWork()
            return (failed, state.workers.values.map(\.worker))
        }
        for worker in workers { worker.kill() }
        let error = PoolError(.terminated, "the pool was terminated before this item finished")
        for chunk in failed { finish(chunk, .failed(error)) }
    }

    /// A replacement could not be started: the pool cannot go on. `replacementFailed`: the
    /// replacement counted in ``SchedulerState/replacementsStarting`` is taken back here, in the
    /// same lock as `fatal` is set, so that `join()` never sees the pool without workers before
    /// it sees the failure.
    func failEverything(with error: PoolError, replacementFailed: Bool = false) {
        let (failed, waiters): ([ChunkWork], [CheckedContinuation<Void, Never>]) = state.withLock { state in
            if replacementFailed { state.replacementsStarting -= 1 }
            if state.fatal == nil { state.fatal = error }
            state.phase = .terminating
            let failed = state.takeUnfinishedWork()
            guard state.hasNoWorkers else { return (failed, []) }
            return (failed, lastWorkerGone(&state))
        }
        for chunk in failed { finish(chunk, .failed(error)) }
        for waiter in waiters { waiter.resume() }
    }

    /// The pool's last worker is gone and none will come: stops the watchdog, closes the board
    /// and returns the callers of `join()` to resume.
    func lastWorkerGone(_ state: inout SchedulerState) -> [CheckedContinuation<Void, Never>] {
        watchdog.stop()
        wakeBoard?.closeDescriptor()
        defer { state.joinWaiters = [] }
        return state.joinWaiters
    }

    /// Waits until every worker has exited. Throws if the pool was neither closed nor terminated.
    func join() async throws(PoolError) {
        let mustWait: Bool = try state.withLock { (state: inout SchedulerState) throws(PoolError) -> Bool in
            guard state.phase != .running else {
                throw PoolError(.poolStillRunning, "join() needs close() or terminate() first")
            }
            return !state.hasNoWorkers
        }
        guard mustWait else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.hasNoWorkers { return true }
                state.joinWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    var phase: PoolPhase { state.withLock { $0.phase } }

    /// Throws the reason the pool takes no new work: its fatal error, or that it was closed.
    func ensureAcceptingWork() throws(PoolError) {
        try state.withLock { (state: inout SchedulerState) throws(PoolError) in try state.checkAcceptingWork() }
    }
}
