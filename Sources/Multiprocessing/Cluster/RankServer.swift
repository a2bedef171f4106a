#if MPI
import CMPIShim
import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A serving rank: runs the chunks rank 0 sends through a pool of its own, so that a task that
/// crashes, runs over its time limit or is cancelled fails alone, and sends back each outcome.
final class RankServer: ClusterRole {
    private let transport: MPITransport
    private let pool: ProcessPool
    /// The chunks it runs for rank 0, by rank 0's chunk id.
    private let relays = Mutex<[UInt64: RelaySink]>([:])
    private let taskTypes = Mutex<[String: ObjectIdentifier]>([:])
    /// Chunks of the delivery under way, submitted to the pool together when it ends.
    private let received = Mutex<[ChunkWork]>([])
    private let label: WorkerLabel
    /// The workers holding its chunks, which the transport thread reads while it looks.
    private let reads = Mutex(ServingRankReads<LocalWorker>())
    /// Outcomes sent to rank 0 so far: tells the transport thread whether its reads answered any.
    private let answersSent = Atomic<UInt64>(0)

    init(transport: MPITransport, processes: Int?) throws(PoolError) {
        self.transport = transport
        let host = transport.host
        WorkerNumbering.suffix.withLock { $0 = "@rank\(transport.rank)" + (host.isEmpty ? "" : ".\(host)") }
        label = WorkerLabel(name: "rank \(transport.rank) on \(host)", pid: getpid())
        // Its workers wait for chunks on their sockets (`WorkerIdleWait.waitsOnSocket`).
        pool = try ProcessPool(ProcessPool.Configuration(processes: processes), workersWaitOnSocket: true)
        let hello = ClusterHello(
            capacity: pool.processes, pid: getpid(), host: host, machine: SeparateHostHook.machine(rank: transport.rank))
        transport.send(to: 0, .hello, hello.encode())
    }

    /// Serves until rank 0 says the job ends (or is lost); never returns.
    func serveForever() -> Never {
        while true { pause() }
    }

    func received(_ source: Int32, _ tag: ClusterTag, _ bytes: ArraySlice<UInt8>) {
        guard source == 0 else { return }
        switch tag {
        case .chunk: accept(bytes)
        case .sharedChunk:
            // Unreadable, it cannot even be named: like an unreadable chunk, it is dropped.
            guard let (message, copies) = try? SharedArrayCopies.receive(bytes) else { return }
            accept(message[...], copies: copies)
        case .skip:
            submitReceived()
            if let skip = try? ClusterSkip.decode(bytes) { self.skip(skip) }
        case .shutdown:
            submitReceived()
            finish()
        case .hello, .result, .sharedResult, .heartbeat, .batch: break
        }
    }

    func deliveryEnded() {
        submitReceived()
    }

    /// Reads the answers of the workers that hold chunks, on the transport's thread; whether
    /// any chunk was answered.
    func pollWhileActive() -> Bool {
        let (workers, handedBack) = reads.withLock { ($0.readable, $0.handedBack) }
        // Read here again from the next turn: the reader thread did what it was woken for.
        for worker in handedBack where worker.readerHasCaughtUp { reads.withLock { $0.resume(worker) } }
        guard !workers.isEmpty else { return false }
        let before = answersSent.load(ordering: .relaxed)
        let now = cmp_monotonic_ns()
        var toSend: [any PoolWorker] = []
        for worker in workers where !worker.readAnswersOnTransport(core: pool.core, now: now, sendLater: &toSend) {
            reads.withLock { $0.handBack(worker) }
        }
        pool.core.send(to: toSend)
        return answersSent.load(ordering: .relaxed) != before
    }

    /// Waits in the kernel for the workers holding chunks to answer, on the transport's thread.
    func waitWhileActive(nanoseconds: Int) -> Bool {
        let descriptors = reads.withLock { $0.readable.map(\.inbound.descriptor) }
        guard !descriptors.isEmpty else { return false }
        _ = cmp_mpi_wait_readable(descriptors, Int32(descriptors.count), nanoseconds)
        return true
    }

    /// The transport thread stops looking: the reader threads of the workers holding chunks
    /// take over at once, rather than when they next look.
    func transportWillSleep() {
        for worker in reads.withLock({ $0.holding }) { worker.inbound.wakeReader() }
    }

    /// A relay's chunk went to `worker` (under the scheduler's lock and the relay's: `reads` is
    /// taken after them, and nothing holding it takes them).
    fileprivate func relayDispatched(to worker: LocalWorker) {
        reads.withLock { $0.dispatched(to: worker) }
    }

    /// A relay's chunk that went to `worker` is settled (under the relay's lock).
    fileprivate func relaySettled(on worker: LocalWorker) {
        reads.withLock { $0.settled(worker) }
    }

    /// Rank 0 is gone: nothing will read the results, and nobody else would end this rank.
    func silent(_ rank: Int32, after silence: Duration) {
        clusterSay("\(label.name) (pid \(label.pid)): rank 0 sent nothing for \(silence); exiting")
        pool.terminate()
        _exit(1)
    }

