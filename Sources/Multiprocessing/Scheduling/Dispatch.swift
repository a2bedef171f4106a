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
        recordGauges(state)
        return toSend
    }

    /// Sets the gauges of queued chunks and busy workers. The members of a chunk group not yet
    /// drained take its chunks themselves: they are busy, and its unanswered chunks beyond the
    /// one each member runs are waiting.
    func recordGauges(_ state: SchedulerState) {
        guard let metrics else { return }
        let group = state.group.flatMap { $0.isDrained ? nil : $0 }
        let members = group?.members ?? []
        let busy = state.workers.reduce(0) { $0 + (!$1.value.inFlight.isEmpty || members.contains($1.key) ? 1 : 0) }
        metrics.queuedChunks.record(state.pending.count + max(0, (group?.unsettledCount ?? 0) - members.count))
        metrics.busyWorkers.record(busy)
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
