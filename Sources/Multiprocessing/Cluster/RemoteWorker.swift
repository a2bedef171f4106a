#if MPI
import Synchronization

/// A serving rank of the MPI job as rank 0's scheduler sees it: one ``PoolWorker`` whose
/// capacity is the rank's pool's size. The rank runs its chunks under that pool, which enforces
/// their time limits and cancellation and reports them as failed items; its results may come
/// in any order.
final class RemoteWorker: PoolWorker {
    let key: Int
    let rank: Int32
    let label: WorkerLabel
    let capacity: Int
    var groupClaimant: UInt32? { nil }
    var managesItsChunks: Bool { true }
    var chunksTaken: UInt32? { nil }

    private let core: PoolCore
    private let coordinator: ClusterCoordinator
    /// Whether the pool stops running items of a cancelled call.
    private let stopRunningOnCancel: Bool
    /// Whether the rank is on another host (or pid namespace): shared arrays go there as copies.
    private let separateHost: Bool

    private struct State {
        /// Messages queued and not yet handed to the transport.
        var queued: [Queued] = []
        /// Chunks sent and not answered.
        var outstanding: Set<UInt64> = []
        var ended = false
        /// Workers the results of the delivery under way gave chunks to, sent when it ends.
        var toSend: [any PoolWorker] = []
    }

    private enum Queued {
        case chunk(ChunkWork)
        case skip([UInt64])
    }

    private let state = Mutex(State())

    init(key: Int, rank: Int32, hello: ClusterHello, core: PoolCore, coordinator: ClusterCoordinator, stopRunningOnCancel: Bool) {
        self.key = key
        self.rank = rank
        self.label = WorkerLabel(name: "rank \(rank) on \(hello.host)", pid: hello.pid)
        self.capacity = max(1, hello.capacity)
        self.core = core
        self.coordinator = coordinator
        self.stopRunningOnCancel = stopRunningOnCancel
        self.separateHost = hello.machine != SharedMemoryHandle.thisMachine
    }

    func enqueue(_ chunk: ChunkWork) {
        state.withLock { state in
            state.outstanding.insert(chunk.chunkID)
            state.queued.append(.chunk(chunk))
        }
    }

    func enqueueSkip(_ chunkIDs: [UInt64]) {
        state.withLock { $0.queued.append(.skip(chunkIDs)) }
    }

    func enqueue(_ frame: [WireBytes]) {
        // Only workers that take part in chunk groups get raw frames; this one does not.
    }

    func sendQueued() -> Int32? {
        let queued = state.withLock { state in
            defer { state.queued.removeAll(keepingCapacity: true) }
            return state.ended ? [] : state.queued
        }
        // Outside the scheduler's lock: joining a chunk's frame copies its bytes.
        let messages = queued.map { message -> MPITransport.Outgoing in
            switch message {
            case .chunk(let chunk):
                chunkMessage(ClusterChunk.encode(chunk))
            case .skip(let ids):
                (rank, .skip, ClusterSkip(chunkIDs: ids, stopRunning: stopRunningOnCancel).encode())
            }
        }
        coordinator.transport.send(messages)
        return nil
    }

    /// A chunk's message as it goes: with copies of the shared arrays it refers to when the
    /// rank cannot map them. Copies beyond an MPI message's size are not sent: the rank's task
    /// then gets ``SharedArrayError/unavailable(_:)``, as without copies.
    private func chunkMessage(_ bytes: [UInt8]) -> MPITransport.Outgoing {
        if separateHost, let shipped = SharedArrayShipping.ship(bytes), shipped.count <= Int(Int32.max) {
            return (rank, .sharedChunk, shipped)
        }
        return (rank, .chunk, bytes)
    }

    /// A result from the rank, on the thread holding the transport's turn (one at a time). What
    /// it frees room for is sent by ``sendFreedRoom()``, once per delivery.
    func received(_ result: ClusterResult) {
        do {
            let (message, attachments) = try FrameSplitting.split(result.frame)
            let decoded = try WorkerMessage.decode(message, attachments: attachments)
            if case .result(let chunkID, _, _) = decoded {
                let known = state.withLock { $0.outstanding.remove(chunkID) != nil }
                guard known else { return }
            }
            var toSend: [any PoolWorker] = []
            try core.received(decoded, from: self, answeredBy: result.ranBy, flushLater: &toSend)
            guard !toSend.isEmpty else { return }
            state.withLock { state in
                for worker in toSend where !state.toSend.contains(where: { $0 === worker }) { state.toSend.append(worker) }
            }
        } catch {
            // A rank that sends what it should not cannot be trusted with more work.
            end(WorkerEnd(status: nil, lost: "it sent a malformed result (\(error))", violation: "\(error)"))
        }
    }

    /// Sends the chunks the results of a delivery gave workers (this one and others of its pool).
    func sendFreedRoom() {
        let toSend = state.withLock { state in
            defer { state.toSend.removeAll(keepingCapacity: true) }
            return state.toSend
        }
        core.send(to: toSend)
    }

    /// For a caller of `apply` waiting actively for `call`'s answer, which this rank runs: takes
    /// the transport's turn to receive it, if free. Returns whether the call has its answer.
    func readAnswer(for call: ApplyCall) -> Bool {
        coordinator.transport.lookForAnswers { call.isAnswered }
        return call.isAnswered
    }

    /// The caller of `apply` stopped looking for its answer itself, with it or not.
    func stopReading(answered: Bool) {
        coordinator.transport.callerStoppedLooking(answered: answered)
    }

    /// The rank stopped answering.
    func lost(_ description: String) {
        end(WorkerEnd(status: nil, lost: description))
    }

    func shutdownAfterQueued() {
        // The rank serves the next pool: this pool is simply done with it.
        coordinator.transport.perform { [self] in end(WorkerEnd(status: .exited(0))) }
    }

    func terminate() { stopEverything() }
    func kill() { stopEverything() }

    /// Stops what the rank still runs for this pool, and ends this worker.
    private func stopEverything() {
        let outstanding = state.withLock { Array($0.outstanding) }
        if !outstanding.isEmpty {
            coordinator.transport.send(to: rank, .skip, ClusterSkip(chunkIDs: outstanding, stopRunning: true).encode())
        }
        coordinator.transport.perform { [self] in end(WorkerEnd(status: nil, lost: "ended by the pool")) }
    }

    /// Reports the end once, and gives the rank back.
    private func end(_ end: WorkerEnd) {
        let first = state.withLock { state in
            defer { state.ended = true }
            return !state.ended
        }
        guard first else { return }
        coordinator.unregister(self, rank: rank)
        core.workerEnded(self, end)
    }
}
#endif
