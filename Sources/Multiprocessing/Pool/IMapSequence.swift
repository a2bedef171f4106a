/// Produces the results of a streaming call a chunk at a time.
@usableFromInline
protocol StreamSource<Output>: Sendable {
    associatedtype Output: Sendable
    /// The results of the next chunk, or nil after the last. Runs on `actor` (the consumer's),
    /// so that a chunk already here is taken without leaving it.
    func nextChunk(isolation actor: isolated (any Actor)?) async throws -> [Result<Output, any Error>]?
}

/// Yields a stream's results one by one from the chunk in hand. Inlinable, so that the
/// per-item step is specialised in the caller's code (no generic metadata look-ups per item).
@usableFromInline
struct ChunkCursor<Output: Sendable> {
    @usableFromInline let source: any StreamSource<Output>
    @usableFromInline var chunk: [Result<Output, any Error>] = []
    @usableFromInline var position = 0

    init(source: any StreamSource<Output>) { self.source = source }

    /// The next item's result, or nil after the last; on `actor` throughout, so that an item of
    /// the chunk in hand costs no suspension and no executor switch.
    @inlinable
    mutating func next(isolation actor: isolated (any Actor)?) async throws -> Result<Output, any Error>? {
        while position == chunk.count {
            guard let next = try await source.nextChunk(isolation: actor) else { return nil }
            chunk = next
            position = 0
        }
        defer { position += 1 }
        return chunk[position]
    }
}

/// The lazy results of ``ProcessPool/imap(_:_:chunksize:timeout:buffersize:)`` and
/// ``ProcessPool/imapUnordered(_:_:chunksize:timeout:buffersize:)``: Python's `IMapIterator`.
///
/// ```swift
/// for try await x in try pool.imap(Worker1(), [100, 50]) { logger.info("\(x)") }
/// ```
/// Iterate it once: the sequence is the one stream of results of its call. `for try await`
/// takes each output on the iterating code's actor (the main actor, say): it suspends only to
/// wait for results that have not arrived, not for each output.
public struct IMapSequence<Output: Sendable>: AsyncSequence, Sendable, CustomStringConvertible {
    /// Each output.
    public typealias Element = Output
    let source: any StreamSource<Output>
    let ordered: Bool
    let chunksize: Int
    let reporter: ProgressReporter

    /// Yields the outputs; throws the error of a failed item (a ``TaskError`` or ``PoolError``).
    public struct AsyncIterator: AsyncIteratorProtocol {
        /// What iterating throws: a ``TaskError``, a ``PoolError`` or `CancellationError`.
        public typealias Failure = any Error
        @usableFromInline var cursor: ChunkCursor<Output>

        /// The next output, or nil after the last, on the caller's actor: `for try await` calls
        /// this, and an output of a chunk already received is taken without leaving the actor.
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(Failure) -> Output? {
            guard let result = try await cursor.next(isolation: actor) else { return nil }
            return try result.get()
        }

        /// The next output, or nil after the last.
        @inlinable
        public mutating func next() async throws -> Output? {
            try await next(isolation: nil)
        }
    }

    /// Starts iterating.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(cursor: ChunkCursor(source: source)) }

    /// The call's progress, as ``AsyncResult/progress`` reports a `mapAsync`'s: coalesced
    /// snapshots, the last one when the call ends. Items count when a worker has finished them,
    /// whether or not the sequence has yielded them yet, and ``CallProgress/total`` is nil until
    /// the input has been read to its end.
    ///
    /// ```swift
    /// let outputs = try pool.imap(Resize(), photos)
    /// let updates = outputs.progress
    /// let bar = Task { for await p in updates { print(p) } }
    /// for try await image in outputs { save(image) }
    /// await bar.value
    /// ```
    /// Dropping the sequence before the end cancels the call and ends its progress. So take the
    /// stream before handing it to another task, as above: a task that captured the sequence
    /// itself would keep the call alive, and its progress open, after a `break`.
    public var progress: AsyncStream<CallProgress> { reporter.updates() }

    /// Every item's outcome, failures included, so iteration can go on past a failed item.
    public var results: IMapResults<Output> { IMapResults(source: source) }

    /// "IMapSequence<Int>(ordered, chunksize: 1)": what Python shows as
    /// `<multiprocessing.pool.IMapIterator object at 0x...>`.
    public var description: String {
        "IMapSequence<\(Output.self)>(\(ordered ? "ordered" : "unordered"), chunksize: \(chunksize))"
    }
}

/// Each item's `Result` from a streaming call; see ``IMapSequence/results``.
public struct IMapResults<Output: Sendable>: AsyncSequence, Sendable {
    /// One item's output or error.
    public typealias Element = Result<Output, any Error>
    let source: any StreamSource<Output>

    /// Yields each item's result; throws only `CancellationError` or a pool that refused work.
    public struct AsyncIterator: AsyncIteratorProtocol {
        /// What iterating throws: `CancellationError`, or a ``PoolError`` from a pool that refused work.
        public typealias Failure = any Error
        @usableFromInline var cursor: ChunkCursor<Output>

        /// The next item's result, or nil after the last, on the caller's actor: `for try await`
        /// calls this, and a result of a chunk already received is taken without leaving the actor.
        @inlinable
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(Failure) -> Result<Output, any Error>? {
            try await cursor.next(isolation: actor)
        }

        /// The next item's result, or nil after the last.
        @inlinable
        public mutating func next() async throws -> Result<Output, any Error>? {
            try await next(isolation: nil)
        }
    }

    /// Starts iterating.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(cursor: ChunkCursor(source: source)) }
}
