/// How many of a call's items are in so far: what its job counts under its own lock, with the
/// chunks it records, whether or not anyone watches.
struct ItemCounts: Equatable, Sendable {
    var done = 0
    var failed = 0

    /// Counts a chunk of `itemCount` items, `failed` of which failed.
    mutating func add(itemCount: Int, failed: Int) {
        done += itemCount - failed
        self.failed += failed
    }
}

/// The counts behind a call's ``CallProgress``: what ``ProgressReporter`` keeps under its lock,
/// and the decision of when the call's progress is over. Not to be confused with
/// ``MapProgress``, which collects a `map`'s chunks.
struct ProgressTally: Equatable {
    private(set) var counts = ItemCounts()
    /// Nil while a stream's input is still being read.
    private(set) var total: Int?
    /// No more counts are taken: the last snapshot was sent.
    private(set) var isFinished = false

    init(total: Int?) {
        self.total = total
        isFinished = total == 0
    }

    /// Takes the job's counts at some moment. Counts read by two threads may arrive out of
    /// order: the tally keeps the larger of each, so it never goes back. Returns true if the
    /// call's progress is over with them (every item is in). Ignored once finished.
    mutating func advance(to newer: ItemCounts) -> Bool {
        guard !isFinished else { return false }
        counts.done = max(counts.done, newer.done)
        counts.failed = max(counts.failed, newer.failed)
        return finishIfComplete()
    }

    /// The input turned out to have `total` items. Returns true if they are all in already.
    mutating func setTotal(_ total: Int) -> Bool {
        guard !isFinished else { return false }
        self.total = total
        return finishIfComplete()
    }

    /// Ends the progress at `final` counts, whether or not every item is in (the call failed,
    /// or was cancelled). Returns whether it was still going.
    mutating func finish(at final: ItemCounts) -> Bool {
        guard !isFinished else { return false }
        _ = advance(to: final)
        isFinished = true
        return true
    }

    private mutating func finishIfComplete() -> Bool {
        guard let total, counts.done + counts.failed >= total else { return false }
        isFinished = true
        return true
    }

    /// The snapshot of these counts, `elapsed` after the call started.
    func snapshot(elapsed: Duration) -> CallProgress {
        CallProgress(done: counts.done, failed: counts.failed, total: total, elapsed: elapsed, isFinished: isFinished)
    }
}
