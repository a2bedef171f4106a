extension AsyncResult {
    /// The call's progress, as coalesced snapshots: the current one at once, then one as items
    /// come in (the latest, if the consumer is slower than the workers), and a last one with
    /// ``CallProgress/isFinished`` set when the call ends; then the sequence finishes, whether
    /// the call succeeded, failed or was cancelled.
    ///
    /// ```swift
    /// let handle = try pool.mapAsync(Render(), frames)
    /// for await p in handle.progress {
    ///     print("\(p.completed)/\(p.total ?? 0)", p.estimatedTimeRemaining ?? .zero)
    /// }
    /// ```
    /// Each access is a stream of its own, for one consumer; several can watch one call. The
    /// handle of an `applyAsync` call, a single item, reports it once, when it ends (its
    /// `elapsed` counted from the first look at `progress`).
    public var progress: AsyncStream<CallProgress> {
        if let reporter { return reporter.updates() }
        let start = ContinuousClock.now
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let waiter = Task {
                await wait()
                let succeeded = (try? isSuccessful) ?? false
                continuation.yield(
                    CallProgress(
                        done: succeeded ? 1 : 0, failed: succeeded ? 0 : 1, total: 1, elapsed: start.duration(to: .now),
                        isFinished: true))
                continuation.finish()
            }
            continuation.onTermination = { _ in waiter.cancel() }
        }
    }
}
