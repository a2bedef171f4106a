/// Time limits: a chunk over its limit, a worker that does not become ready, a worker that
/// outlives the grace period after SIGTERM.
extension PoolCore {
    /// Has the watchdog check time limits soon. Its thread holds the core until the pool's
    /// last worker is gone, when ``lastWorkerGone(_:)`` stops it.
    func pokeWatchdog() {
        watchdog.poke { [self] in enforceTimeLimits() }
    }

    /// The watchdog's check: SIGTERM to workers over a limit, SIGKILL to those still alive a
    /// grace period later. Returns the time to the next deadline.
    func enforceTimeLimits() -> Duration? {
        let now = ContinuousClock.now
        let limits = TimeLimits(
            killGrace: settings.killGrace, startTimeout: settings.startTimeout,
            initializerTimeout: settings.initializerTimeout)
        var next: Duration?
        let (toTerminate, toKill): ([any PoolWorker], [any PoolWorker]) = state.withLock { state in
            var toTerminate: [any PoolWorker] = []
            var toKill: [any PoolWorker] = []
            for slot in state.workers.values {
                let step = limits.step(for: slot, now: now)
                switch step.action {
                case .none:
                    break
                case .terminate(let reason, let chunkID):
                    if let metrics {
                        if case .timedOut = reason {
                            slot.inFlight.first?.metrics?.timeLimitKills.increment()
                        } else {
                            metrics.startTimeLimitKills.increment()
                        }
                    }
                    slot.killReason = reason
                    slot.killedChunkID = chunkID
                    slot.terminateSentAt = now
                    toTerminate.append(slot.worker)
                case .kill:
                    slot.killSent = true
                    toKill.append(slot.worker)
                }
                if let wait = step.nextCheck { next = next.map { min($0, wait) } ?? wait }
            }
            return (toTerminate, toKill)
        }
        for worker in toTerminate { worker.terminate() }
        for worker in toKill { worker.kill() }
        return next
    }
}

/// The time limits of a pool, and what each worker's clocks say to do now: a pure decision, so
/// that it can be tested without processes.
struct TimeLimits: Sendable {
    /// Between SIGTERM and SIGKILL.
    let killGrace: Duration
    /// From spawn until the worker serves or starts the initializer.
    let startTimeout: Duration
    /// For the initializer.
    let initializerTimeout: Duration

    /// What to do with one worker.
    enum Action: Equatable {
        case none
        /// Over a limit: SIGTERM, recording why (and the chunk it concerns, if any).
        case terminate(KillReason, chunkID: UInt64?)
        /// Still alive a grace period after SIGTERM.
        case kill
    }

    /// An action and, if a deadline lies ahead, how long until it.
    struct Step: Equatable {
        var action: Action
        var nextCheck: Duration?
    }

    /// What `slot`'s clocks say at `now`.
    func step(for slot: TrackedWorker, now: ContinuousClock.Instant) -> Step {
        if let sent = slot.terminateSentAt {
            guard !slot.killSent else { return Step(action: .none) }
            return now >= sent + killGrace ? Step(action: .kill) : Step(action: .none, nextCheck: sent + killGrace - now)
        }
        guard slot.killReason == nil else { return Step(action: .none) }
        if !slot.isReady {
            let (limit, inInitializer) = slot.initializingSince == nil ? (startTimeout, false) : (initializerTimeout, true)
            let deadline = (slot.initializingSince ?? slot.spawnedAt) + limit
            guard now >= deadline else { return Step(action: .none, nextCheck: deadline - now) }
            return Step(action: .terminate(.startTimedOut(limit, inInitializer: inInitializer), chunkID: nil), nextCheck: killGrace)
        }
        guard !slot.worker.managesItsChunks, let head = slot.inFlight.first, let limit = head.timeLimit,
            let started = slot.headStarted
        else {
            return Step(action: .none)
        }
        guard now >= started + limit else { return Step(action: .none, nextCheck: started + limit - now) }
        return Step(action: .terminate(.timedOut(limit), chunkID: head.chunkID), nextCheck: killGrace)
    }
}
