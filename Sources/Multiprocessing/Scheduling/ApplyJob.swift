import Synchronization

/// Collects the single chunk of `applyAsync`: the light sibling of ``MapJob``, without per-chunk
/// bookkeeping. (`apply`, which needs no ``AsyncResult`` and no callbacks, uses the lighter
/// ``ApplyCall``.)
final class ApplyJob<Output: Codable & Sendable>: CallJob {
    let result: AsyncResult<Output>
    private let done = Atomic<Bool>(false)

    init(result: AsyncResult<Output>) {
        self.result = result
    }

    var isFinished: Bool { done.load(ordering: .acquiring) }

    func markFailed(_ error: any Error) {
        if !done.exchange(true, ordering: .acquiringAndReleasing) { result.fulfill(.failure(error)) }
    }

    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        switch DecodedChunk<Output>(chunk, completion) {
        case .outputs(let values): result.fulfill(.success(values[0]))
        case .items(let items): result.fulfill(items[0])
        }
    }
}
