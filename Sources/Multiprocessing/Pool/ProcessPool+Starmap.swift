extension ProcessPool {
    /// Like `map`, but each item is an argument tuple spread over the task's
    /// ``StarArguments``: Python's `pool.starmap(func, [(a, b), ...])`.
    ///
    /// ```swift
    /// let sums = try await pool.starmap(Add(), [(1, 2), (3, 4)])   // [3, 7]
    /// ```
    /// Like `map`, it runs on the caller's actor (`isolation`; leave it to the default), and
    /// reports its items to `progress`, if given, as `map` does.
    public func starmap<T: PoolTask, each Argument: Codable & Sendable>(
        _ task: T,
        _ items: [(repeat each Argument)],
        chunksize: Int? = nil,
        timeout: Duration? = nil,
        progress: (@Sendable (CallProgress) -> Void)? = nil,
        isolation: isolated (any Actor)? = #isolation
    ) async throws -> [T.Output] where T.Input == StarArguments<repeat each Argument> {
        let arguments = items.map { (tuple: (repeat each Argument)) in StarArguments(repeat each tuple) }
        return try await map(task, arguments, chunksize: chunksize, timeout: timeout, progress: progress, isolation: isolation)
    }

    /// Starts `starmap` and returns at once: Python's `starmap_async`.
    public func starmapAsync<T: PoolTask, each Argument: Codable & Sendable>(
        _ task: T,
        _ items: [(repeat each Argument)],
        chunksize: Int? = nil,
        timeout: Duration? = nil,
        onSuccess: AsyncResult<[T.Output]>.SuccessCallback? = nil,
        onError: AsyncResult<[T.Output]>.ErrorCallback? = nil
    ) throws(PoolError) -> AsyncResult<[T.Output]> where T.Input == StarArguments<repeat each Argument> {
        let arguments = items.map { (tuple: (repeat each Argument)) in StarArguments(repeat each tuple) }
        return try mapAsync(task, arguments, chunksize: chunksize, timeout: timeout, onSuccess: onSuccess, onError: onError)
    }
}
