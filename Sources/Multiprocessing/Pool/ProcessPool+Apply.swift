extension ProcessPool {
    /// Runs `task` on one input in a worker and returns its output: Python's `pool.apply`.
    ///
    /// - Parameter timeout: The item's time limit (overrides the pool's `taskTimeout`).
    /// - Throws: a ``TaskError`` if the task threw, a ``PoolError`` if the worker died, the
    ///   item ran over its time limit or the pool was closed; `CancellationError` if the calling
    ///   task was cancelled (the worker running the item is then killed, per the pool's
    ///   ``CancellationPolicy``).
    public func apply<T: PoolTask>(_ task: T, _ input: T.Input, timeout: Duration? = nil) async throws -> T.Output {
        try await awaitCancellable(submitOne(task, input, timeout: timeout, onSuccess: nil, onError: nil))
    }

    /// Starts `apply` and returns at once: Python's `apply_async`.
    ///
    /// - Parameters:
    ///   - timeout: The item's time limit (overrides the pool's `taskTimeout`).
    ///   - onSuccess: Called with the output before `get()` returns it.
    ///   - onError: Called with the error before `get()` throws it. A callback that throws is
    ///     logged and does not affect the pool.
    public func applyAsync<T: PoolTask>(
        _ task: T,
        _ input: T.Input,
        timeout: Duration? = nil,
        onSuccess: AsyncResult<T.Output>.SuccessCallback? = nil,
        onError: AsyncResult<T.Output>.ErrorCallback? = nil
    ) throws(PoolError) -> AsyncResult<T.Output> {
        try submitOne(task, input, timeout: timeout, onSuccess: onSuccess, onError: onError).result
    }

    /// Submits one item as one chunk.
    func submitOne<T: PoolTask>(
        _ task: T,
        _ input: T.Input,
        timeout: Duration?,
        onSuccess: AsyncResult<T.Output>.SuccessCallback?,
        onError: AsyncResult<T.Output>.ErrorCallback?
    ) throws(PoolError) -> ApplyJob<T.Output> {
        let timeLimit = try effectiveTimeLimit(timeout)
        try core.ensureAcceptingWork()
        let encodedTask = try encodeValue(task, role: "task")
        let job = ApplyJob(result: AsyncResult<T.Output>(onSuccess: onSuccess, onError: onError))
        let chunk = try makeChunk(task: encodedTask, taskType: ObjectIdentifier(T.self), items: [input], index: 0,
                                  firstItem: 0, timeLimit: timeLimit,
                                  maximumMessageSize: core.settings.maximumFrameSize, sink: job)
        try core.submit([chunk])
        return job
    }
}
