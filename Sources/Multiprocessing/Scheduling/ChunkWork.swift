/// Receives the outcome of each chunk of one call (`map`, `imap`, `apply`, ...).
protocol ChunkSink: AnyObject, Sendable {
    /// Called at most once per submitted chunk, on a pool thread. Must not block. A chunk whose
    /// sink is finished may be dropped without a call. The completion's bytes may be slices of
    /// the reader's buffer: a sink that keeps them past the call takes
    /// ``ChunkCompletion/detachedFromReadBuffer()``.
    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion)

    /// ``chunkFinished(_:_:)`` with the worker's own measure of the chunk's run when it answered
    /// (nil otherwise): what a sink that passes outcomes on reports as the run time, rather than
    /// the time the chunk also waited in the worker's queue.
    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion, ranFor nanoseconds: UInt64?)

    /// True once the call needs no more results (it failed early or was cancelled): its
    /// waiting chunks are dropped instead of run.
    var isFinished: Bool { get }

    /// Called when one of the call's chunks is handed to `worker`, with the pool locked.
    func dispatched(to worker: any PoolWorker)
}

extension ChunkSink {
    /// Most calls do not need the run time.
    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion, ranFor nanoseconds: UInt64?) {
        chunkFinished(chunk, completion)
    }

    /// Most calls do not need to know where their chunks go.
    func dispatched(to worker: any PoolWorker) {}
}

/// A call whose caller waits on one ``AsyncResult``: what `awaitCancellable` needs.
protocol CallJob<Value>: ChunkSink {
    associatedtype Value: Sendable
    var result: AsyncResult<Value> { get }
    /// Ends the call with `error` unless it has ended already.
    func markFailed(_ error: any Error)
}

extension CallJob {
    /// The caller stopped waiting: no more results are wanted.
    func markCancelled() { markFailed(CancellationError()) }
}

/// Who ran a chunk, for error messages.
@usableFromInline
struct WorkerLabel: Sendable, Equatable {
    let name: String
    let pid: Int32
}

/// How a chunk ended, as the scheduler saw it.
enum ChunkCompletion: Sendable {
    /// The worker answered (which may still report failed items).
    case answered(ChunkOutcome, by: WorkerLabel)
    /// No answer: the worker died, the pool was terminated, ...
    case failed(PoolError)
}

extension ChunkCompletion {
    /// The same completion owning its bytes. A slice of the reader's buffer still held when the
    /// reader reads again makes that read copy the whole buffer (copy-on-write): 64 KiB per
    /// answer, where the answer itself is a few bytes.
    func detachedFromReadBuffer() -> ChunkCompletion {
        switch self {
        case .answered(.allSucceeded(let items), let worker):
            return .answered(
                .allSucceeded(outputs: EncodedItems(bytes: Array(items.bytes)[...], attachments: items.attachments)),
                by: worker)
        case .answered(.mixed(let items), let worker):
            return .answered(
                .mixed(
                    items.map { item in
                        if case .success(let bytes) = item { return .success(Array(bytes)[...]) }
                        return item
                    }), by: worker)
        case .answered(.rejected, _), .failed:
            return self
        }
    }
}

/// One unit of dispatch: some consecutive items of one call, already encoded as a run frame.
///
/// A final class of constants: the scheduler copies a chunk between its queues and the lists of
/// what a worker holds for every chunk it hands out and every answer, and a reference is one
/// count to keep, where the struct's copy kept a count on each of its frame, sink and metrics.
final class ChunkWork: Sendable {
    /// Unique in the process; the worker echoes it in its result.
    let chunkID: UInt64
    /// The task's type, which keys the scheduler's estimate of chunk run time.
    let taskType: ObjectIdentifier
    /// The complete frame (length prefix included) as pieces to send in order, so dispatch does
    /// no encoding and a large payload is never copied into a frame.
    let frame: [WireBytes]
    /// The frame's size in bytes, all pieces together.
    let frameBytes: Int
    /// Position of the chunk in its call.
    let index: Int
    /// Position of the chunk's first item in the call's input.
    let firstItem: Int
    /// Number of items in the chunk.
    let itemCount: Int
    /// How long the chunk may run in a worker before the worker is killed.
    let timeLimit: Duration?
    /// Where the outcome goes.
    let sink: any ChunkSink
    /// The task type's metrics; nil when the pool records none.
    let metrics: TaskMetrics?

    init(
        chunkID: UInt64, taskType: ObjectIdentifier, frame: [WireBytes], frameBytes: Int, index: Int, firstItem: Int,
        itemCount: Int, timeLimit: Duration?, sink: any ChunkSink, metrics: TaskMetrics? = nil
    ) {
        self.chunkID = chunkID
        self.taskType = taskType
        self.frame = frame
        self.frameBytes = frameBytes
        self.index = index
        self.firstItem = firstItem
        self.itemCount = itemCount
        self.timeLimit = timeLimit
        self.sink = sink
        self.metrics = metrics
    }
}

/// A FIFO of chunks with O(1) removal at the front and re-insertion of requeued work there.
/// A chunk taken from the front leaves its slot empty at once: a slot still holding it would
/// keep its encoded frame until the queue next compacts, long after it was sent.
struct ChunkQueue: Sendable {
    private var items: [ChunkWork?] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    /// How many chunks wait.
    var count: Int { items.count - head }
    var first: ChunkWork? { head < items.count ? items[head] : nil }

    mutating func append(_ chunk: ChunkWork) { items.append(chunk) }
    mutating func append(contentsOf chunks: [ChunkWork]) {
        items.reserveCapacity(items.count + chunks.count)
        for chunk in chunks { items.append(chunk) }
    }

    mutating func popFirst() -> ChunkWork? {
        guard head < items.count else { return nil }
        let chunk = items[head].take()
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: items.count < 4096)
            head = 0
        } else if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return chunk
    }

    /// Puts chunks back at the front, keeping their order (work a dead worker had not started).
    mutating func prepend(_ chunks: [ChunkWork]) {
        guard !chunks.isEmpty else { return }
        items.replaceSubrange(head..<head, with: chunks.lazy.map { Optional($0) })
    }

    /// Removes and returns every chunk.
    mutating func removeAll() -> [ChunkWork] {
        let rest = items[head...].map { $0! }
        items = []
        head = 0
        return rest
    }

    /// Removes and returns the chunks whose sink is `sink`.
    mutating func removeAll(for sink: any ChunkSink) -> [ChunkWork] {
        var removed: [ChunkWork] = []
        var kept: [ChunkWork?] = []
        for case let chunk? in items[head...] {
            if chunk.sink === sink { removed.append(chunk) } else { kept.append(chunk) }
        }
        items = kept
        head = 0
        return removed
    }
}
