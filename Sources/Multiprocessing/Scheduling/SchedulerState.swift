/// Where a pool is in its life.
enum PoolPhase: Sendable { case running, closing, terminating }

/// Why the pool ended a worker on purpose.
enum KillReason: Sendable, Equatable {
    /// Its running chunk went over this time limit (per item, times the chunk's items).
    case timedOut(Duration)
    /// The call of its running chunk was cancelled.
    case cancelled
    /// It did not become ready within this limit: in its initializer, or before.
    case startTimedOut(Duration, inInitializer: Bool)
}

/// One worker as the scheduler tracks it. A class, so the scheduler's scans over workers copy a
/// reference, not the chunk list. Only touched with the pool's state locked.
final class TrackedWorker {
    let worker: any PoolWorker
    init(worker: any PoolWorker, spawnedAt: ContinuousClock.Instant = .now) {
        self.worker = worker
        self.spawnedAt = spawnedAt
    }
    /// Chunks sent and not answered, in send order: the first one is running, unless the worker
    /// holds answers back (see ``runningIndex(taken:)``).
    var inFlight = InFlightChunks()
    var sentChunks = 0

    /// The position in ``inFlight`` of the chunk the worker is on, given how many chunks it has
    /// taken (``PoolWorker/chunksTaken``): those before it are done, their answers held back or
    /// on their way; the first when it cannot tell.
    func runningIndex(taken: UInt32?) -> Int {
        guard let taken, !inFlight.isEmpty else { return 0 }
        let answered = sentChunks - inFlight.count
        return min(max(0, Int(taken) - answered - 1), inFlight.count - 1)
    }
    var isReady = false
    /// When it was spawned, and when it said it runs the initializer: its start-up clocks.
    let spawnedAt: ContinuousClock.Instant
    var initializingSince: ContinuousClock.Instant?
    /// When the first chunk in flight started (roughly: when it became first).
    var headStarted: ContinuousClock.Instant?
    /// Set when the pool signalled the worker to end, for the chunk `killedChunkID` if any.
    var killReason: KillReason?
    /// Set when the worker said it retires (over `maxMemoryPerChild`): it gets no more chunks.
    var retiring = false
    var killedChunkID: UInt64?
    var terminateSentAt: ContinuousClock.Instant?
    var killSent = false
}

/// An open stream, held weakly: one its consumer dropped reports itself closed as it goes.
struct WeakOpenStream {
    weak var stream: (any OpenStream)?
}

/// Everything the scheduler decides from, guarded by the pool's one lock. Its methods decide
/// and record; what they leave to do (sends, signals, results) the caller does after unlocking.
struct SchedulerState {
    var phase = PoolPhase.running
    var workers: [Int: TrackedWorker] = [:]
    var pending = ChunkQueue()
    /// Set when the pool cannot go on (initializer failed, crash loop): every call fails with it.
    var fatal: PoolError?
    var startFailuresInARow = 0
    var nextKey = 0
    var shutdownSent = false
    /// Replacements decided and not yet registered (their processes are being spawned): the
    /// pool is not without workers while one is coming.
    var replacementsStarting = 0
    var joinWaiters: [CheckedContinuation<Void, Never>] = []
    /// Smoothed time an item of each task type takes in a worker, for the pipelining depth.
    /// Per item, not per chunk: a call's default chunks shrink as it goes on.
    var itemNanoseconds: [ObjectIdentifier: Double] = [:]
    /// `imap` calls that may still submit chunks. While one is open the pool is not idle,
    /// even with nothing pending or running: its consumer has yet to pull the rest.
    var openStreams: [ObjectIdentifier: WeakOpenStream] = [:]
    /// The call whose chunks the workers claim from one shared list, if one runs so now.
    var group: ChunkGroup?
    /// The group before it, drained, while a worker has yet to pass its last chunks.
    var drainedGroup: ChunkGroup?
    /// Groups made so far (the last one's id).
    var nextGroupID: UInt64 = 0

    /// Throws the reason the pool takes no new work: its fatal error, or that it was closed.
    func checkAcceptingWork() throws(PoolError) {
        if let fatal { throw fatal }
        guard phase == .running else {
            throw PoolError(.poolNotRunning, "the pool was closed or terminated; it takes no new work")
        }
    }

    /// No worker is left and none is being started: `join()` has nothing to wait for.
    var hasNoWorkers: Bool { workers.isEmpty && replacementsStarting == 0 }

    /// Whether the pool fails once its last worker is gone and none will replace it: it was
    /// running (calls to come would wait for ever), or it was closing with work left (chunks
    /// pending, a group not drained, an `imap` still to submit). A closed pool whose work is done
    /// has only wound down: calls after it throw `poolNotRunning`, not the last worker's exit.
    var failsWithoutWorkers: Bool {
        switch phase {
        case .running: true
        case .closing: !pending.isEmpty || !openStreams.isEmpty || !(group?.isDrained ?? true)
        case .terminating: false
        }
    }

