/// What the scheduler can tell about itself, for diagnosing a stuck call and for tests.
extension PoolCore {
    /// The scheduler's state in one line (workers, chunks in flight, what waits); its format
    /// may change.
    var stateDescription: String {
        state.withLock { state in
            let workers = state.workers.keys.sorted().map { key -> String in
                let slot = state.workers[key]!
                return
                    "\(slot.worker.label.name)[ready: \(slot.isReady), inFlight: \(slot.inFlight.map(\.chunkID)), sent: \(slot.sentChunks)]"
            }
            let group =
                state.group.map {
                    " group: \($0.id) of \($0.chunks.count)\($0.isDrained ? " (drained)" : ""), members \($0.members.sorted())"
                } ?? ""
            return
                "phase: \(state.phase), pending: \(state.pending.first.map { "\($0.chunkID)…" } ?? "none"), workers: \(workers.joined(separator: " "))\(group)"
        }
    }

    /// How many calls have run as a ``ChunkGroup``.
    var groupsMade: UInt64 { state.withLock { $0.nextGroupID } }

    /// How many workers sleep on the wake board now.
    var workersAsleepOnBoard: Int {
        let workers = state.withLock { $0.workers.values.map(\.worker) }
        return workers.filter { ($0 as? LocalWorker)?.wake?.isAsleep ?? false }.count
    }
}
