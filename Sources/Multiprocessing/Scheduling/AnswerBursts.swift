/// Answer bursts: the chunk answers a reader found together, settled under one acquisition of
/// the scheduler's lock.
///
/// A reader that takes several answers from one read hands them over at once: the scheduler
/// matches each one to its chunk in order, then fills the places they freed with one pass of
/// ``SchedulerState/schedule(maxTasksPerChild:)``, instead of locking, scheduling and unlocking
/// once per answer while the other readers and the submitting caller wait for the lock.
extension PoolCore {
    /// Handles chunk answers from `worker`, in the order it sent them. Sends they cause are added
    /// to `flushLater`; the calls learn their outcomes after the lock is released, in order.
    /// Throws, after handling the answers before it, for an answer to a chunk the worker was not
    /// running (the worker's implementation ends it). `answeredBy` as in
    /// ``received(_:from:answeredBy:flushLater:)``.
    func received(
        answers: [ReadAnswer], from worker: any PoolWorker, answeredBy: WorkerLabel? = nil,
        flushLater: inout [any PoolWorker]
    ) throws {
        let settled = state.withLock { state in settle(answers, from: worker, &state) }
        for other in settled.toSend where !flushLater.contains(where: { $0 === other }) { flushLater.append(other) }
        for other in settled.toShutDown { other.shutdownAfterQueued() }
        if !settled.chunks.isEmpty {
            let label = answeredBy ?? worker.label
            for settledChunk in settled.chunks {
                let answer = answers[settledChunk.answer]
                finish(settledChunk.chunk, .answered(answer.outcome, by: label), ranFor: answer.runNanoseconds)
            }
        }
        if let unknown = settled.unknown {
            throw ProtocolViolation(description: "\(worker.label.name) answered task \(unknown), which it was not running")
        }
    }

    /// Handles the answers a worker that ended left unsent (``AnswerShelf``), those to chunks it
    /// still holds: it may have died after writing them and before emptying its shelf. The places
    /// they free get no chunks: the worker is gone.
    func receivedLeftovers(_ answers: [ReadAnswer], from worker: any PoolWorker, flushLater: inout [any PoolWorker]) {
        let fresh = state.withLock { state in
            guard let slot = state.workers[worker.key] else { return [ReadAnswer]() }
            slot.retiring = true
            return answers.filter { answer in slot.inFlight.contains { $0.chunkID == answer.chunkID } }
        }
        try? received(answers: fresh, from: worker, flushLater: &flushLater)
    }

    /// Matches `answers` to the chunks `worker` holds, in order, and hands out the places they
    /// freed; stops at an answer to a chunk it does not hold. Called with the lock held.
    func settle(_ answers: [ReadAnswer], from worker: any PoolWorker, _ state: inout SchedulerState) -> SettledAnswers {
        var settled = SettledAnswers()
        guard let slot = state.workers[worker.key] else {
            settled.unknown = answers.first?.chunkID
            return settled
        }
        settled.chunks.reserveCapacity(answers.count)
        // In send order for a worker that runs one chunk at a time; by id among those running
        // for one that runs several, and among all it holds for one whose own pool decides the
        // order.
        let candidates = worker.managesItsChunks ? Int.max : worker.capacity
        var freedPlaces = false
        var newHead = false
        for (position, answer) in answers.enumerated() {
            guard
                let index = slot.inFlight.prefix(candidates).firstIndex(where: { $0.chunkID == answer.chunkID })
            else {
                switch groupAnswer(answer.chunkID, nanoseconds: answer.runNanoseconds, from: worker, &state) {
                case .chunk(let answered):
                    settled.chunks.append(SettledChunk(chunk: answered.chunk, answer: position))
                    settled.toSend += answered.toSend
                    settled.toShutDown += answered.toShutDown
                    continue
                case .ignored:
                    continue
                case .unknown:
                    settled.unknown = answer.chunkID
                }
                break
            }
            let answered = slot.inFlight.remove(at: index)
            if index == 0 { newHead = true }
            state.record(answer.runNanoseconds, of: answered)
            settled.chunks.append(SettledChunk(chunk: answered, answer: position))
            freedPlaces = true
        }
        // The answers were read at one moment: the chunk now first started then.
        if newHead, let head = slot.inFlight.first {
            slot.headStarted = .now
            if head.timeLimit != nil { pokeWatchdog() }
        }
        if freedPlaces {
            settled.toSend += schedule(&state)
            settled.toShutDown += state.shutdownIfIdle()
        }
        return settled
    }
}

/// A chunk's answer as a reader decoded it: the parts of a ``WorkerMessage/result(chunkID:runNanoseconds:outcome:)``.
/// Its outcome's bytes may be slices of the reader's buffer.
struct ReadAnswer {
    let chunkID: UInt64
    let runNanoseconds: UInt64
    let outcome: ChunkOutcome
}

/// What settling a burst of answers under the lock leaves to do after it.
struct SettledAnswers {
    /// The chunks answered, in order.
    var chunks: [SettledChunk] = []
    var toSend: [any PoolWorker] = []
    var toShutDown: [any PoolWorker] = []
    /// The chunk id of an answer the worker should not have sent; the answers after it were
    /// not looked at.
    var unknown: UInt64?
}

/// A chunk answered in a burst. A struct, not a tuple: no generic tuple copies.
struct SettledChunk {
    let chunk: ChunkWork
    /// The position of its answer in the burst.
    let answer: Int
}
