/// Dispatch: chunks in, to the workers that can take them.
extension PoolCore {
    /// Queues chunks and dispatches what the workers can take. `fromOpenStream`: chunks of an
    /// `imap` started before `close()`, which are still accepted while the pool closes.
    /// `wholeCall`: these are all the chunks of one call, which may then run as a ``ChunkGroup``.
    func submit(_ chunks: [ChunkWork], fromOpenStream: Bool = false, wholeCall: Bool = false) throws(PoolError) {
        let toSend: [any PoolWorker] = try state.withLock { (state: inout SchedulerState) throws(PoolError) -> [any PoolWorker] in
            if fromOpenStream && state.fatal == nil {
                // A stream started earlier: it finishes while the pool closes, and learns of a
                // terminate() the way its submitted items do.
                if state.phase == .terminating {
                    throw PoolError(.terminated, "the pool was terminated before these items were submitted")
                }
            } else {
                try state.checkAcceptingWork()
            }
            if wholeCall, let members = offerAsGroup(chunks, &state) { return members }
            state.pending.append(contentsOf: chunks)
            return schedule(&state)
        }
        send(to: toSend)
    }

    /// ``SchedulerState/schedule(maxTasksPerChild:)``, with the watchdog told of time limits.
    func schedule(_ state: inout SchedulerState) -> [any PoolWorker] {
        let (toSend, timed) = state.schedule(maxTasksPerChild: settings.maxTasksPerChild)
        if timed { pokeWatchdog() }
        if let metrics {
            metrics.queuedChunks.record(state.pending.count)
            metrics.busyWorkers.record(state.workers.values.reduce(0) { $0 + ($1.inFlight.isEmpty ? 0 : 1) })
        }
        return toSend
    }

    /// Sends what is queued for these workers, then wakes the ones asleep on the board with one
    /// system call: a wake-up may preempt this thread, and by then every worker has its chunk
    /// (see ``WakeBoard``).
    func send(to workers: [any PoolWorker]) {
        var asleep: [Int32] = []
        for worker in workers {
            if let slot = worker.sendQueued() { asleep.append(slot) }
        }
        wakeBoard?.ring(asleep)
    }
}
