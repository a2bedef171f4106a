/// The counts behind a call's ``CallProgress``: what ``ProgressReporter`` keeps under its lock,
/// and the decision of when the call's progress is over. Not to be confused with
/// ``MapProgress``, which collects a `map`'s chunks.
struct ProgressTally: Equatable {
    private(set) var done = 0
    private(set) var failed = 0
    /// Nil while a stream's input is still being read.
    private(set) var total: Int?
    /// No more counts are taken: the last snapshot was sent.
    private(set) var isFinished = false

    init(total: Int?) {
        self.total = total
        isFinished = total == 0
    }

    /// Counts a chunk's items. Returns true if the call's progress is over with it (every item is
    /// in). Ignored once finished.
    mutating func record(done: Int, failed: Int) -> Bool {
        guard !isFinished else { return false }
        self.done += done
        self.failed += failed
        return finishIfComplete()
    }

    /// The input turned out to have `total` items. Returns true if they are all in already.
    mutating func setTotal(_ total: Int) -> Bool {
        guard !isFinished else { return false }
        self.total = total
        return finishIfComplete()
    }

    /// Ends the progress early (the call failed or was cancelled). Returns whether it was
    /// still going.
    mutating func finish() -> Bool {
        defer { isFinished = true }
        return !isFinished
    }

    private mutating func finishIfComplete() -> Bool {
        guard let total, done + failed >= total else { return false }
        isFinished = true
        return true
    }

    /// The snapshot of these counts, `elapsed` after the call started.
    func snapshot(elapsed: Duration) -> CallProgress {
        CallProgress(done: done, failed: failed, total: total, elapsed: elapsed, isFinished: isFinished)
    }
}
