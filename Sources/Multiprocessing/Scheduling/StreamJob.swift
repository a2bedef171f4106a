import Synchronization
import Tracing

/// An `imap` call as the scheduler sees it while the pool closes.
protocol OpenStream: AnyObject, Sendable {
    /// Submits the rest of the input at once (the pool is closing: what was started finishes,
    /// as in Python), then reports the stream closed.
    func submitRemainingInput()
}

/// What a ``StreamJob`` has received and handed out. Not generic, like ``MapProgress``, and
/// outside the class for that (a type nested in a generic class is generic too): the reader
/// threads update it for every chunk, and each generic type they touch costs a runtime
/// metadata lookup.
private struct StreamState {
    /// Ordered: finished chunks by index. Unordered: finished chunks in completion order.
    var finished: [Int: any ChunkOutputs] = [:]
    var completionOrder: [Int] = []
    var nextToYield = 0
    var submitted = 0
    var consumed = 0
    var inputExhausted = false
    var waiter: CheckedContinuation<Void, Never>?
    var cancelled = false
    /// Why the chunks after those submitted could not be: thrown to the consumer once it
    /// has had every result before that point (as Python's `imap` raises at the item).
    var failure: PoolError?
    /// The items of the finished chunks, for the call's progress.
    var items = ItemCounts()

    /// What the consumer's next step is; `mutating` as it takes what it returns.
    mutating func nextStep(ordered: Bool) -> StreamStep {
        if cancelled { return .cancelled }
        if let index = nextFinishedIndex(ordered: ordered), let items = finished.removeValue(forKey: index) {
            consumed += 1
            return .chunk(items)
        }
        guard consumed == submitted else { return .wait }
        if let failure {
            self.failure = nil
            inputExhausted = true
            return .failed(failure)
        }
        return inputExhausted ? .end : .wait
    }

    mutating func nextFinishedIndex(ordered: Bool, peek: Bool = false) -> Int? {
        if ordered {
            guard finished[nextToYield] != nil else { return nil }
            if !peek { nextToYield += 1 }
            return peek ? nextToYield : nextToYield - 1
        }
        while let first = completionOrder.first {
            if finished[first] != nil {
                if !peek { completionOrder.removeFirst() }
                return first
            }
            completionOrder.removeFirst()
        }
        return nil
    }
}

/// The consumer's next step.
private enum StreamStep {
    case chunk(any ChunkOutputs)
    case end, wait, cancelled
    case failed(PoolError)
}

/// Drives one `imap` or `imapUnordered` call: pulls input lazily, keeps a bounded window of
/// chunks submitted but not yet consumed, and hands results to the one consumer as they arrive
/// (in input order, or in completion order). Memory stays bounded however long the input is,
/// unlike Python's `imap`, which reads the whole input at once.
final class StreamJob<Input: Codable & Sendable, Output: Codable & Sendable>: ChunkSink, OpenStream {
    typealias Item = Result<Output, any Error>

    /// Makes the chunks; lives behind its own lock because only the consumer refills.
    private struct Producer {
        /// Appends up to `count` items; specialised for the caller's sequence type.
        var pull: (inout [Input], Int) -> Void
        let chunkSize: Int
        var nextChunk = 0
        var nextItem = 0
        var exhausted = false
        /// The pool is closing: the window no longer bounds what is submitted.
        var unbounded = false
    }

    /// A chunk's results, item by item.
    private final class ResultsBox: ChunkOutputs {
        let items: [Item]
        init(_ items: [Item]) { self.items = items }
    }

    private let core: PoolCore
    private let task: EncodedValue
    private let taskType: ObjectIdentifier
    /// Taken when the call was made: the caller's trace context is its at that moment.
    private let observation: CallObservation?
    /// The call's span, when a tracer was bootstrapped: it ends when the call is over (its
    /// sequence dropped and its chunks done, so that nothing holds the job).
    private let span: (any Span)?
    private let timeLimit: Duration?
    private let ordered: Bool
    private let window: Int
    private let producer: Mutex<Producer>
    private let state = Mutex(StreamState())
    /// The call's progress, for ``IMapSequence/progress``: its total is known once the input ends.
    let reporter = ProgressReporter(total: nil)
    /// Whether the scheduler was told that this stream submits nothing more.
    private let reportedClosed = Atomic<Bool>(false)

