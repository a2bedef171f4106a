extension ProcessPool {
    /// Runs `task` on every item in the workers and returns the outputs in input order:
    /// Python's `pool.map(func, iterable, chunksize)`. The caller waits until all are done.
    ///
    /// - Parameters:
    ///   - chunksize: Items sent to a worker at a time. Default: as Python, about a quarter of
    ///     an even share per worker (`ceil(count / (4 × processes))`).
    /// - Throws: the first failed item in input order: a ``TaskError`` for an error thrown by
    ///   the task, a ``PoolError`` for a worker that died or a pool that was terminated.
    public func map<T: PoolTask>(_ task: T, _ items: some Sequence<T.Input>, chunksize: Int? = nil) async throws -> [T.Output] {
        try await mapAsync(task, items, chunksize: chunksize).get()
    }

    /// Starts `map` and returns at once: Python's `map_async`. The handle's `get()` returns the
    /// outputs in input order.
    ///
    /// - Parameters:
    ///   - onSuccess: Called with the outputs when all items succeeded, before `get()` returns.
    ///   - onError: Called with the error when an item failed. A callback that throws is logged
    ///     and does not affect the pool.
    /// - Throws: at once, for a bad `chunksize`, a pool that was closed, or a task or item that
    ///   cannot be encoded.
    public func mapAsync<T: PoolTask>(
        _ task: T,
        _ items: some Sequence<T.Input>,
        chunksize: Int? = nil,
        onSuccess: AsyncResult<[T.Output]>.SuccessCallback? = nil,
        onError: AsyncResult<[T.Output]>.ErrorCallback? = nil
    ) throws(PoolError) -> AsyncResult<[T.Output]> {
        try submitBatch(task, Array(items), chunksize: chunksize, onSuccess: onSuccess, onError: onError) { $0 }
    }

    /// Python's default chunk size for `map`: four chunks per worker, rounded up.
    func defaultChunkSize(itemCount: Int) -> Int {
        let (quotient, remainder) = itemCount.quotientAndRemainder(dividingBy: processes * 4)
        return max(1, quotient + (remainder > 0 ? 1 : 0))
    }

    /// Splits `items` into chunks, submits them all, and returns the handle that collects them.
    func submitBatch<T: PoolTask, Value: Sendable>(
        _ task: T,
        _ items: [T.Input],
        chunksize: Int?,
        onSuccess: AsyncResult<Value>.SuccessCallback?,
        onError: AsyncResult<Value>.ErrorCallback?,
        finish: @escaping @Sendable ([T.Output]) -> Value
    ) throws(PoolError) -> AsyncResult<Value> {
        if let chunksize, chunksize < 1 {
            throw PoolError(.invalidArgument, "chunksize must be at least 1, got \(chunksize)")
        }
        try core.ensureAcceptingWork()
        let encodedTask = try encodeValue(task, role: "task")
        let size = chunksize ?? defaultChunkSize(itemCount: items.count)
        let chunkCount = (items.count + size - 1) / size
        let result = AsyncResult<Value>(onSuccess: onSuccess, onError: onError)
        let job = MapJob<T.Output, Value>(chunkCount: chunkCount, result: result, finish: finish)
        var chunks: [ChunkWork] = []
        chunks.reserveCapacity(chunkCount)
        for index in 0..<chunkCount {
            let start = index * size
            let end = min(start + size, items.count)
            chunks.append(try makeChunk(task: encodedTask, items: Array(items[start..<end]), index: index,
                                        firstItem: start, sink: job))
        }
        if !chunks.isEmpty { try core.submit(chunks) }
        return result
    }
}
