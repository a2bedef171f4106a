/// Worker ends: what a worker's end means for the chunks it held, the pool and its replacement.
extension PoolCore {
    /// A worker ended (its implementation has already released it): fail the chunks it was
    /// running, requeue the ones it had not started, and, for a process of the pool's own, start
    /// a replacement if the pool still has work for it.
    func workerEnded(_ worker: any PoolWorker, _ end: WorkerEnd) {
        let label = worker.label
        var failed: [(chunk: ChunkWork, error: PoolError)] = []
        var abandoned: [ChunkWork] = []
        var replace = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var toShutDown: [any PoolWorker] = []
        var toSend: [any PoolWorker] = []
        var groupEnd: GroupEnd?
        var lostInGroup: [ChunkWork] = []
        var killedForCancel = false
        state.withLock { state in
            guard let slot = state.workers.removeValue(forKey: worker.key) else { return }
            if case .cancelled? = slot.killReason { killedForCancel = true }
            if let metrics, let reason = Self.deathReason(slot: slot, end: end, phase: state.phase) { metrics.workerDied(reason) }
            if let drained = state.drainedGroup, drained.leave(worker.key), drained.members.isEmpty {
                state.drainedGroup = nil
            }
            if let group = state.group {
                // What it claimed and did not answer died with it.
                if let claimant = worker.groupClaimant { lostInGroup = group.takeClaimed(by: claimant) }
                groupEnd = group.leave(worker.key) ? lastMemberLeft(group, &state) : afterSettling(group, &state)
            }
            let decision = DeadWorkerDecision(slot: slot, end: end, label: label)
            state.pending.prepend(decision.requeued)
            failed = decision.failed
            if let startFailure = decision.startFailure, state.phase != .terminating {
                state.startFailuresInARow += 1
                if state.startFailuresInARow >= settings.maxStartFailures && state.fatal == nil {
                    state.fatal = WorkerFailures.startFailure(
                        count: state.startFailuresInARow, label: label, end: end,
                        timedOut: startFailure.timedOut, initializer: settings.initializerName)
                    state.phase = .terminating
                    abandoned = state.takeUnfinishedWork()
                }
            }
            // Scheduling first hands the requeued chunks to the other workers and drops those of
            // calls that want no more results (a cancelled imap's), so what is left is real work.
            toSend = schedule(&state)
            // Only the pool's own processes are replaced; a host of a cluster that is gone is.
            let replaceable = worker is LocalWorker
            switch state.phase {
            case .running:
                replace = replaceable
            case .closing:
                // Requeued work, or an open imap's input yet to come, still needs a worker;
                // otherwise the pool is winding down.
                replace = replaceable && (!state.pending.isEmpty || !state.openStreams.isEmpty)
                toShutDown = state.shutdownIfIdle()
            case .terminating:
                replace = false
                abandoned += failed.map(\.chunk)
                failed = []
                abandoned += state.pending.removeAll()
            }
            // Counted when decided, before the chunks it held are failed: whoever sees them
            // failed sees the replacement counted.
            if replace {
                metrics?.replacements.increment()
                state.replacementsStarting += 1
            }
            if state.hasNoWorkers {
                if state.failsWithoutWorkers {
                    // Nothing is left to run what waits, nor to be replaced.
                    state.fatal =
                        state.fatal
                        ?? PoolError(
                            .workerDied,
                            "every worker of the pool is gone; the last, \(label.name) (pid \(label.pid)), ended: \(WorkerFailures.ending(end))",
                            workerName: label.name, workerPID: label.pid, exitStatus: end.status, stderrTail: end.stderrTail)
                    state.phase = .terminating
                    abandoned += state.takeUnfinishedWork()
                }
                waiters = lastWorkerGone(&state)
            }
        }
        for (chunk, error) in failed { finish(chunk, .failed(error)) }
        if !lostInGroup.isEmpty {
            let failure = WorkerFailures.groupLoss(lostInGroup, label: label, end: end, cancelled: killedForCancel)
            for chunk in lostInGroup { finish(chunk, .failed(failure)) }
        }
        groupEnd?.carryOut(self)
        if !abandoned.isEmpty {
            let error = state.withLock { $0.fatal } ?? PoolError(.terminated, "the pool was terminated before this item finished")
            for chunk in abandoned { finish(chunk, .failed(error)) }
        }
        send(to: toSend)
        for other in toShutDown { other.shutdownAfterQueued() }
        if replace {
            do {
                try spawnWorker(replacing: true)
            } catch {
                failEverything(with: error, replacementFailed: true)
            }
        }
        for waiter in waiters { waiter.resume() }
    }
}