    init(
        core: PoolCore, task: EncodedValue, taskType: ObjectIdentifier, pull: sending @escaping (inout [Input], Int) -> Void,
        chunkSize: Int, ordered: Bool,
        window: Int, timeLimit: Duration?
    ) {
        self.core = core
        self.task = task
        self.taskType = taskType
        let span = core.startCallSpan(ordered ? "ProcessPool.imap" : "ProcessPool.imapUnordered")
        self.span = span
        self.observation = core.observation(of: taskType, task, in: span)
        self.timeLimit = timeLimit
        self.ordered = ordered
        self.window = window
        self.producer = Mutex(Producer(pull: pull, chunkSize: chunkSize))
        reporter.connect { [weak self] in self?.state.withLock { $0.items } }
    }

    /// Ends the call's progress at the items in so far.
    private func finishProgress() {
        reporter.finish(at: state.withLock { $0.items })
    }

    deinit {
        // Dropped by its consumer before the end: it submits nothing more.
        reportClosed()
        span?.end()
    }

    /// Registers the stream with the scheduler; call once, before the first `refill`.
    func open() throws(PoolError) {
        try core.streamOpened(self)
    }

    /// Submits chunks until `window` are outstanding or the input ends (the whole input once
    /// the pool is closing).
    func refill() throws(PoolError) {
        do {
            try submitChunks()
        } catch {
            reportClosed()
            throw error
        }
    }

    private func submitChunks() throws(PoolError) {
        let outstanding = state.withLock { $0.submitted - $0.consumed }
        let (chunks, exhausted, itemsRead) = try producer.withLock {
            (producer: inout Producer) throws(PoolError) -> ([ChunkWork], Bool, Int) in
            var chunks: [ChunkWork] = []
            while !producer.exhausted && (producer.unbounded || outstanding + chunks.count < window) {
                var items: [Input] = []
                items.reserveCapacity(producer.chunkSize)
                producer.pull(&items, producer.chunkSize)
                if items.count < producer.chunkSize { producer.exhausted = true }
                guard !items.isEmpty else { break }
                chunks.append(
                    try makeChunk(
                        task: task, taskType: taskType, items: items, index: producer.nextChunk,
                        firstItem: producer.nextItem, timeLimit: timeLimit,
                        maxMessageBytes: core.settings.maxMessageBytes, sink: self, call: observation))
                producer.nextChunk += 1
                producer.nextItem += items.count
            }
            return (chunks, producer.exhausted, producer.nextItem)
        }
        state.withLock { state in
            state.submitted += chunks.count
            state.inputExhausted = exhausted
        }
        do {
            if !chunks.isEmpty { try core.submit(chunks, fromOpenStream: true) }
        } catch {
            // Refused (the pool was terminated meanwhile): these chunks will never answer, so
            // the reader must not wait for them.
            state.withLock { state in
                state.submitted -= chunks.count
                state.inputExhausted = false
            }
            throw error
        }
        if exhausted {
            reporter.setTotal(itemsRead)
            reportClosed()
        }
    }

