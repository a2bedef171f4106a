import Synchronization

/// Publishes one call's progress to whoever asks for it: each ``updates()`` is a stream of
/// coalesced ``CallProgress`` snapshots (the latest wins, never a backlog), starting with the
/// current one and finishing after the last.
///
/// A call made without anyone able to ask (a blocking `map` without a `progress` handler) has
/// none: its job checks for nil. Calls that return a handle make one, and pay a lock per chunk;
/// snapshots, with their clock reading, are made only while someone listens.
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
    }

    private let start = ContinuousClock.now
    private let state: Mutex<State>

    init(total: Int?) {
        let tally = ProgressTally(total: total)
        // A call of no items is over as it starts.
        state = Mutex(State(tally: tally, last: tally.isFinished ? tally.snapshot(elapsed: .zero) : nil))
    }

    /// Counts a chunk's items, on a reader thread.
    func record(done: Int, failed: Int) {
        update { $0.record(done: done, failed: failed) }
    }

    /// A stream's input ended after `total` items.
    func setTotal(_ total: Int) {
        update { $0.setTotal(total) }
    }

    /// The call ended before every item was in (it failed, or was cancelled).
    func finish() {
        update { $0.finish() }
    }

    /// Applies `change` to the counts; sends the new snapshot to every listener, and finishes
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
        let (stream, continuation) = AsyncStream.makeStream(of: CallProgress.self, bufferingPolicy: .bufferingNewest(1))
        let finished = state.withLock { state -> Bool in
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
        if finished { continuation.finish() }
        return stream
    }

    private func removeListener(_ id: Int) {
        state.withLock { state in state.listeners.removeAll { $0.id == id } }
    }
}