    /// Makes a chunk of the pool's own of one rank 0 sent, to submit when the delivery ends;
    /// `copies` are the shared arrays copied for it, if it came with some.
    private func accept(_ bytes: ArraySlice<UInt8>, copies: Result<SharedArrayCopies, SharedArrayError>? = nil) {
        var remoteID: UInt64?
        do {
            let chunk = try ClusterChunk.decode(bytes)
            let (message, attachments) = try FrameSplitting.split(chunk.frame)
            guard
                case .run(let chunkID, let task, let inputs, let traceCarrier, _) = try ParentMessage.decode(
                    message, attachments: attachments)
            else {
                return
            }
            remoteID = chunkID
            let relay = RelaySink(remoteID: chunkID, server: self, copies: try copies?.get())
            relays.withLock { $0[chunkID] = relay }
            let perItem =
                chunk.timeLimitNanoseconds == 0
                ? nil : Duration.nanoseconds(Int64(clamping: chunk.timeLimitNanoseconds / UInt64(max(1, chunk.itemCount))))
            let local = try makeChunk(
                task: task, taskType: taskType(named: task.typeName), inputs: inputs, itemCount: chunk.itemCount, index: 0,
                firstItem: chunk.firstItem, timeLimit: perItem, maxMessageBytes: pool.configuration.maxMessageBytes, sink: relay,
                // The caller's trace context goes on to the worker, so the task's spans join the caller's trace.
                call: traceCarrier.map { CallObservation(metrics: nil, traceCarrier: $0) })
            received.withLock { $0.append(local) }
        } catch {
            // Unreadable, or its shared arrays could not be copied: rank 0 learns why, for this
            // chunk, if it can be named.
            guard let remoteID else { return }
            let relay = relays.withLock { relays in
                relays[remoteID] = relays[remoteID] ?? RelaySink(remoteID: remoteID, server: self, copies: nil)
                return relays[remoteID]!
            }
            relay.finish(rejecting: error)
        }
    }

    /// Submits the chunks received so far in one go: one pass of the scheduler and one write
    /// per worker, not one per chunk.
    private func submitReceived() {
        let chunks = received.withLock { chunks in
            defer { chunks.removeAll(keepingCapacity: true) }
            return chunks
        }
        guard !chunks.isEmpty else { return }
        do {
            try pool.core.submit(chunks)
        } catch {
            // Refused (the pool is closing or broken): rank 0 learns why, for each chunk.
            for chunk in chunks { (chunk.sink as? RelaySink)?.finish(rejecting: error) }
        }
    }

    private func skip(_ skip: ClusterSkip) {
        let skipped = relays.withLock { relays in skip.chunkIDs.compactMap { relays[$0] } }
        for relay in skipped { relay.cancel(stopRunning: skip.stopRunning, in: pool) }
    }

    /// Sends a chunk's outcome to rank 0 and forgets the chunk. A chunk that came with copies of
    /// shared arrays sends their bytes back when all its items `succeeded`, and none otherwise:
    /// a failed item's partial writes are not passed on, nor the writes of the chunk's others.
    /// An answer over an MPI message's size is never sent (the transport would drop it and rank
    /// 0 would wait forever): the chunk is answered with why instead, which fails its items.
    func answer(_ relay: RelaySink, frame: [WireBytes], ranBy: WorkerLabel?, succeeded: Bool = false) {
        relays.withLock { _ = $0.removeValue(forKey: relay.remoteID) }
        let message = ClusterResult.encode(ranBy: ranBy ?? label, frame: frame)
        do throws(PoolError) {
            if let copies = relay.takeCopies() {
                transport.send(to: 0, .sharedResult, try copies.answer(message, writeBack: succeeded))
            } else {
                guard message.count <= Int(Int32.max) else {
                    throw PoolError(
                        .messageTooLarge,
                        "the chunk's results are too large to send back to rank 0 in one MPI message (\(message.count) bytes, "
                            + "more than \(Int32.max)); use smaller chunks or a smaller maxMessageBytes")
                }
                transport.send(to: 0, .result, message)
            }
        } catch {
            // Without write-back: the rejection is small, and the caller's arrays keep their bytes.
            transport.send(to: 0, .result, Self.rejection(of: relay.remoteID, error, ranBy: ranBy ?? label))
        }
        answersSent.add(1, ordering: .relaxed)
    }

    /// The answer that fails every item of rank 0's chunk `remoteID` with `error`.
    static func rejection(of remoteID: UInt64, _ error: any Error, ranBy: WorkerLabel) -> [UInt8] {
        let failure = (error as? PoolError).map { RemoteFailure(poolError: $0.code, $0.messageWithTail) } ?? RemoteFailure(error)
        let frame = WorkerMessage.result(chunkID: remoteID, runNanoseconds: 0, outcome: .rejected(failure)).encodeFrame()
        return ClusterResult.encode(ranBy: ranBy, frame: [WireBytes(frame)])
    }

