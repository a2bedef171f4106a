/// Cancellation: a call that wants no more results.
extension PoolCore {
    /// A call was cancelled: drop its waiting chunks, ask workers to skip those they hold and,
    /// if the pool is set to, kill the workers running its items (they are replaced). Other
    /// calls are not affected.
    func cancel(_ sink: any ChunkSink) {
        let killRunning = settings.cancellation == .killRunningTasks
        let (toKill, toSend): ([any PoolWorker], [any PoolWorker]) = state.withLock { state in
            _ = state.pending.removeAll(for: sink)
            var toKill: [any PoolWorker] = []
            var toSend: [any PoolWorker] = []
            if let group = state.group, group.chunks.first?.sink === sink {
                // No worker starts another of its chunks; those running are killed below if the
                // pool is set to (a worker holding its answers is killed too: they are not wanted).
                _ = group.withdrawUnclaimed()
                let holders = group.claimants()
                for slot in state.workers.values where killRunning && slot.killReason == nil {
                    guard let claimant = slot.worker.groupClaimant, holders.contains(claimant) else { continue }
                    slot.killReason = .cancelled
                    slot.killSent = true
                    toKill.append(slot.worker)
                }
            }
            for slot in state.workers.values {
                if slot.worker.managesItsChunks {
                    // It stops them itself, running or not, per its own pool's policy, and
                    // answers each one as failed.
                    let held = slot.inFlight.filter { $0.sink === sink }.map(\.chunkID)
                    if !held.isEmpty {
                        slot.worker.enqueueSkip(held)
                        toSend.append(slot.worker)
                    }
                    continue
                }
                // Chunks sent but not started: ask the worker to skip them. Those before the one it
                // runs are done, their answers held back or on their way.
                guard !slot.inFlight.isEmpty else { continue }
                let running = slot.runningIndex(taken: slot.worker.chunksTaken)
                let queued = slot.inFlight.dropFirst(running + 1).filter { $0.sink === sink }.map(\.chunkID)
                if !queued.isEmpty {
                    slot.worker.enqueueSkip(queued)
                    toSend.append(slot.worker)
                }
                let current = slot.inFlight[running]
                guard killRunning, current.sink === sink, slot.killReason == nil else { continue }
                slot.killReason = .cancelled
                slot.killedChunkID = current.chunkID
                slot.killSent = true
                toKill.append(slot.worker)
            }
            return (toKill, toSend)
        }
        send(to: toSend)
        for worker in toKill { worker.kill() }
    }
}
