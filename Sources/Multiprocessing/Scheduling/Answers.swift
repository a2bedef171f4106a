/// Answers: what a worker says, and what it means for the scheduler and the calls.
extension PoolCore {
    /// Handles one message from `worker`. Sends it causes are added to `flushLater`, for its
    /// reader to make once the messages already read are handled: one system call per burst.
    /// Throws for a message that breaks the protocol (the worker's implementation ends it).
    /// `answeredBy` names who ran the chunk when that is not `worker` itself (a process of a
    /// host that serves through a pool of its own).
    func received(
        _ message: WorkerMessage, from worker: any PoolWorker, answeredBy: WorkerLabel? = nil,
        flushLater: inout [any PoolWorker]
    ) throws {
        switch message {
        case .ready:
            let timed = state.withLock { state -> Bool in
                state.startFailuresInARow = 0
                guard let slot = state.workers[worker.key] else { return false }
                slot.isReady = true
                guard let head = slot.inFlight.first else { return false }
                slot.headStarted = .now
                return head.timeLimit != nil
            }
            if timed { pokeWatchdog() }
        case .initializerFailed(let failure):
            initializerFailed(failure, in: worker)
        case .initializing:
            state.withLock { state in state.workers[worker.key]?.initializingSince = .now }
            pokeWatchdog()
        case .followsOnSocket:
            throw ProtocolViolation(description: "\(worker.label.name) announced an answer on the socket, on the socket")
        case .groupDone(let id):
            try groupDone(id, from: worker)
        case .logs(let batch):
            ForwardedLogs.emit(batch, from: answeredBy ?? worker.label)
        case .retiring:
            let retires = state.withLock { $0.retire(worker.key) }
            // It runs what it was sent, then reads the end of its channel and exits; its end
            // brings a replacement.
            if retires { worker.shutdownAfterQueued() }
        case .result(let chunkID, let nanoseconds, let outcome):
            try received(
                answers: [ReadAnswer(chunkID: chunkID, runNanoseconds: nanoseconds, outcome: outcome)], from: worker,
                answeredBy: answeredBy, flushLater: &flushLater)
        }
    }

    /// The initializer threw in `worker`: the pool fails with that error, as Python's would
    /// otherwise respawn workers forever.
    func initializerFailed(_ failure: RemoteFailure, in worker: any PoolWorker) {
        let label = worker.label
        let error = PoolError(
            .initializerFailed,
            "the pool's initializer threw in \(label.name) (pid \(label.pid)): \(failure.typeName): \(failure.description)",
            workerName: label.name, workerPID: label.pid)
        let (failed, workers): ([ChunkWork], [any PoolWorker]) = state.withLock { state in
            if state.fatal == nil { state.fatal = error }
            state.phase = .terminating
            let failed = state.takeUnfinishedWork()
            return (failed, state.workers.values.map(\.worker))
        }
        for other in workers where other !== worker { other.kill() }
        for chunk in failed { finish(chunk, .failed(error)) }
    }
}

/// How an answer matched what the worker was given.
enum AnswerMatch {
    case chunk(AnsweredChunk)
    /// A chunk of a group the pool gave up on: its outcome went elsewhere.
    case ignored
    case unknown
}

/// What handling an answer under the lock leaves to do after it. A struct, not a tuple: no
/// generic tuple copies.
struct AnsweredChunk {
    let chunk: ChunkWork
    let toSend: [any PoolWorker]
    let toShutDown: [any PoolWorker]
}

/// A message from a worker that breaks the protocol; the worker is ended for it.
struct ProtocolViolation: Error, CustomStringConvertible {
    let description: String
}
