/// Produces the results of a streaming call a chunk at a time.
@usableFromInline
protocol StreamSource<Output>: Sendable {
    associatedtype Output: Sendable
    /// The results of the next chunk, or nil after the last.
    func nextChunk() async throws -> [Result<Output, any Error>]?
}

/// Yields a stream's results one by one from the chunk in hand. Inlinable, so that the
/// per-item step is specialised in the caller's code (no generic metadata look-ups per item).
@usableFromInline
struct ChunkCursor<Output: Sendable> {
    @usableFromInline let source: any StreamSource<Output>
    @usableFromInline var chunk: [Result<Output, any Error>] = []
    @usableFromInline var position = 0

    init(source: any StreamSource<Output>) { self.source = source }

    @inlinable
    mutating func next() async throws -> Result<Output, any Error>? {
        while position == chunk.count {
            guard let next = try await source.nextChunk() else { return nil }
            chunk = next
            position = 0
        }
        defer { position += 1 }
        return chunk[position]
    }
}

/// The lazy results of ``ProcessPool/imap(_:_:chunksize:timeout:)`` and
/// ``ProcessPool/imapUnordered(_:_:chunksize:timeout:)``: Python's `IMapIterator`.
///
/// ```swift
/// for try await x in try pool.imap(Worker1(), [100, 50]) { logger.info("\(x)") }
/// ```
/// Iterate it once: the sequence is the one stream of results of its call.
public struct IMapSequence<Output: Sendable>: AsyncSequence, Sendable, CustomStringConvertible {
    /// Each output.
    public typealias Element = Output
    let source: any StreamSource<Output>
    let ordered: Bool
    let chunksize: Int

    /// Yields the outputs; throws the error of a failed item (a ``TaskError`` or ``PoolError``).
    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline var cursor: ChunkCursor<Output>

        /// The next output, or nil after the last.
        @inlinable
        public mutating func next() async throws -> Output? {
            guard let result = try await cursor.next() else { return nil }
            return try result.get()
        }
    }

    /// Starts iterating.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(cursor: ChunkCursor(source: source)) }

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
        @usableFromInline var cursor: ChunkCursor<Output>

        /// The next item's result, or nil after the last.
        @inlinable
        public mutating func next() async throws -> Result<Output, any Error>? {
            try await cursor.next()
        }
    }

    /// Starts iterating.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(cursor: ChunkCursor(source: source)) }
}