    /// The job ends: what runs completes, then the pool's workers exit and MPI is finalized.
    private func finish() {
        pool.close()
        let transport = transport
        Task.detached { [pool] in
            try? await pool.join()
            _ = transport.finish(graceMilliseconds: 3_000)
            exit(0)
        }
    }

    private func taskType(named name: String) -> ObjectIdentifier {
        if let known = taskTypes.withLock({ $0[name] }) { return known }
        // An unknown name still runs: the worker reports that it cannot find the type.
        let id = _typeByName(name).map { ObjectIdentifier($0) } ?? ObjectIdentifier(RelaySink.self)
        taskTypes.withLock { $0[name] = id }
        return id
    }
}

/// One chunk a serving rank runs for rank 0: where its outcome goes, under rank 0's chunk id.
final class RelaySink: ChunkSink {
    let remoteID: UInt64
    private let server: RankServer

    private struct State {
        var dispatchedAt: UInt64?
        /// The local worker holding the chunk, until it is settled.
        var holder: LocalWorker?
        var finished = false
        var cancelled = false
        /// The shared arrays copied for the chunk, held until it is answered.
        var copies: SharedArrayCopies?
    }

    private let state: Mutex<State>

    init(remoteID: UInt64, server: RankServer, copies: SharedArrayCopies?) {
        self.remoteID = remoteID
        self.server = server
        state = Mutex(State(copies: copies))
    }

    /// The chunk's copies of shared arrays, once: the answer sends or drops them.
    func takeCopies() -> SharedArrayCopies? {
        state.withLock { $0.copies.take() }
    }

    var isFinished: Bool { state.withLock { $0.finished || $0.cancelled } }

    func dispatched(to worker: any PoolWorker) {
        state.withLock { state in
            state.dispatchedAt = cmp_monotonic_ns()
            // The server's count changes under this lock (then the server's), in the order the
            // holder does: a settlement racing this dispatch must not be counted before it.
            if let previous = state.holder { server.relaySettled(on: previous) }
            // A settled chunk is not watched again (a late re-dispatch must not leave a count behind).
            state.holder = state.finished ? nil : worker as? LocalWorker
            if let holder = state.holder { server.relayDispatched(to: holder) }
        }
    }

    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {
        chunkFinished(chunk, completion, ranFor: nil)
    }

    /// Rank 0 is told the worker's own measure of the run, not the time since the chunk was
    /// dispatched: that includes its wait in the worker's queue, which would make rank 0's
    /// scheduler judge the task slow and keep fewer chunks in flight to this rank, so its
    /// workers would run dry between round trips.
    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion, ranFor: UInt64?) {
        guard let started = claimFinish() else { return }
        let nanoseconds = ranFor ?? (cmp_monotonic_ns() &- started)
        switch completion {
        case .answered(.allSucceeded(let outputs), let worker):
            server.answer(
                self, frame: WorkerMessage.encodeSuccessFrame(chunkID: remoteID, runNanoseconds: nanoseconds, outputs: outputs),
                ranBy: worker, succeeded: true)
        case .answered(let outcome, let worker):
            let frame = WorkerMessage.result(chunkID: remoteID, runNanoseconds: nanoseconds, outcome: outcome).encodeFrame()
            server.answer(self, frame: [WireBytes(frame)], ranBy: worker)
        case .failed(let error):
            reject(error)
        }
    }

    /// Stops the chunk and answers it as cancelled at once: rank 0 wants no result, and the
    /// pool here may drop it without a word (a chunk of a finished call is not run). It is
    /// taken back if it has not reached a worker; a running one is stopped when `stopRunning`,
    /// else left to finish.
    func cancel(stopRunning: Bool, in pool: ProcessPool) {
        let dispatched = state.withLock { state in
            state.cancelled = true
            return state.dispatchedAt != nil
        }
        if stopRunning || !dispatched { pool.core.cancel(self) }
        finish(rejecting: PoolError(.cancelled, "the call was cancelled"))
    }

    /// Answers with an error, once.
    func finish(rejecting error: any Error) {
        guard claimFinish() != nil else { return }
        reject(error)
    }

    private func reject(_ error: any Error) {
        let failure = (error as? PoolError).map { RemoteFailure(poolError: $0.code, $0.messageWithTail) } ?? RemoteFailure(error)
        let frame = WorkerMessage.result(chunkID: remoteID, runNanoseconds: 0, outcome: .rejected(failure)).encodeFrame()
        server.answer(self, frame: [WireBytes(frame)], ranBy: nil)
    }

    /// Marks the chunk answered; its start time, or nil if it was already answered.
    private func claimFinish() -> UInt64? {
        state.withLock { state in
            guard !state.finished else { return nil }
            state.finished = true
            if let holder = state.holder.take() { server.relaySettled(on: holder) }
            return state.dispatchedAt ?? cmp_monotonic_ns()
        }
    }
}
#endif
