extension ProcessPool {
    /// Runs `task` on the items lazily and yields each output in input order as soon as it and
    /// those before it are done: Python's `pool.imap(func, iterable, chunksize=1)`.
    ///
    /// Work starts at once. `timeout` is each item's time limit (overrides the pool's
    /// `taskTimeout`). Cancelling the iterating task cancels the call's remaining items. At most a bounded window of chunks is in flight or waiting to be
    /// consumed, so an endless or huge input streams in constant memory. Iterating throws at a
    /// failed item; use ``IMapSequence/results`` to get every item's `Result` and go on past
    /// failures.
    public func imap<T: PoolTask, S: Sequence>(
        _ task: T,
        _ items: sending S,
        chunksize: Int = 1,
        timeout: Duration? = nil
    ) throws(PoolError) -> IMapSequence<T.Output> where S.Element == T.Input {
        try startStream(task, items, chunksize: chunksize, timeout: timeout, ordered: true)
    }

    /// Like ``imap(_:_:chunksize:timeout:)`` but yields outputs in the order they finish:
    /// Python's `imap_unordered`.
    public func imapUnordered<T: PoolTask, S: Sequence>(
        _ task: T,
        _ items: sending S,
        chunksize: Int = 1,
        timeout: Duration? = nil
    ) throws(PoolError) -> IMapSequence<T.Output> where S.Element == T.Input {
        try startStream(task, items, chunksize: chunksize, timeout: timeout, ordered: false)
    }

    private func startStream<T: PoolTask, S: Sequence>(
        _ task: T, _ items: sending S, chunksize: Int, timeout: Duration?, ordered: Bool
    ) throws(PoolError) -> IMapSequence<T.Output> where S.Element == T.Input {
        guard chunksize >= 1 else {
            throw PoolError(.invalidArgument, "chunksize must be at least 1, got \(chunksize)")
        }
        let timeLimit = try effectiveTimeLimit(timeout)
        try core.ensureAcceptingWork()
        let encodedTask = try encodeValue(task, role: "task")
        let job = StreamJob<T.Input, T.Output>(
            core: core, task: encodedTask, input: AnyIterator(items.makeIterator()), chunkSize: chunksize,
            ordered: ordered, window: max(16, processes * 24), timeLimit: timeLimit)
        try job.refill()
        return IMapSequence(source: job, ordered: ordered, chunksize: chunksize)
    }
}
