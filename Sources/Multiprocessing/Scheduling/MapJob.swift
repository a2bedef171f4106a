import Synchronization

/// Collects the chunks of one blocking or async call (`map`, `starmap` and their async forms;
/// `applyAsync` uses ``ApplyJob``, `apply` ``ApplyCall``) and fulfills its ``AsyncResult`` with
/// every output in input order, or with the error of the first failed item in input order, as
/// soon as every chunk before that item is in.
final class MapJob<Output: Codable & Sendable, Value: Sendable>: CallJob {
    let result: AsyncResult<Value>
    private let finish: @Sendable ([Output]) -> Value
    private let progress: Mutex<MapProgress>
    /// Where each chunk's outputs go as it comes in.
    private let outputs: MapOutputs<Output>
    /// The caller's view of the call's progress, if one may ask for it; the items are counted
    /// only then.
    private let reporter: ProgressReporter?
    /// Read without the lock by the scheduler, for every chunk it dispatches.
    private let done = Atomic<Bool>(false)

    init(
        chunkCount: Int, itemCount: Int, result: AsyncResult<Value>, reporter: ProgressReporter?,
        finish: @escaping @Sendable ([Output]) -> Value
    ) {
        self.result = result
        self.outputs = MapOutputs(count: chunkCount == 0 ? 0 : itemCount)
        self.finish = finish
        self.reporter = reporter
        self.progress = Mutex(MapProgress(chunkCount: chunkCount))
        reporter?.connect { [weak self] in self?.progress.withLock { $0.items } }
        if chunkCount == 0 {
            done.store(true, ordering: .releasing)
            result.fulfill(.success(finish([])))
        }
    }

    var isFinished: Bool { done.load(ordering: .acquiring) }

    /// Ends the call with `error` unless it has ended already.
    func markFailed(_ error: any Error) {
        let (wasRunning, items) = progress.withLock { ($0.end(), $0.items) }
        done.store(true, ordering: .releasing)
        reporter?.finish(at: items)
        if wasRunning { result.fulfill(.failure(error)) }
    }

    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {
        // A call that is over needs no more outputs.
        if isFinished { return }
        let values = Self.values(of: chunk, completion, into: outputs)
        let counted = reporter != nil
        let (outcome, items) = progress.withLock { progress -> (MapProgress.Outcome, ItemCounts) in
            if counted { progress.count(values, itemCount: chunk.itemCount) }
            return (progress.record(chunk: chunk.index, values), progress.items)
        }
        if let reporter {
            if case .pending = outcome {
                if reporter.isWatched { reporter.advance(to: items) }
            } else {
                reporter.finish(at: items)
            }
        }
        if case .pending = outcome { return }
        complete(outcome)
    }

    /// Fulfills the result once the call is over. Apart, and not inlined: the type of the result
    /// it makes is looked up at the runtime where this code runs, and in `chunkFinished` that
    /// lookup was made for every chunk.
    @inline(never)
    private func complete(_ outcome: MapProgress.Outcome) {
        switch outcome {
        case .pending:
            break
        case .failed(let error):
            done.store(true, ordering: .releasing)
            result.fulfill(.failure(error))
        case .succeeded:
            done.store(true, ordering: .releasing)
            result.fulfill(.success(finish(outputs.take())))
        }
    }

    /// Stores a chunk's outputs in `outputs`, or says which of its items failed first. The
    /// common case, every item succeeded, copies raw numbers straight into place, or decodes an
    /// array that is then stored; anything else goes through ``DecodedChunk``.
    private static func values(of chunk: ChunkWork, _ completion: ChunkCompletion, into outputs: MapOutputs<Output>) -> ChunkValues {
        if case .answered(.allSucceeded(let items), _) = completion {
            if outputs.place(items, at: chunk.firstItem, count: chunk.itemCount) { return .stored }
            if let decoded = try? items.decode([Output].self), decoded.count == chunk.itemCount {
                outputs.store(decoded, at: chunk.firstItem)
                return .stored
            }
        }
        return slowValues(of: chunk, completion, into: outputs)
    }

    /// Apart, so that the common case does not pay for the generic types of this one.
    @inline(never)
    private static func slowValues(of chunk: ChunkWork, _ completion: ChunkCompletion, into outputs: MapOutputs<Output>) -> ChunkValues {
        switch DecodedChunk<Output>(chunk, completion) {
        case .outputs(let decoded):
            outputs.store(decoded, at: chunk.firstItem)
            return .stored
        case .items(let items):
            var first: (item: Int, error: any Error)?
            var count = 0
            for (offset, item) in items.enumerated() {
                guard case .failure(let error) = item else { continue }
                if first == nil { first = (chunk.firstItem + offset, error) }
                count += 1
            }
            if let first { return .failed(item: first.item, error: first.error, count: count) }
            outputs.store(items.map { try! $0.get() }, at: chunk.firstItem)
            return .stored
        }
    }
}
