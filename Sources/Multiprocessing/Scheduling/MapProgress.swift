/// What a finished chunk brought a `map` call.
enum ChunkValues: Sendable {
    /// Every item succeeded, and the outputs are in the call's ``MapOutputs``.
    case stored
    /// The chunk's first failed item, in input order, and its error; `count` items of the
    /// chunk failed in all.
    case failed(item: Int, error: any Error, count: Int)
}

/// Which chunks of a `map` call are in, and the call's first failure: the state of ``MapJob``
/// (the outputs themselves are in its ``MapOutputs``).
///
/// Not generic, on purpose: `MapJob` runs unspecialised on the reader threads, where each
/// generic type the code touches (this state, its lock, the optionals and tuples around it)
/// costs a runtime metadata lookup per chunk; with the state generic, those lookups were a
/// large share of the reader threads' time in a `map` of one item per chunk.
struct MapProgress {
    /// What the call does after a chunk is recorded.
    enum Outcome: Sendable {
        /// Wait for more chunks (or the call was over already).
        case pending
        /// Fail with the first failed item's error: every chunk before it is in.
        case failed(any Error)
        /// Every chunk succeeded: the outputs are all stored.
        case succeeded
    }

    private var completed: [Bool]
    /// Chunks 0..<completedPrefix are all in.
    private var completedPrefix = 0
    private var remaining: Int
    private var firstFailure: (item: Int, chunk: Int, error: any Error)?
    private(set) var isDone: Bool
    /// The items of the chunks counted so far, for the caller's progress.
    private(set) var items = ItemCounts()

    init(chunkCount: Int) {
        completed = Array(repeating: false, count: chunkCount)
        remaining = chunkCount
        isDone = chunkCount == 0
    }

    /// Ends the call from outside (an early error, a cancellation). Returns whether it was
    /// still running.
    mutating func end() -> Bool {
        defer { isDone = true }
        return !isDone
    }

    /// Counts the `itemCount` items of a chunk about to be recorded; those of a call that is
    /// over already are not counted.
    mutating func count(_ values: ChunkValues, itemCount: Int) {
        guard !isDone else { return }
        switch values {
        case .stored: items.add(itemCount: itemCount, failed: 0)
        case .failed(_, _, let count): items.add(itemCount: itemCount, failed: count)
        }
    }

    /// Records chunk `index`.
    mutating func record(chunk index: Int, _ values: ChunkValues) -> Outcome {
        guard !isDone else { return .pending }
        completed[index] = true
        remaining -= 1
        while completedPrefix < completed.count && completed[completedPrefix] {
            completedPrefix += 1
        }
        if case .failed(let item, let error, _) = values, firstFailure.map({ item < $0.item }) ?? true {
            firstFailure = (item, index, error)
        }
        if let first = firstFailure {
            guard completedPrefix > first.chunk || remaining == 0 else { return .pending }
            isDone = true
            return .failed(first.error)
        }
        guard remaining == 0 else { return .pending }
        isDone = true
        return .succeeded
    }
}
