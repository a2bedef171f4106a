extension ProcessPool {
    /// Runs `task` on every item in the workers and returns the outputs in input order:
    /// Python's `pool.map(func, iterable, chunksize)`. The caller waits until all are done.
    ///
    /// Cancelling the calling Swift task stops the call: its waiting items are dropped and, by
    /// default, workers running its items are killed and replaced (see ``CancellationPolicy``).
    ///
    /// Called on an actor (the main actor, say), `map` runs on it: it cuts and encodes the items
    /// there, then waits and resumes there, without a detour through another executor. A large
    /// input occupies the actor while it is encoded; large chunks of fixed-width numbers (`Int`,
    /// `Double`, ...) are not encoded but sent from `items` where they are.
    ///
    /// - Parameters:
    ///   - task: What to run on each item; its stored properties travel with it.
    ///   - items: The arguments, one per item.
    ///   - chunksize: Items sent to a worker at a time. Default: chunks that shrink as the call
    ///     goes on (the first ones half an even share per worker, the last ones small), so that
    ///     the workers finish together even when one runs slower; Python instead cuts
    ///     `ceil(count / (4 × processes))` items per chunk.
    ///   - timeout: The time limit of each item (overrides the pool's `taskTimeout`).
    ///   - progress: Called with the call's ``CallProgress`` as items come in, as tqdm would
    ///     show it; the last call, with ``CallProgress/isFinished`` set, comes before `map`
    ///     returns or throws. It runs in a task of its own, one call at a time, and a handler
    ///     slower than the items skips to the latest snapshot (so even the first may already
    ///     count some items). Without one, the call keeps no progress at all.
    ///   - isolation: The caller's actor, where the call runs; leave it to the default.
    /// - Throws: the first failed item in input order: a ``TaskError`` for an error thrown by
    ///   the task, a ``PoolError`` for a worker that died, an item over its time limit, or a
    ///   pool that was terminated; `CancellationError` if the calling task was cancelled.
    public func map<T: PoolTask>(
        _ task: T, _ items: some Sequence<T.Input>, chunksize: Int? = nil, timeout: Duration? = nil,
        progress: (@Sendable (CallProgress) -> Void)? = nil,
        isolation: isolated (any Actor)? = #isolation
    ) async throws -> [T.Output] {
        let items = Array(items)
        guard core.tracer != nil else {
            return try await mapSubmitted(task, items, chunksize, timeout, progress, isolation: isolation)
        }
        return try await core.traced("ProcessPool.map", isolation: isolation) {
            try await mapSubmitted(task, items, chunksize, timeout, progress, isolation: isolation)
        }
    }

    /// `map` past its span: submits the items, reports their progress to `progress` if given,
    /// and waits for their outputs.
    private func mapSubmitted<T: PoolTask>(
        _ task: T, _ items: [T.Input], _ chunksize: Int?, _ timeout: Duration?,
        _ progress: (@Sendable (CallProgress) -> Void)?, isolation: isolated (any Actor)?
    ) async throws -> [T.Output] {
        guard let progress else {
            let job = try submitMap(
                task, items, chunksize: chunksize, timeout: timeout, reporter: nil,
                onSuccess: nil, onError: nil
            ) { $0 }
            return try await awaitCancellable(job, isolation: isolation)
        }
        let reporter = ProgressReporter(total: items.count)
        let updates = reporter.updates()
        let handler = Task {
            for await snapshot in updates { progress(snapshot) }
        }
        let outcome: Result<[T.Output], any Error>
        do {
            let job = try submitMap(
                task, items, chunksize: chunksize, timeout: timeout, reporter: reporter,
                onSuccess: nil, onError: nil
            ) { $0 }
            outcome = .success(try await awaitCancellable(job, isolation: isolation))
        } catch {
            // A call that failed has ended its progress already; one refused at once has not.
            reporter.finish(at: ItemCounts())
            outcome = .failure(error)
        }
        await handler.value
        return try outcome.get()
    }

    /// Starts `map` and returns at once: Python's `map_async`. The handle's `get()` returns the
    /// outputs in input order, and its ``AsyncResult/progress`` reports the items as they come in.
    ///
    /// - Parameters:
    ///   - task: What to run on each item; its stored properties travel with it.
    ///   - items: The arguments, one per item.
    ///   - chunksize: Items sent to a worker at a time (see `map`).
    ///   - timeout: The time limit of each item (overrides the pool's `taskTimeout`).
    ///   - onSuccess: Called with the outputs when all items succeeded, before `get()` returns.
    ///   - onError: Called with the error when an item failed. A callback that throws is logged
    ///     and does not affect the pool.
    /// - Throws: at once, for a bad `chunksize`, a pool that was closed, or a task or item that
    ///   cannot be encoded.
    public func mapAsync<T: PoolTask>(
        _ task: T,
        _ items: some Sequence<T.Input>,
        chunksize: Int? = nil,
        timeout: Duration? = nil,
        onSuccess: AsyncResult<[T.Output]>.SuccessCallback? = nil,
        onError: AsyncResult<[T.Output]>.ErrorCallback? = nil
    ) throws(PoolError) -> AsyncResult<[T.Output]> {
        let items = Array(items)
        return try submitMap(
            task, items, chunksize: chunksize, timeout: timeout, reporter: ProgressReporter(total: items.count),
            onSuccess: onSuccess, onError: onError, spanName: "ProcessPool.mapAsync"
        ) { $0 }.result
    }

    /// Waits for a blocking call's result on `actor`, the caller's; cancelling the waiting task
    /// cancels the call.
    func awaitCancellable<Job: CallJob>(_ job: Job, isolation actor: isolated (any Actor)?) async throws -> Job.Value {
        // The handler takes the caller's isolation (`#isolation`, here `actor`): it does not leave it.
        try await withTaskCancellationHandler {
            try await job.result.get(isolation: actor)
        } onCancel: {
            job.markCancelled()
            core.cancel(job)
        }
    }

    /// Splits `items` into chunks, submits them all, and returns the job that collects them and
    /// counts them for `reporter`, if there is one.
    func submitMap<T: PoolTask, Value: Sendable>(
        _ task: T,
        _ items: [T.Input],
        chunksize: Int?,
        timeout: Duration?,
        reporter: ProgressReporter?,
        onSuccess: AsyncResult<Value>.SuccessCallback?,
        onError: AsyncResult<Value>.ErrorCallback?,
        spanName: String? = nil,
        finish: @escaping @Sendable ([T.Output]) -> Value
    ) throws(PoolError) -> MapJob<T.Output, Value> {
        if let chunksize, chunksize < 1 {
            throw PoolError(.invalidArgument, "chunksize must be at least 1, got \(chunksize)")
        }
        let timeLimit = try effectiveTimeLimit(timeout)
        try core.ensureAcceptingWork()
        let encodedTask = try encodeValue(task, role: "task")
        // `map` runs in a span of its own already; `mapAsync` returns first, so its span ends
        // with its outcome.
        let span = spanName.flatMap { core.startCallSpan($0) }
        let observation = core.observation(of: ObjectIdentifier(T.self), encodedTask, in: span)
        let plan =
            chunksize.map { ChunkPlan(itemCount: items.count, size: $0) }
            ?? ChunkPlan(itemCount: items.count, processes: processes)
        let chunkCount = plan.ranges.count
        let result = AsyncResult<Value>(onSuccess: onSuccess, onError: onError, reporter: reporter)
        let job = MapJob<T.Output, Value>(
            chunkCount: chunkCount, itemCount: items.count, result: result, reporter: reporter, finish: finish)
        result.ends(span)
        // Chunks go to the scheduler in portions of at most about a megabyte, and of 64 chunks at
        // first, twice as many each time: workers start while the rest is still being encoded,
        // where one portion of all would have every chunk encoded before the first ran.
        var portion: [ChunkWork] = []
        var portionBytes = 0
        var portionLimit = 64
        do {
            for (index, range) in plan.ranges.enumerated() {
                let chunk = try makeChunk(
                    task: encodedTask, taskType: ObjectIdentifier(T.self), items: items, range: range, index: index,
                    firstItem: range.lowerBound, timeLimit: timeLimit,
                    maxMessageBytes: core.settings.maxMessageBytes, sink: job, call: observation)
                portion.append(chunk)
                portionBytes += chunk.frameBytes
                if portionBytes >= 1 << 20 || portion.count >= portionLimit || index == chunkCount - 1 {
                    try core.submit(portion, wholeCall: portion.count == chunkCount)
                    portion.removeAll(keepingCapacity: true)
                    portionBytes = 0
                    // Large chunks end portions by size: the count limit must not overflow.
                    portionLimit = min(portionLimit, 1 << 30) * 2
                }
            }
        } catch {
            // Some chunks may be queued already: the call fails as a whole.
            job.markFailed(error)
            core.cancel(job)
            throw error
        }
        return job
    }

    /// A call's time limit per item: its own, else the pool's.
    func effectiveTimeLimit(_ timeout: Duration?) throws(PoolError) -> Duration? {
        if let timeout, timeout <= .zero {
            throw PoolError(.invalidArgument, "timeout must be positive or nil, got \(timeout)")
        }
        return timeout ?? taskTimeout
    }
}