extension PoolCore {
    /// The `reason` dimension of a worker's death: why the pool ended it, or how it ended on its
    /// own; nil for a clean exit, or a worker the pool's `terminate()` killed.
    static func deathReason(slot: TrackedWorker, end: WorkerEnd, phase: PoolPhase) -> String? {
        switch slot.killReason {
        case .timedOut?: return "timeLimit"
        case .startTimedOut?: return "startTimeLimit"
        case .cancelled?: return "cancelled"
        case nil: break
        }
        if end.violation != nil { return "protocolViolation" }
        if end.status == .exited(0) || phase == .terminating { return nil }
        return end.status == nil ? "lost" : "died"
    }
}

/// What a worker's end means for the chunks it held outside groups: a pure decision from what
/// the scheduler knew of it and how it ended, so that it can be tested without processes.
struct DeadWorkerDecision {
    /// The chunks it was running, and the error each fails with.
    var failed: [(chunk: ChunkWork, error: PoolError)] = []
    /// Chunks it never started, in order: they go back to the front of the queue.
    var requeued: [ChunkWork] = []
    /// Set when it died before it was ready: it counts towards the pool's crash-loop limit.
    var startFailure: StartFailure?

    /// A worker that never became ready; `timedOut` when the pool killed it over a limit.
    struct StartFailure {
        var timedOut: (limit: Duration, inInitializer: Bool)?
    }

    init(slot: TrackedWorker, end: WorkerEnd, label: WorkerLabel) {
        var timedOut: (limit: Duration, inInitializer: Bool)?
        if case .startTimedOut(let limit, let inInitializer)? = slot.killReason { timedOut = (limit, inInitializer) }
        let diedStarting = !slot.isReady && (slot.killReason == nil || timedOut != nil)
        if diedStarting {
            // It died starting up (e.g. in the initializer): no chunk ran, so none failed.
            requeued = Array(slot.inFlight)
            if end.status != .exited(0) { startFailure = StartFailure(timedOut: timedOut) }
            return
        }
        var started = Self.startedChunks(of: slot, taken: end.chunksTaken)
        // A chunk the pool ended the worker for, or the one running when it broke the
        // protocol, was running whatever the count says; unless the chunk it was ended for was
        // answered after all (from its shelf): the next was not taken.
        let killedChunkAnswered = slot.killedChunkID.map { id in !slot.inFlight.contains { $0.chunkID == id } } ?? false
        if (slot.killReason != nil && !killedChunkAnswered) || end.violation != nil {
            started = max(started, min(1, slot.inFlight.count))
        }
        for running in slot.inFlight.prefix(started) {
            let reason = slot.killedChunkID == running.chunkID ? slot.killReason : nil
            failed.append((running, WorkerFailures.runningChunk(running, label: label, end: end, reason: reason)))
        }
        requeued = Array(slot.inFlight.dropFirst(started))
    }

    /// How many of a dead worker's chunks in flight it had taken to run: those before the
    /// others, in send order. Without a count, those it could have been running (its capacity)
    /// are taken to have started; for a worker that manages its chunks (a rank, which runs them
    /// in any order) that is all of them: requeued, the one that killed it would kill the next.
    static func startedChunks(of slot: TrackedWorker, taken: UInt32?) -> Int {
        guard let taken else {
            return slot.worker.managesItsChunks ? slot.inFlight.count : min(slot.worker.capacity, slot.inFlight.count)
        }
        let answered = slot.sentChunks - slot.inFlight.count
        return min(max(0, Int(taken) - answered), slot.inFlight.count)
    }
}