    /// Removes and returns every chunk waiting or in flight, when the pool gives up on them.
    mutating func takeUnfinishedWork() -> [ChunkWork] {
        var work = pending.removeAll()
        for slot in workers.values {
            work += slot.inFlight
            slot.inFlight = []
        }
        // Its members stay members until they pass the rest or die.
        if let group { work += group.abandon() }
        return work
    }

    /// Whether a worker is busy with the group (the scheduler gives it nothing else). Once the
    /// group is drained its members have nothing left to run in it.
    func isInGroup(_ key: Int) -> Bool {
        guard let group, !group.isDrained else { return false }
        return group.members.contains(key)
    }

    /// Folds a chunk's run time into its task type's estimate per item.
    mutating func record(_ nanoseconds: UInt64, of chunk: ChunkWork) {
        let perItem = Double(nanoseconds) / Double(max(1, chunk.itemCount))
        itemNanoseconds[chunk.taskType] = itemNanoseconds[chunk.taskType].map { $0 * 0.8 + perItem * 0.2 } ?? perItem
    }

    /// After `close()`, once nothing is pending or running: every worker, to be told to exit
    /// (once); otherwise none.
    mutating func shutdownIfIdle() -> [any PoolWorker] {
        // Members of a drained group only pass chunks others ran: they read the shutdown after.
        guard phase == .closing, !shutdownSent, pending.isEmpty, openStreams.isEmpty,
            group?.isDrained ?? true, workers.values.allSatisfy({ $0.inFlight.isEmpty })
        else { return [] }
        shutdownSent = true
        return workers.values.map(\.worker)
    }

    /// Worker `key` said it retires (over `maxMemoryPerChild`): it gets no more chunks. Returns
    /// whether its channel is to be closed after what was sent to it (once).
    mutating func retire(_ key: Int) -> Bool {
        guard let slot = workers[key], !slot.retiring else { return false }
        slot.retiring = true
        return true
    }

    /// Hands pending chunks to the least-loaded workers that can take them. Chunks of calls
    /// that no longer want results (failed early, cancelled) are dropped. Returns the workers
    /// to send to, and whether a chunk with a time limit started (the watchdog must look).
    mutating func schedule(maxTasksPerChild: Int?) -> (toSend: [any PoolWorker], timed: Bool) {
        guard !pending.isEmpty, phase != .terminating else { return ([], false) }
        let limit = maxTasksPerChild ?? Int.max
        var touched: [any PoolWorker] = []
        var timed = false
        while let next = pending.first {
            let depth = PipelineDepth.chunks(
                perItemNanoseconds: itemNanoseconds[next.taskType],
                itemCount: next.itemCount, frameBytes: next.frameBytes)
            // The slot itself, not its key: each lookup by key hashes, and this runs under the
            // lock every reader thread takes for every answer.
            var best: TrackedWorker?
            var bestLoad = Int.max
            // A worker the pool has signalled to end is dying: an answer it sent before the
            // signal can still free a place in its queue, and a chunk put there would die with it.
            for slot in workers.values
            where slot.inFlight.count < depth * slot.worker.capacity && slot.sentChunks < limit && slot.killReason == nil
                && !slot.retiring && !isInGroup(slot.worker.key)
            {
                if slot.inFlight.count < bestLoad || (slot.inFlight.count == bestLoad && slot.worker.key < best!.worker.key) {
                    best = slot
                    bestLoad = slot.inFlight.count
                }
            }
            guard let slot = best, let chunk = pending.popFirst() else { break }
            if chunk.sink.isFinished { continue }
            if slot.inFlight.isEmpty && slot.isReady {
                // A worker still starting up starts the clock when it says it is ready.
                slot.headStarted = .now
                timed = timed || chunk.timeLimit != nil
            }
            slot.inFlight.append(chunk)
            slot.sentChunks += 1
            let worker = slot.worker
            chunk.sink.dispatched(to: worker)
            worker.enqueue(chunk)
            if !touched.contains(where: { $0 === worker }) { touched.append(worker) }
        }
        return (touched, timed)
    }
}

/// How many chunks a worker may hold per chunk it runs at once.
enum PipelineDepth {
    /// About how many bytes of chunks a worker may hold. Moving a large buffer costs more than
    /// the round trip that pipelining hides, and each chunk held is memory the worker touches
    /// for the first time.
    static let queuedBytesPerWorker = 1 << 20

    /// One for long or not yet measured tasks, so work never queues behind a busy worker while
    /// another is free; more for short ones, so the channel's latency is hidden; never much more
    /// than ``queuedBytesPerWorker`` of large ones.
    static func chunks(perItemNanoseconds: Double?, itemCount: Int, frameBytes: Int) -> Int {
        guard let perItemNanoseconds else { return 1 }
        let byTime =
            switch perItemNanoseconds * Double(itemCount) {
            case ..<10_000: 64
            case ..<50_000: 16
            case ..<500_000: 4
            case ..<5_000_000: 2
            default: 1
            }
        return min(byTime, max(1, queuedBytesPerWorker / max(1, frameBytes)))
    }
}
