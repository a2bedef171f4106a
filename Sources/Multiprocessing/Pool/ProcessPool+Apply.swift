extension ProcessPool {
    /// Runs `task` on one input in a worker and returns its output: Python's `pool.apply`.
    ///
    /// - Parameter timeout: The item's time limit (overrides the pool's `taskTimeout`).
    /// - Throws: a ``TaskError`` if the task threw, a ``PoolError`` if the worker died, the
    ///   item ran over its time limit or the pool was closed; `CancellationError` if the calling
    ///   task was cancelled (the worker running the item is then killed, per the pool's
    ///   ``CancellationPolicy``).
    public func apply<T: PoolTask>(_ task: T, _ input: T.Input, timeout: Duration? = nil) async throws -> T.Output {
        let job = try submitBatch(task, [input], chunksize: 1, timeout: timeout, onSuccess: nil, onError: nil) { $0[0] }
        return try await awaitCancellable(job)
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
        try submitBatch(task, [input], chunksize: 1, timeout: timeout, onSuccess: onSuccess, onError: onError) { $0[0] }.result
    }
}
