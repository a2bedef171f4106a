extension ProcessPool {
    /// Runs `task` on one input in a worker and returns its output: Python's `pool.apply`.
    /// - Throws: a ``TaskError`` if the task threw, a ``PoolError`` if the worker died or the
    ///   pool was closed.
    public func apply<T: PoolTask>(_ task: T, _ input: T.Input) async throws -> T.Output {
        try await applyAsync(task, input).get()
    }

    /// Starts `apply` and returns at once: Python's `apply_async`.
    ///
    /// - Parameters:
    ///   - onSuccess: Called with the output before `get()` returns it.
    ///   - onError: Called with the error before `get()` throws it. A callback that throws is
    ///     logged and does not affect the pool.
    public func applyAsync<T: PoolTask>(
        _ task: T,
        _ input: T.Input,
        onSuccess: AsyncResult<T.Output>.SuccessCallback? = nil,
        onError: AsyncResult<T.Output>.ErrorCallback? = nil
    ) throws(PoolError) -> AsyncResult<T.Output> {
        try submitBatch(task, [input], chunksize: 1, onSuccess: onSuccess, onError: onError) { $0[0] }
    }
}
