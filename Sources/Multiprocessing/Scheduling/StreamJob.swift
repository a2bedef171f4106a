import Synchronization

/// Drives one `imap` or `imapUnordered` call: pulls input lazily, keeps a bounded window of
/// chunks submitted but not yet consumed, and hands results to the one consumer as they arrive
/// (in input order, or in completion order). Memory stays bounded however long the input is,
/// unlike Python's `imap`, which reads the whole input at once.
final class StreamJob<Input: Codable & Sendable, Output: Codable & Sendable>: ChunkSink {
    typealias Item = Result<Output, any Error>

    /// Makes the chunks; lives behind its own lock because only the consumer refills.
    private struct Producer {
        /// Appends up to `count` items; specialised for the caller's sequence type.
        var pull: (inout [Input], Int) -> Void
        let chunkSize: Int
        var nextChunk = 0
        var nextItem = 0
        var exhausted = false
    }

    private struct State {
        /// Ordered: finished chunks by index. Unordered: finished chunks in completion order.
        var finished: [Int: [Item]] = [:]
        var completionOrder: [Int] = []
        var nextToYield = 0
        var submitted = 0
        var consumed = 0
        var inputExhausted = false
        var waiter: CheckedContinuation<Void, Never>?
        var cancelled = false
    }

    private enum Step { case chunk([Item]), end, wait, cancelled }

    private let core: PoolCore
    private let task: EncodedValue
    private let taskType: ObjectIdentifier
    private let timeLimit: Duration?
    private let ordered: Bool
    private let window: Int
    private let producer: Mutex<Producer>
    private let state = Mutex(State())

    init(core: PoolCore, task: EncodedValue, taskType: ObjectIdentifier, pull: sending @escaping (inout [Input], Int) -> Void, chunkSize: Int, ordered: Bool,
         window: Int, timeLimit: Duration?) {
        self.core = core
        self.task = task
        self.taskType = taskType
        self.timeLimit = timeLimit
        self.ordered = ordered
        self.window = window
        self.producer = Mutex(Producer(pull: pull, chunkSize: chunkSize))
    }

    /// Submits chunks until `window` are outstanding or the input ends.
    func refill() throws(PoolError) {
        let outstanding = state.withLock { $0.submitted - $0.consumed }
        guard outstanding < window else { return }
        let (chunks, exhausted) = try producer.withLock { (producer: inout Producer) throws(PoolError) -> ([ChunkWork], Bool) in
            var chunks: [ChunkWork] = []
            while !producer.exhausted && outstanding + chunks.count < window {
                var items: [Input] = []
                items.reserveCapacity(producer.chunkSize)
                producer.pull(&items, producer.chunkSize)
                if items.count < producer.chunkSize { producer.exhausted = true }
                guard !items.isEmpty else { break }
                chunks.append(try makeChunk(task: task, taskType: taskType, items: items, index: producer.nextChunk,
                                            firstItem: producer.nextItem, timeLimit: timeLimit,
                                            maximumMessageSize: core.settings.maximumFrameSize, sink: self))
                producer.nextChunk += 1
                producer.nextItem += items.count
            }
            return (chunks, producer.exhausted)
        }
        state.withLock { state in
            state.submitted += chunks.count
            state.inputExhausted = exhausted
        }
        if !chunks.isEmpty { try core.submit(chunks) }
    }

    var isFinished: Bool { state.withLock { $0.cancelled } }

    /// The consumer is gone or cancelled: stop submitting, drop waiting chunks and (per the
    /// pool's setting) kill workers running this call's items.
    func cancel() {
        let first = state.withLock { state in
            defer { state.cancelled = true }
            return !state.cancelled
        }
        if first { core.cancel(self) }
    }

    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {
        let items: [Item]
        switch DecodedChunk<Output>(chunk, completion) {
        case .outputs(let outputs): items = outputs.map { .success($0) }
        case .items(let results): items = results
        }
        let waiter = state.withLock { state in
            state.finished[chunk.index] = items
            if !ordered { state.completionOrder.append(chunk.index) }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The results of the next chunk (in order or in completion order), or nil after the
    /// last. The consumer takes a whole chunk at a time, so yielding an item costs no lock.
    /// Throws only if the pool refused more work or the consumer was cancelled.
    func nextChunk() async throws -> [Item]? {
        while true {
            let step: Step = state.withLock { state in
                if state.cancelled { return .cancelled }
                if let index = nextFinishedIndex(&state), let items = state.finished.removeValue(forKey: index) {
                    state.consumed += 1
                    return .chunk(items)
                }
                if state.inputExhausted && state.consumed == state.submitted { return .end }
                return .wait
            }
            switch step {
            case .cancelled:
                throw CancellationError()
            case .chunk(let items):
                try refill()
                return items
            case .end:
                return nil
            case .wait:
                if Task.isCancelled {
                    cancel()
                    throw CancellationError()
                }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = state.withLock { state in
                            if Task.isCancelled || nextFinishedIndex(&state, peek: true) != nil { return true }
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

    private func nextFinishedIndex(_ state: inout State, peek: Bool = false) -> Int? {
        if ordered {
            guard state.finished[state.nextToYield] != nil else { return nil }
            if !peek { state.nextToYield += 1 }
            return peek ? state.nextToYield : state.nextToYield - 1
        }
        while let first = state.completionOrder.first {
            if state.finished[first] != nil {
                if !peek { state.completionOrder.removeFirst() }
                return first
            }
            state.completionOrder.removeFirst()
        }
        return nil
    }
}

/// Encodes a chunk's items into a run frame. `timeLimit` is per item.
func makeChunk<Input: Encodable>(task: EncodedValue, taskType: ObjectIdentifier, items: [Input], index: Int, firstItem: Int,
                                 timeLimit: Duration?, maximumMessageSize: Int,
                                 sink: any ChunkSink) throws(PoolError) -> ChunkWork {
    let inputs: EncodedBatch
    do {
        inputs = try EncodedBatch.encode(items)
    } catch {
        throw PoolError(.encodingFailed, "items \(firstItem)..<\(firstItem + items.count) could not be encoded: \(error)")
    }
    return try makeChunk(task: task, taskType: taskType, inputs: inputs, itemCount: items.count, index: index,
                         firstItem: firstItem, timeLimit: timeLimit, maximumMessageSize: maximumMessageSize, sink: sink)
}

/// Builds the run frame of a chunk whose `itemCount` items are already encoded.
func makeChunk(task: EncodedValue, taskType: ObjectIdentifier, inputs: EncodedBatch, itemCount: Int, index: Int, firstItem: Int,
               timeLimit: Duration?, maximumMessageSize: Int, sink: any ChunkSink) throws(PoolError) -> ChunkWork {
    let taskID = TaskIDs.next()
    let frame = ParentMessage.encodeRunFrame(taskID: taskID, task: task, inputs: inputs)
    let size = frame.reduce(0) { $0 + $1.count } - 4
    guard size <= maximumMessageSize else {
        throw PoolError(.messageTooLarge,
            "items \(firstItem)..<\(firstItem + itemCount) encode to \(size) bytes, over the pool's maxMessageBytes (\(maximumMessageSize))")
    }
    return ChunkWork(taskID: taskID, taskType: taskType, frame: frame, index: index, firstItem: firstItem, itemCount: itemCount,
                     timeLimit: timeLimit.map { $0 * itemCount }, sink: sink)
}

/// Task ids, unique in the process, so a stray answer can never match another call's chunk.
enum TaskIDs {
    private static let counter = Atomic<UInt64>(1)
    static func next() -> UInt64 { counter.wrappingAdd(1, ordering: .relaxed).oldValue }
}
