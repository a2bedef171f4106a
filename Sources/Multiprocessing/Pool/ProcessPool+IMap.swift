extension ProcessPool {
    /// Runs `task` on the items lazily and yields each output in input order as soon as it and
    /// those before it are done: Python's `pool.imap(func, iterable, chunksize=1)`. (A chunk that
    /// ran in microseconds may reach the parent with the next ones, a millisecond or two later
    /// at most: workers write quick answers in bursts.)
    ///
    /// Work starts at once. `timeout` is each item's time limit (overrides the pool's
    /// `taskTimeout`). Cancelling the iterating task cancels the call's remaining items, and so
    /// does dropping the sequence and its iterators before the end (a `break` out of
    /// `for try await`): items not started are withdrawn, running ones finish or are killed per
    /// the pool's ``ProcessPool/CancellationPolicy``. At most `buffersize` chunks are in flight
    /// or waiting to be consumed, so an endless or huge input streams in constant memory.
    /// Iterating throws at a failed item; use ``IMapSequence/results`` to get every item's
    /// `Result` and go on past failures, and ``IMapSequence/progress`` to watch the call.
    ///
    /// - Parameters:
    ///   - task: What to run on each item; its stored properties travel with it.
    ///   - items: The arguments, read a chunk at a time as the window has room.
    ///   - chunksize: Items sent to a worker at a time.
    ///   - timeout: The time limit of each item (overrides the pool's `taskTimeout`).
    ///   - buffersize: The window: how many chunks may be submitted and not yet taken by the
    ///     consumer (running, waiting for a worker, or finished and waiting to be yielded), as
    ///     Python's `buffersize` (new in 3.16) bounds its tasks ahead of the consumer. At most
    ///     `buffersize × chunksize` items are read beyond the chunk being yielded. Default: 24 per
    ///     worker and at least 16, enough to keep every worker busy; a smaller one reads less of
    ///     the input ahead, at the price of idle workers when the consumer is slow.
    /// - Throws: ``PoolError/Code-swift.struct/invalidArgument`` for a `chunksize` or
    ///   `buffersize` below 1, or a pool that no longer takes work.
    @inlinable
    public func imap<T: PoolTask, S: Sequence>(
        _ task: T,
        _ items: sending S,
        chunksize: Int = 1,
        timeout: Duration? = nil,
        buffersize: Int? = nil
    ) throws(PoolError) -> IMapSequence<T.Output> where S.Element == T.Input {
        try startStream(
            task, chunksize: chunksize, timeout: timeout, buffersize: buffersize, ordered: true, pull: Self.puller(items))
    }

    /// Like ``imap(_:_:chunksize:timeout:buffersize:)`` but yields outputs in the order they
    /// finish: Python's `imap_unordered`. Its `buffersize` bounds its window the same way.
    @inlinable
    public func imapUnordered<T: PoolTask, S: Sequence>(
        _ task: T,
        _ items: sending S,
        chunksize: Int = 1,
        timeout: Duration? = nil,
        buffersize: Int? = nil
    ) throws(PoolError) -> IMapSequence<T.Output> where S.Element == T.Input {
        try startStream(
            task, chunksize: chunksize, timeout: timeout, buffersize: buffersize, ordered: false, pull: Self.puller(items))
    }

    /// The window of an `imap` that is not given a `buffersize`.
    var defaultStreamWindow: Int { max(16, processes * 24) }

    /// Reads the input a chunk at a time. Made in the caller's (inlined) code, so the loop is
    /// specialised for its sequence type instead of going through a type-erased iterator.
    @inlinable
    static func puller<S: Sequence>(_ items: sending S) -> (inout [S.Element], Int) -> Void {
        var iterator = items.makeIterator()
        return { chunk, count in
            while chunk.count < count, let item = iterator.next() { chunk.append(item) }
        }
    }

    @usableFromInline
    func startStream<T: PoolTask>(
        _ task: T, chunksize: Int, timeout: Duration?, buffersize: Int?, ordered: Bool,
        pull: sending @escaping (inout [T.Input], Int) -> Void
    ) throws(PoolError) -> IMapSequence<T.Output> {
        guard chunksize >= 1 else {
            throw PoolError(.invalidArgument, "chunksize must be at least 1, got \(chunksize)")
        }
        if let buffersize, buffersize < 1 {
            throw PoolError(
                .invalidArgument, "buffersize must be at least 1 (chunks submitted ahead of the consumer) or nil, got \(buffersize)")
        }
        let timeLimit = try effectiveTimeLimit(timeout)
        try core.ensureAcceptingWork()
        let encodedTask = try encodeValue(task, role: "task")
        let job = StreamJob<T.Input, T.Output>(
            core: core, task: encodedTask, taskType: ObjectIdentifier(T.self), pull: pull, chunkSize: chunksize,
            ordered: ordered, window: buffersize ?? defaultStreamWindow, timeLimit: timeLimit)
        try job.open()
        try job.refill()
        return IMapSequence(source: StreamConsumer(job), ordered: ordered, chunksize: chunksize, reporter: job.reporter)
    }
}
