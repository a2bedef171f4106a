extension ProcessPool {
    /// Like `map`, but each item is an argument tuple spread over the task's
    /// ``StarArguments``: Python's `pool.starmap(func, [(a, b), ...])`.
    ///
    /// ```swift
    /// let sums = try await pool.starmap(Add(), [(1, 2), (3, 4)])   // [3, 7]
    /// ```
    public func starmap<T: PoolTask, each Argument: Codable & Sendable>(
        _ task: T,
        _ items: [(repeat each Argument)],
        chunksize: Int? = nil
    ) async throws -> [T.Output] where T.Input == StarArguments<repeat each Argument> {
        try await starmapAsync(task, items, chunksize: chunksize).get()
    }

    /// Starts `starmap` and returns at once: Python's `starmap_async`.
    public func starmapAsync<T: PoolTask, each Argument: Codable & Sendable>(
        _ task: T,
        _ items: [(repeat each Argument)],
        chunksize: Int? = nil,
        onSuccess: AsyncResult<[T.Output]>.SuccessCallback? = nil,
        onError: AsyncResult<[T.Output]>.ErrorCallback? = nil
    ) throws(PoolError) -> AsyncResult<[T.Output]> where T.Input == StarArguments<repeat each Argument> {
        let arguments = items.map { (tuple: (repeat each Argument)) in StarArguments(repeat each tuple) }
        return try mapAsync(task, arguments, chunksize: chunksize, onSuccess: onSuccess, onError: onError)
    }
}
