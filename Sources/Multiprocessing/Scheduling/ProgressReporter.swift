import Synchronization

/// Publishes one call's progress to whoever asks for it: each ``updates()`` is a stream of
/// coalesced ``CallProgress`` snapshots (the latest wins, never a backlog), starting with the
/// current one and finishing after the last.
///
/// The call's job counts its items under its own lock, as it records their chunks; the
/// reporter does not see them until someone watches. Until then the job's only extra step per
/// chunk is ``isWatched``, one relaxed load, and a blocking `map` without a `progress` handler
/// has no reporter at all. The first watcher reads the counts through the job (``connect(_:)``);
/// from then on the job hands them over with each chunk (``advance(to:)``). Whatever the call's
/// end, its job calls ``finish(at:)`` with the final counts.
final class ProgressReporter: Sendable {
    private struct Listener {
        let id: Int
        let continuation: AsyncStream<CallProgress>.Continuation
    }

    private struct State {
        var tally: ProgressTally
        var listeners: [Listener] = []
        var nextID = 0
        /// The snapshot sent last, kept for those who ask after the call ended.
        var last: CallProgress?
        /// Reads the job's counts now; nil once the job is gone (its call is over).
        var source: (@Sendable () -> ItemCounts?)?
    }

    private let start = ContinuousClock.now
    private let state: Mutex<State>
    private let watched = Atomic<Bool>(false)

    init(total: Int?) {
        let tally = ProgressTally(total: total)
        // A call of no items is over as it starts.
        state = Mutex(State(tally: tally, last: tally.isFinished ? tally.snapshot(elapsed: .zero) : nil))
    }

    /// Whether anyone has asked for the progress: the job hands over its counts only then.
    ///
    /// Relaxed is enough: a watcher sets it before reading the counts under the job's lock, so
    /// a chunk recorded under that lock after the read sees it set.
    var isWatched: Bool { watched.load(ordering: .relaxed) }

    /// How to read the job's counts; set once, by the job, before anyone can ask.
    func connect(_ source: @escaping @Sendable () -> ItemCounts?) {
        state.withLock { $0.source = source }
    }

    /// The job's counts after a chunk, on a reader thread.
    func advance(to counts: ItemCounts) {
        update { $0.advance(to: counts) }
    }

    /// A stream's input ended after `total` items.
    func setTotal(_ total: Int) {
        update { $0.setTotal(total) }
    }

    /// The call ended, with these counts.
    func finish(at counts: ItemCounts) {
        update { $0.finish(at: counts) }
    }

    /// Applies `change` to the tally; sends the new snapshot to every listener, and finishes
    /// them if `change` ended the progress. Snapshots are sent with the lock held, so that two
    /// reader threads cannot deliver theirs out of order; the last one is sent after the
    /// listeners were taken out, so nothing can follow it.
    private func update(_ change: (inout ProgressTally) -> Bool) {
        let ending = state.withLock { state -> (listeners: [Listener], last: CallProgress)? in
            let ended = change(&state.tally)
            guard ended || !state.listeners.isEmpty else { return nil }
            let snapshot = state.tally.snapshot(elapsed: start.duration(to: .now))
            if ended { state.last = snapshot }
            guard ended else {
                for listener in state.listeners { listener.continuation.yield(snapshot) }
                return nil
            }
            defer { state.listeners = [] }
            return (state.listeners, snapshot)
        }
        guard let ending else { return }
        // Finishing runs each stream's termination handler, which takes the lock.
        for listener in ending.listeners {
            listener.continuation.yield(ending.last)
            listener.continuation.finish()
        }
    }

    /// A new stream of snapshots, starting with the current one.
    func updates() -> AsyncStream<CallProgress> {
        watched.store(true, ordering: .relaxed)
        // Read outside this lock: the source takes the job's, and the two are never held
        // together.
        let counts = state.withLock { $0.source }?()
        let (stream, continuation) = AsyncStream.makeStream(of: CallProgress.self, bufferingPolicy: .bufferingNewest(1))
        let ended = state.withLock { state -> Bool in
            if let counts, state.tally.advance(to: counts) {
                state.last = state.tally.snapshot(elapsed: start.duration(to: .now))
            }
            if let last = state.last {
                continuation.yield(last)
                return true
            }
            continuation.yield(state.tally.snapshot(elapsed: start.duration(to: .now)))
            let id = state.nextID
            state.nextID += 1
            state.listeners.append(Listener(id: id, continuation: continuation))
            continuation.onTermination = { [weak self] _ in self?.removeListener(id) }
            return false
        }
        if ended { continuation.finish() }
        return stream
    }

    private func removeListener(_ id: Int) {
        state.withLock { state in state.listeners.removeAll { $0.id == id } }
    }
}
