import Synchronization

/// Collects the chunks of one blocking or async call (`map`, `starmap` and their async forms;
/// `applyAsync` uses ``ApplyJob``, `apply` ``SingleCall``) and fulfills its ``AsyncResult`` with
/// every output in input order, or with the error of the first failed item in input order, as
/// soon as every chunk before that item is in.
final class MapJob<Output: Codable & Sendable, Value: Sendable>: CallJob {
    let result: AsyncResult<Value>
    private let finish: @Sendable ([Output]) -> Value

    private struct State {
        var chunks: [[Output]?]
        var completed: [Bool]
        var completedPrefix = 0
        var remaining: Int
        var firstError: (item: Int, chunk: Int, error: any Error)?
        var done = false
    }
    private let state: Mutex<State>

    private enum Finish { case none, success([[Output]?]), failure(any Error) }

    init(chunkCount: Int, result: AsyncResult<Value>, finish: @escaping @Sendable ([Output]) -> Value) {
        self.result = result
        self.finish = finish
        self.state = Mutex(State(chunks: Array(repeating: nil, count: chunkCount),
                                 completed: Array(repeating: false, count: chunkCount),
                                 remaining: chunkCount))
        if chunkCount == 0 { result.fulfill(.success(finish([]))) }
    }

    var isFinished: Bool { state.withLock { $0.done } }

    /// Ends the call with `error` unless it has ended already.
    func markFailed(_ error: any Error) {
        let wasDone = state.withLock { state in
            defer { state.done = true }
            return state.done
        }
        if !wasDone { result.fulfill(.failure(error)) }
    }

    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {
        var outputs: [Output]?
        var failure: (item: Int, error: any Error)?
        switch DecodedChunk<Output>(chunk, completion) {
        case .outputs(let values):
            outputs = values
        case .items(let items):
            for (offset, item) in items.enumerated() {
                if case .failure(let error) = item {
                    failure = (chunk.firstItem + offset, error)
                    break
                }
            }
            if failure == nil { outputs = items.map { try! $0.get() } }
        }
        let action: Finish = state.withLock { state in
            guard !state.done else { return .none }
            state.chunks[chunk.index] = outputs
            state.completed[chunk.index] = true
            state.remaining -= 1
            while state.completedPrefix < state.completed.count && state.completed[state.completedPrefix] {
                state.completedPrefix += 1
            }
            if let failure, state.firstError.map({ failure.item < $0.item }) ?? true {
                state.firstError = (failure.item, chunk.index, failure.error)
            }
            if let first = state.firstError, state.completedPrefix > first.chunk || state.remaining == 0 {
                state.done = true
                return .failure(first.error)
            }
            if state.remaining == 0 {
                state.done = true
                let chunks = state.chunks
                state.chunks = []
                return .success(chunks)
            }
            return .none
        }
        switch action {
        case .none:
            break
        case .failure(let error):
            result.fulfill(.failure(error))
        case .success(let chunks):
            var all: [Output] = []
            var total = 0
            for chunk in chunks { total += chunk?.count ?? 0 }
            all.reserveCapacity(total)
            for chunk in chunks { all.append(contentsOf: chunk!) }
            result.fulfill(.success(finish(all)))
        }
    }
}