    /// `refill` for after the first: an error (an item that cannot be encoded, a pool
    /// terminated meanwhile) is kept for the consumer, after the results submitted before it.
    private func refillKeepingFailure() {
        do {
            try refill()
        } catch {
            // The items after the failure will never run: the call's progress ends here.
            finishProgress()
            let waiter = state.withLock { state in
                if state.failure == nil { state.failure = error }
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    /// Nobody holds the call's results any more (its sequence and iterators are gone): submit
    /// nothing more, not even when the pool closes, and withdraw what has not started, as for a
    /// cancelled call: nobody would read it, and a pool that closes would wait for it.
    func consumerGone() {
        producer.withLock { $0.exhausted = true }
        finishProgress()
        let outstanding = state.withLock { !$0.cancelled && $0.consumed < $0.submitted }
        if outstanding {
            cancel()
        } else {
            reportClosed()
        }
    }

    func submitRemainingInput() {
        producer.withLock { $0.unbounded = true }
        refillKeepingFailure()
        reportClosed()
    }

    /// Tells the scheduler, once, that this stream submits nothing more.
    private func reportClosed() {
        if !reportedClosed.exchange(true, ordering: .acquiringAndReleasing) {
            core.streamClosed(ObjectIdentifier(self))
        }
    }

    var isFinished: Bool { state.withLock { $0.cancelled } }

    /// The consumer is gone or cancelled: stop submitting, drop waiting chunks, have workers
    /// skip those they hold and (per the pool's setting) kill workers running this call's items.
    func cancel() {
        let first = state.withLock { state in
            defer { state.cancelled = true }
            return !state.cancelled
        }
        if first { core.cancel(self) }
        finishProgress()
        reportClosed()
    }

    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {
        let (items, failures) = Self.results(of: chunk, completion)
        let (waiter, counts) = state.withLock { state -> (CheckedContinuation<Void, Never>?, ItemCounts) in
            state.items.add(itemCount: chunk.itemCount, failed: failures)
            state.finished[chunk.index] = items
            if !ordered { state.completionOrder.append(chunk.index) }
            // An ordered consumer waits for one chunk: waking it for a later one would cost its
            // executor a job for nothing.
            guard !ordered || chunk.index == state.nextToYield else { return (nil, state.items) }
            defer { state.waiter = nil }
            return (state.waiter, state.items)
        }
        if reporter.isWatched { reporter.advance(to: counts) }
        waiter?.resume()
    }

    /// A chunk's results, boxed, and how many of its items failed. Made here on the reader
    /// thread rather than by the consumer, which is the one thread every result of the call
    /// goes through.
    private static func results(of chunk: ChunkWork, _ completion: ChunkCompletion) -> (any ChunkOutputs, failures: Int) {
        switch DecodedChunk<Output>(chunk, completion) {
        case .outputs(let outputs):
            // A loop, not `map`: unspecialised, `map`'s closure looked up the metadata of
            // `Result<Output, any Error>` once per item (a quarter of the reader threads' time).
            var items: [Item] = []
            items.reserveCapacity(outputs.count)
            for output in outputs { items.append(.success(output)) }
            return (ResultsBox(items), 0)
        case .items(let results):
            var failures = 0
            for result in results {
                if case .failure = result { failures += 1 }
            }
            return (ResultsBox(results), failures)
        }
    }

    /// The results of the next chunk (in order or in completion order), or nil after the
    /// last. The consumer takes a whole chunk at a time, so yielding an item costs no lock.
    /// Throws only if the pool refused more work or the consumer was cancelled. Runs on `actor`,
    /// the consumer's, and is resumed there when it had to wait: the consumer's executor sees
    /// one job per wait, not per item.
    func nextChunk(isolation actor: isolated (any Actor)?) async throws -> [Item]? {
        while true {
            let step = state.withLock { $0.nextStep(ordered: ordered) }
            switch step {
            case .cancelled:
                throw CancellationError()
            case .chunk(let box):
                refillKeepingFailure()
                return unsafeDowncast(box, to: ResultsBox.self).items
            case .failed(let error):
                throw error
            case .end:
                return nil
            case .wait:
                if Task.isCancelled {
                    cancel()
                    throw CancellationError()
                }
                // Both take the caller's isolation (`#isolation`, here `actor`): neither leaves it.
                await withTaskCancellationHandler {
                    await withCheckedContinuation(isolation: actor) { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = state.withLock { state in
                            if Task.isCancelled || state.nextFinishedIndex(ordered: ordered, peek: true) != nil { return true }
                            if state.failure != nil && state.consumed == state.submitted { return true }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    cancel()
                    state.withLock { state in
                        defer { state.waiter = nil }
                        return state.waiter
                    }?.resume()
                }
            }
        }
    }
}

/// Encodes a chunk's items into a run frame. `timeLimit` is per item; `call` is what the call
/// adds to each of its chunks (metrics, trace context).
func makeChunk<Input: Encodable & Sendable>(
    task: EncodedValue, taskType: ObjectIdentifier, items: [Input], index: Int, firstItem: Int,
    timeLimit: Duration?, maxMessageBytes: Int,
    sink: any ChunkSink, call: CallObservation? = nil
) throws(PoolError) -> ChunkWork {
    try makeChunk(
        task: task, taskType: taskType, items: items, range: items.indices, index: index, firstItem: firstItem,
        timeLimit: timeLimit, maxMessageBytes: maxMessageBytes, sink: sink, call: call)
}

/// The run frame of the chunk `items[range]`, whose first item is the call's `firstItem`: sent
/// from `items` in place when they are numbers the coder writes raw (see ``InPlaceInputs``),
/// encoded otherwise.
func makeChunk<Input: Encodable & Sendable>(
    task: EncodedValue, taskType: ObjectIdentifier, items: [Input], range: Range<Int>, index: Int, firstItem: Int,
    timeLimit: Duration?, maxMessageBytes: Int,
    sink: any ChunkSink, call: CallObservation? = nil
) throws(PoolError) -> ChunkWork {
    if let inPlace = InPlaceInputs.split(items, range) {
        return try makeChunk(
            task: task, taskType: taskType, inputs: inPlace.head, inputsBody: inPlace.body, itemCount: range.count,
            index: index, firstItem: firstItem, timeLimit: timeLimit, maxMessageBytes: maxMessageBytes, sink: sink,
            call: call)
    }
    let inputs: EncodedItems
    do {
        inputs = try PackedArrayPlacement.encoded(items, range) ?? EncodedItems.encode(range == items.indices ? items : Array(items[range]))
    } catch {
        throw PoolError(.encodingFailed, "items \(firstItem)..<\(firstItem + range.count) could not be encoded: \(error)")
    }
    return try makeChunk(
        task: task, taskType: taskType, inputs: inputs, itemCount: range.count, index: index,
        firstItem: firstItem, timeLimit: timeLimit, maxMessageBytes: maxMessageBytes, sink: sink, call: call)
}

/// Builds the run frame of a chunk whose `itemCount` items are already encoded (in `inputs`,
/// continued by `inputsBody` if given).
func makeChunk(
    task: EncodedValue, taskType: ObjectIdentifier, inputs: EncodedItems, inputsBody: WireBytes? = nil, itemCount: Int,
    index: Int, firstItem: Int, timeLimit: Duration?, maxMessageBytes: Int, sink: any ChunkSink,
    call: CallObservation? = nil
) throws(PoolError) -> ChunkWork {
    let chunkID = ChunkIDs.next()
    let frame = ParentMessage.encodeRunFrame(
        chunkID: chunkID, task: task, inputs: inputs, inputsBody: inputsBody, traceCarrier: call?.traceCarrier,
        mayHoldAnswer: timeLimit == nil)
    let size = frame.reduce(0) { $0 + $1.count } - 4
    guard size <= maxMessageBytes else {
        throw PoolError(
            .messageTooLarge,
            "items \(firstItem)..<\(firstItem + itemCount) encode to \(size) bytes, over the pool's maxMessageBytes (\(maxMessageBytes))")
    }
    return ChunkWork(
        chunkID: chunkID, taskType: taskType, frame: frame, frameBytes: size + 4, index: index, firstItem: firstItem,
        itemCount: itemCount, timeLimit: timeLimit.map { $0 * itemCount }, sink: sink, metrics: call?.metrics)
}

/// Chunk ids, unique in the process, so a stray answer can never match another call's chunk.
enum ChunkIDs {
    private static let counter = Atomic<UInt64>(1)
    static func next() -> UInt64 { counter.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// The consumer's hold on a stream: ``IMapSequence`` and its iterators keep it, the stream's
/// chunks do not, so its end tells the stream that nobody will read what is left.
final class StreamConsumer<Input: Codable & Sendable, Output: Codable & Sendable>: StreamSource {
    private let job: StreamJob<Input, Output>

    init(_ job: StreamJob<Input, Output>) {
        self.job = job
    }

    deinit {
        job.consumerGone()
    }

    func nextChunk(isolation actor: isolated (any Actor)?) async throws -> [Result<Output, any Error>]? {
        try await job.nextChunk(isolation: actor)
    }
}
