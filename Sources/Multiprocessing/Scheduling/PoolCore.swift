import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The scheduler: which worker holds which chunk, what waits, and what happens when a worker
/// answers or ends. One lock guards it all; system calls and user callbacks run outside it.
final class PoolCore: Sendable {
    struct Settings: Sendable {
        var processes: Int
        var initializer: EncodedValue?
        var maximumTasksPerChild: Int?
        var logLevel: String?
        var maximumFrameSize: Int
        /// Workers that die before they are ready, in a row, before the pool gives up.
        var maximumStartFailures: Int
        /// How long a worker that closed its channel may take to exit before SIGKILL.
        var exitGraceMilliseconds: Int32
        /// After SIGTERM for a task over its time limit, how long before SIGKILL.
        var killGrace: Duration
        /// Whether cancelling a call kills the workers running its items.
        var killRunningOnCancel: Bool
        /// Whether workers run under `SCHED_BATCH` (``ProcessPool/WorkerScheduling/batch``).
        var batchScheduling: Bool
        /// How long a worker may take from its spawn to serving (or to its initializer).
        var startTimeout: Duration
        /// How long the pool's initializer may run in a worker.
        var initializerTimeout: Duration
        /// The initializer's type, as errors name it.
        var initializerName: String?
    }

    /// Why the pool ended a worker on purpose.
    private enum KillReason {
        case timedOut(Duration)
        case cancelled
        /// It did not become ready in time: in its initializer, or before.
        case startTimedOut(Duration, inInitializer: Bool)
    }

    /// A class, so the scheduler's scans over workers copy a reference, not the chunk list.
    /// Only touched with `state` locked.
    private final class WorkerSlot {
        let connection: WorkerConnection
        init(connection: WorkerConnection) { self.connection = connection }
        /// Chunks sent and not answered, in send order: the first one is running.
        var inFlight: [ChunkWork] = []
        var sentChunks = 0
        var isReady = false
        /// When it was spawned, and when it said it runs the initializer: its start-up clocks.
        let spawnedAt = ContinuousClock.now
        var initializingSince: ContinuousClock.Instant?
        /// When the first chunk in flight started (roughly: when it became first).
        var headStarted: ContinuousClock.Instant?
        /// Set when the pool signalled the worker to end the chunk `killedTaskID`.
        var killReason: KillReason?
        var killedTaskID: UInt64?
        var terminateSentAt: ContinuousClock.Instant?
        var killSent = false
    }

    enum Phase: Sendable { case running, closing, terminating }

    /// An open stream, held weakly: one its consumer dropped reports itself closed as it goes.
    private struct WeakOpenStream {
        weak var stream: (any OpenStream)?
    }

    private struct State {
        var phase = Phase.running
        var workers: [Int: WorkerSlot] = [:]
        var pending = ChunkQueue()
        /// Set when the pool cannot go on (initializer failed, crash loop): every call fails with it.
        var fatal: PoolError?
        var startFailuresInARow = 0
        var nextKey = 0
        var shutdownSent = false
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
    }

    let settings: Settings
    /// Runs code that prefers it on the reader thread that resumed it.
    let executor = PoolExecutor()
    /// Lets a caller of `apply` wait a moment for a quick answer without suspending.
    let answerSpin = AnswerSpin()
    private let state = Mutex(State())
    private let watchdog: Watchdog
    /// Where idle workers sleep; nil where it cannot be made (they then wait in `poll`).
    private let wakeBoard = WakeBoard.make()

    init(settings: Settings) {
        self.settings = settings
        self.watchdog = Watchdog(name: "mp-watchdog")
    }

    /// Has the watchdog check time limits soon. Its thread holds the core until the pool's
    /// last worker is gone, when `workerEnded` or `failEverything` stops it.
    private func pokeWatchdog() {
        watchdog.poke { [self] in enforceTimeLimits() }
    }

    // MARK: - Life cycle

    /// Starts `settings.processes` workers; on failure kills those already started.
    func start() throws(PoolError) {
        for _ in 0..<settings.processes {
            do {
                try spawnWorker()
            } catch {
                terminate()
                throw error
            }
        }
    }

    private func spawnWorker() throws(PoolError) {
        let wake = wakeBoard?.takeSlot()
        let launched: LaunchedWorker
        do {
            launched = try WorkerLauncher.launch(batchScheduling: settings.batchScheduling, wake: wake)
        } catch {
            if let wake { wakeBoard?.returnSlot(wake) }
            throw error
        }
        let name = WorkerNumbering.nextName()
        let configure = ParentMessage.configure(WorkerConfiguration(
            workerName: name, logLevel: settings.logLevel, initializer: settings.initializer,
            maximumTasks: settings.maximumTasksPerChild ?? 0, maximumMessageSize: settings.maximumFrameSize)).encodeFrame()
        let (connection, toFlush, isDoomed, toShutDown): (WorkerConnection, [WorkerConnection], Bool, [WorkerConnection]) = state.withLock { state in
            let key = state.nextKey
            state.nextKey += 1
            let connection = WorkerConnection(key: key, name: name, launched: launched, wake: wake,
                                              maximumFrameSize: settings.maximumFrameSize)
            connection.outbound.enqueue(configure)
            state.workers[key] = WorkerSlot(connection: connection)
            if state.phase == .terminating {
                return (connection, [], true, [])
            }
            let toFlush = schedule(&state)
            guard state.phase == .closing else { return (connection, toFlush, false, []) }
            // A replacement that arrives after close() told the others to exit is told too; one
            // whose work went elsewhere meanwhile may find the pool idle. Either way join() would
            // otherwise wait for it forever.
            return (connection, toFlush, false, state.shutdownSent ? [connection] : shutdownIfIdle(&state))
        }
        do {
            try NativeThread.detach(name: "mp-w\(connection.key)-in") { [self] in readLoop(connection) }
        } catch {
            connection.process.send(signal: SIGKILL)
            _ = connection.process.reap(graceMilliseconds: 0)
            connection.release()
            state.withLock { state in
                // Chunks already handed to it never left: they wait for another worker.
                if let slot = state.workers.removeValue(forKey: connection.key) { state.pending.prepend(slot.inFlight) }
            }
            throw error
        }
        if isDoomed { connection.process.send(signal: SIGKILL) }
        // Its start-up runs against a clock.
        pokeWatchdog()
        flush([connection] + toFlush.filter { $0 !== connection })
        for other in toShutDown { other.outbound.shutdownAfterQueued() }
    }

    /// Stops taking work; workers exit once everything submitted is done. An `imap` started
    /// before counts as submitted, as in Python: its remaining input is submitted now, its
    /// results wait for the consumer.
    func close() {
        let (toShutDown, streams): ([WorkerConnection], [any OpenStream]) = state.withLock { state in
            guard state.phase == .running else { return ([], []) }
            state.phase = .closing
            return (shutdownIfIdle(&state), state.openStreams.values.compactMap(\.stream))
        }
        for connection in toShutDown { connection.outbound.shutdownAfterQueued() }
        // Off the caller's thread: pulling and encoding the rest of an input can take a while,
        // and close() returns at once. Each stream reports itself closed when done.
        for stream in streams { Task.detached { stream.submitRemainingInput() } }
    }

    /// Registers an `imap` call that will submit chunks as its consumer pulls results.
    func streamOpened(_ stream: any OpenStream) throws(PoolError) {
        try state.withLock { (state: inout State) throws(PoolError) in
            try Self.checkAcceptingWork(state)
            state.openStreams[ObjectIdentifier(stream)] = WeakOpenStream(stream: stream)
        }
    }

    /// The stream will submit nothing more (input exhausted, cancelled, failed or dropped).
    /// Called once per stream, never with `state` locked.
    func streamClosed(_ id: ObjectIdentifier) {
        let toShutDown: [WorkerConnection] = state.withLock { state in
            state.openStreams.removeValue(forKey: id)
            return shutdownIfIdle(&state)
        }
        for connection in toShutDown { connection.outbound.shutdownAfterQueued() }
    }

    /// Fails everything not yet finished with `terminated` and kills the workers.
    func terminate() {
        let (failed, connections): ([ChunkWork], [WorkerConnection]) = state.withLock { state in
            guard state.phase != .terminating else { return ([], []) }
            state.phase = .terminating
            let failed = state.takeUnfinishedWork()
            return (failed, state.workers.values.map(\.connection))
        }
        for connection in connections { connection.process.send(signal: SIGKILL) }
        let error = PoolError(.terminated, "the pool was terminated before this item finished")
        for chunk in failed { chunk.sink.chunkFinished(chunk, .failed(error)) }
    }

    /// Waits until every worker has exited. Throws if the pool was neither closed nor terminated.
    func join() async throws(PoolError) {
        let mustWait: Bool = try state.withLock { (state: inout State) throws(PoolError) -> Bool in
            guard state.phase != .running else {
                throw PoolError(.poolStillRunning, "join() needs close() or terminate() first")
            }
            return !state.workers.isEmpty
        }
        guard mustWait else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.workers.isEmpty { return true }
                state.joinWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    var phase: Phase { state.withLock { $0.phase } }

    /// The scheduler's state in one line, for diagnosing a stuck call.
    var stateDescription: String {
        state.withLock { state in
            let workers = state.workers.keys.sorted().map { key -> String in
                let slot = state.workers[key]!
                return "\(slot.connection.name)[ready: \(slot.isReady), inFlight: \(slot.inFlight.map(\.taskID)), sent: \(slot.sentChunks)]"
            }
            let group = state.group.map {
                " group: \($0.id) of \($0.chunks.count)\($0.isDrained ? " (drained)" : ""), members \($0.members.sorted())"
            } ?? ""
            return "phase: \(state.phase), pending: \(state.pending.first.map { "\($0.taskID)…" } ?? "none"), workers: \(workers.joined(separator: " "))\(group)"
        }
    }

    /// How many calls have run as a ``ChunkGroup`` (for tests).
    var groupsMade: UInt64 { state.withLock { $0.nextGroupID } }

    /// How many workers sleep on the wake board now (for tests).
    var workersAsleepOnBoard: Int {
        let connections = state.withLock { $0.workers.values.map(\.connection) }
        return connections.filter { $0.wake?.isAsleep ?? false }.count
    }

    /// Throws the reason the pool takes no new work: its fatal error, or that it was closed.
    func ensureAcceptingWork() throws(PoolError) {
        try state.withLock { (state: inout State) throws(PoolError) in try Self.checkAcceptingWork(state) }
    }

    private static func checkAcceptingWork(_ state: State) throws(PoolError) {
        if let fatal = state.fatal { throw fatal }
        guard state.phase == .running else {
            throw PoolError(.poolNotRunning, "the pool was closed or terminated; it takes no new work")
        }
    }

    // MARK: - Work

    /// Sends what is queued for these workers, then wakes the ones asleep on the board with one
    /// system call: a wake-up may preempt this thread, and by then every worker has its chunk
    /// (see ``WakeBoard``).
    private func flush(_ connections: [WorkerConnection]) {
        var asleep: [Int32] = []
        for connection in connections where connection.outbound.flushWithoutWaking() {
            if let slot = connection.wake?.slot { asleep.append(slot) }
        }
        wakeBoard?.ring(asleep)
    }

    /// Queues chunks and dispatches what the workers can take. `fromOpenStream`: chunks of an
    /// `imap` started before `close()`, which are still accepted while the pool closes.
    /// `wholeCall`: these are all the chunks of one call, which may then run as a ``ChunkGroup``.
    func submit(_ chunks: [ChunkWork], fromOpenStream: Bool = false, wholeCall: Bool = false) throws(PoolError) {
        let toFlush: [WorkerConnection] = try state.withLock { (state: inout State) throws(PoolError) -> [WorkerConnection] in
            if fromOpenStream && state.fatal == nil {
                // A stream started earlier: it finishes while the pool closes, and learns of a
                // terminate() the way its submitted items do.
                if state.phase == .terminating {
                    throw PoolError(.terminated, "the pool was terminated before these items were submitted")
                }
            } else {
                try Self.checkAcceptingWork(state)
            }
            if wholeCall, let members = offerAsGroup(chunks, &state) { return members }
            state.pending.append(contentsOf: chunks)
            return schedule(&state)
        }
        flush(toFlush)
    }

    /// The shortest estimated chunk for which a call runs as a ``ChunkGroup``. Below it the
    /// pipelined dispatch already hides the round trips.
    static let groupChunkNanoseconds = 500_000.0
    /// The most bytes of chunks a group sends each worker.
    static let groupBytes = 256 * 1024

    /// Sends every ready worker all the chunks as a group, if the call and the pool allow it
    /// (see ``ChunkGroup``). Returns the workers to flush, or nil to dispatch the usual way.
    private func offerAsGroup(_ chunks: [ChunkWork], _ state: inout State) -> [WorkerConnection]? {
        // The group before may still have members passing its last chunks: this one takes the
        // other half of the claim words, which the one before that has left.
        if let current = state.group, !current.isDrained || state.drainedGroup != nil { return nil }
        guard let board = wakeBoard, state.pending.isEmpty, state.phase == .running,
              settings.maximumTasksPerChild == nil, chunks.count >= 2, chunks.count <= ChunkGroup.capacity,
              let first = chunks.first, let perItem = state.itemNanoseconds[first.taskType],
              chunks.allSatisfy({ $0.timeLimit == nil && $0.taskType == first.taskType && $0.sink === first.sink })
        else { return nil }
        let items = chunks.reduce(0) { $0 + $1.itemCount }
        guard perItem * Double(items) / Double(chunks.count) >= Self.groupChunkNanoseconds,
              chunks.reduce(0, { $0 + $1.frameBytes }) <= Self.groupBytes else { return nil }
        let members = Array(state.workers.values)
        guard members.count >= 2, members.allSatisfy({
            $0.isReady && $0.inFlight.isEmpty && $0.killReason == nil && $0.connection.wake != nil
        }) else { return nil }
        state.nextGroupID += 1
        let group = ChunkGroup(id: state.nextGroupID, chunks: chunks, members: Set(members.map(\.connection.key)), board: board)
        state.drainedGroup = state.group
        state.group = group
        let header = ParentMessage.group(id: group.id, firstClaim: group.firstClaim, count: chunks.count).encodeFrame()
        for slot in members {
            let outbound = slot.connection.outbound
            outbound.enqueue(header)
            for chunk in chunks { for piece in chunk.frame { outbound.enqueue(piece) } }
        }
        return members.map(\.connection)
    }

    /// How many chunks a worker may hold: one for long or not yet measured tasks, so work never
    /// queues behind a busy worker while another is free; more for short ones, so the channel's
    /// latency is hidden; never much more than `queuedBytesPerWorker` of large ones.
    private func pipelineDepth(_ state: State, for chunk: ChunkWork) -> Int {
        guard let perItem = state.itemNanoseconds[chunk.taskType] else { return 1 }
        let byTime = switch perItem * Double(chunk.itemCount) {
        case ..<50_000: 16
        case ..<500_000: 4
        case ..<5_000_000: 2
        default: 1
        }
        return min(byTime, max(1, Self.queuedBytesPerWorker / chunk.frameBytes))
    }

    /// About how many bytes of chunks a worker may hold. Moving a large buffer costs more
    /// than the round trip that pipelining hides, and each chunk held is memory the worker
    /// touches for the first time: in `pool-bench`'s payload (1 MiB buffers, two workers),
    /// sixteen in flight gave 1440-1980 MB/s, two 2530-2930, one 2830-3670 (three runs each).
    /// With work on each buffer it still pays on two CPUs: hashing 64 of them (about 1.3 ms
    /// each) took 48.7-50.5 ms with one held, 69.2-87.0 ms with up to sixteen (medians, four runs).
    static let queuedBytesPerWorker = 1 << 20

    /// Hands pending chunks to the least-loaded workers. Returns the connections to flush.
    /// Chunks of calls that no longer want results (failed early, cancelled) are dropped.
    private func schedule(_ state: inout State) -> [WorkerConnection] {
        guard !state.pending.isEmpty, state.phase != .terminating else { return [] }
        let limit = settings.maximumTasksPerChild ?? Int.max
        var touched: [WorkerConnection] = []
        var timed = false
        while let next = state.pending.first {
            let depth = pipelineDepth(state, for: next)
            // The slot itself, not its key: each lookup by key hashes, and this runs under the
            // lock every reader thread takes for every answer.
            var best: WorkerSlot?
            var bestLoad = Int.max
            // A worker the pool has signalled to end is dying: an answer it sent before the
            // signal can still free a place in its queue, and a chunk put there would die with it.
            for slot in state.workers.values
            where slot.inFlight.count < depth && slot.sentChunks < limit && slot.killReason == nil
                && !state.isInGroup(slot.connection.key) {
                if slot.inFlight.count < bestLoad || (slot.inFlight.count == bestLoad && slot.connection.key < best!.connection.key) {
                    best = slot
                    bestLoad = slot.inFlight.count
                }
            }
            guard let slot = best, let chunk = state.pending.popFirst() else { break }
            if chunk.sink.isFinished { continue }
            if slot.inFlight.isEmpty && slot.isReady {
                // A worker still starting up starts the clock when it says it is ready.
                slot.headStarted = .now
                timed = timed || chunk.timeLimit != nil
            }
            slot.inFlight.append(chunk)
            slot.sentChunks += 1
            let connection = slot.connection
            chunk.sink.dispatched(to: connection)
            for piece in chunk.frame { connection.outbound.enqueue(piece) }
            if !touched.contains(where: { $0 === connection }) { touched.append(connection) }
        }
        if timed { pokeWatchdog() }
        return touched
    }

    /// After `close()`, once nothing is pending or running, tells every worker to exit.
    private func shutdownIfIdle(_ state: inout State) -> [WorkerConnection] {
        // Members of a drained group only pass chunks others ran: they read the shutdown after.
        guard state.phase == .closing, !state.shutdownSent, state.pending.isEmpty, state.openStreams.isEmpty,
              state.group?.isDrained ?? true, state.workers.values.allSatisfy({ $0.inFlight.isEmpty }) else { return [] }
        state.shutdownSent = true
        return state.workers.values.map(\.connection)
    }

    /// A call was cancelled: drop its waiting chunks and, if the pool is set to, kill the
    /// workers running its items (they are replaced). Other calls are not affected.
    func cancel(_ sink: any ChunkSink) {
        let (toKill, toFlush): ([WorkerConnection], [WorkerConnection]) = state.withLock { state in
            _ = state.pending.removeAll(for: sink)
            var toKill: [WorkerConnection] = []
            var toFlush: [WorkerConnection] = []
            if let group = state.group, group.chunks.first?.sink === sink {
                // No worker starts another of its chunks; those running are killed below if the
                // pool is set to (a worker holding its answers is killed too: they are not wanted).
                _ = group.withdrawUnclaimed()
                let holders = group.claimants()
                for slot in state.workers.values where settings.killRunningOnCancel && slot.killReason == nil {
                    guard let claimant = slot.connection.wake?.claimant, holders.contains(claimant) else { continue }
                    slot.killReason = .cancelled
                    slot.killSent = true
                    toKill.append(slot.connection)
                }
            }
            for key in state.workers.keys {
                // Chunks sent but not started: ask the worker to skip them.
                let queued = state.workers[key]!.inFlight.dropFirst().filter { $0.sink === sink }.map(\.taskID)
                if !queued.isEmpty {
                    state.workers[key]!.connection.outbound.enqueue(ParentMessage.cancel(taskIDs: queued).encodeFrame())
                    toFlush.append(state.workers[key]!.connection)
                }
                guard settings.killRunningOnCancel, let head = state.workers[key]!.inFlight.first, head.sink === sink,
                      state.workers[key]!.killReason == nil else { continue }
                state.workers[key]!.killReason = .cancelled
                state.workers[key]!.killedTaskID = head.taskID
                state.workers[key]!.killSent = true
                toKill.append(state.workers[key]!.connection)
            }
            return (toKill, toFlush)
        }
        flush(toFlush)
        for connection in toKill { connection.process.send(signal: SIGKILL) }
    }

    /// The watchdog's check: SIGTERM to workers whose running chunk is over its time limit,
    /// SIGKILL to those still alive a grace period later. Returns the time to the next deadline.
    private func enforceTimeLimits() -> Duration? {
        let now = ContinuousClock.now
        var next: Duration?
        func consider(_ delay: Duration) { next = next.map { min($0, delay) } ?? delay }
        let (toTerminate, toKill): ([WorkerConnection], [WorkerConnection]) = state.withLock { state in
            var toTerminate: [WorkerConnection] = []
            var toKill: [WorkerConnection] = []
            for key in state.workers.keys {
                let slot = state.workers[key]!
                if let sent = slot.terminateSentAt {
                    guard !slot.killSent else { continue }
                    if now >= sent + settings.killGrace {
                        state.workers[key]!.killSent = true
                        toKill.append(slot.connection)
                    } else {
                        consider(sent + settings.killGrace - now)
                    }
                    continue
                }
                if !slot.isReady, slot.killReason == nil {
                    let (limit, inInitializer) = slot.initializingSince == nil
                        ? (settings.startTimeout, false) : (settings.initializerTimeout, true)
                    let deadline = (slot.initializingSince ?? slot.spawnedAt) + limit
                    if now >= deadline {
                        state.workers[key]!.killReason = .startTimedOut(limit, inInitializer: inInitializer)
                        state.workers[key]!.terminateSentAt = now
                        toTerminate.append(slot.connection)
                        consider(settings.killGrace)
                    } else {
                        consider(deadline - now)
                    }
                    continue
                }
                guard slot.killReason == nil, let head = slot.inFlight.first, let limit = head.timeLimit,
                      let started = slot.headStarted else { continue }
                if now >= started + limit {
                    state.workers[key]!.killReason = .timedOut(limit)
                    state.workers[key]!.killedTaskID = head.taskID
                    state.workers[key]!.terminateSentAt = now
                    toTerminate.append(slot.connection)
                    consider(settings.killGrace)
                } else {
                    consider(started + limit - now)
                }
            }
            return (toTerminate, toKill)
        }
        for connection in toTerminate { connection.process.send(signal: SIGTERM) }
        for connection in toKill { connection.process.send(signal: SIGKILL) }
        return next
    }

    // MARK: - Messages from workers

    /// The reader thread of one worker: every message, then the worker's end.
    private func readLoop(_ connection: WorkerConnection) {
        let inbound = connection.inbound
        // Sends caused by answers are made once the frames already read are handled: one
        // system call per burst instead of one per answer.
        var toFlush: [WorkerConnection] = []
        let jobs = ReaderThreadJobs(installingFor: executor)
        defer { jobs.uninstall() }
        var end: InboundChannel.End?
        while end == nil {
            if inbound.sleepWhileCallerReads() { continue }
            // Wait outside the lock, so that a caller waiting actively for its answer can read
            // meanwhile. EOF and errors count as readable.
            let ready = cmp_poll_readable(inbound.descriptor, -1)
            if ready < 0 && ready != -EINTR {
                end = .failed(FrameReader.Failure.readFailed(-ready))
                break
            }
            // Not waiting for the lock: a caller that holds it is reading this very input, and
            // waiting would make its unlock a system call to wake this thread. Whatever it leaves
            // unread keeps the descriptor readable, so the next poll returns at once.
            guard let ended = inbound.withStateIfFree({ input in
                handleAvailableFrames(&input, from: connection, waitForAttachments: true, flushLater: &toFlush)
                return input.end
            }) else { continue }
            end = ended
            flush(toFlush)
            toFlush.removeAll(keepingCapacity: true)
            jobs.runPending()
        }
        var violation: String?
        if case .failed(let error) = end, !Self.isOrdinaryEnd(error) { violation = "\(error)" }
        workerEnded(connection, violation: violation)
    }

    /// Handles every frame the channel has now, reading what the pipe holds without waiting;
    /// records the end of the stream in `input` when it reads it. An answer announced in the
    /// pipe is read from the socket at once, waiting for it if need be, by whoever read the
    /// announcement, a caller of `apply` included: the worker is sending it, and left for the
    /// reader thread it could wait unseen (the pipe, which the reader thread waits on, may
    /// have nothing more to say).
    private func handleAvailableFrames(_ input: inout InboundChannel.State, from connection: WorkerConnection,
                                       waitForAttachments: Bool, flushLater: inout [WorkerConnection]) {
        guard input.end == nil, !input.closed else { return }
        var read = true
        do {
            while true {
                if input.framesOnSocket > 0 {
                    let handled: Void? = try input.socketReader.withNextFrame { bytes, attachments in
                        try received(try WorkerMessage.decode(bytes, attachments: attachments), from: connection, flushLater: &flushLater)
                    }
                    // The socket ended where an answer was announced: the worker died sending it.
                    guard handled != nil else { throw FrameReader.Failure.truncated }
                    input.framesOnSocket -= 1
                    continue
                }
                let available = try input.reader.withAvailableFrame(read: read, waitForAttachments: waitForAttachments) { bytes, attachments -> Bool in
                    let message = try WorkerMessage.decode(bytes, attachments: attachments)
                    if case .followsOnSocket = message { return true }
                    try received(message, from: connection, flushLater: &flushLater)
                    return false
                }
                switch available {
                case .frame(let announcesSocketFrame):
                    if announcesSocketFrame { input.framesOnSocket += 1 }
                    read = false  // read again only if the last read filled its room
                case .notYet: return
                case .ended:
                    input.end = .clean
                    return
                }
            }
        } catch {
            input.end = .failed(error)
            // A worker that sent something it should not cannot be trusted; killing it also
            // makes the pipe readable (EOF), so the reader thread wakes to handle its end even
            // when a caller of apply read the bad frame.
            if !Self.isOrdinaryEnd(error) { connection.process.send(signal: SIGKILL) }
        }
    }

    /// A stream cut inside a frame (the worker died while writing) or a reset (it died with our
    /// frames unread) is an ordinary death; anything else is a protocol violation.
    private static func isOrdinaryEnd(_ error: any Error) -> Bool {
        switch error {
        case FrameReader.Failure.truncated, FrameReader.Failure.readFailed: return true
        default: return false
        }
    }

    /// For a caller of `apply` waiting actively: handles what the worker running its chunk has
    /// sent, unless that worker's reader thread is at it. Returns whether the call has its answer.
    func readAnswer(for call: SingleCall) -> Bool {
        if call.isAnswered { return true }
        guard let connection = call.connection else { return false }
        call.readsItself = true
        connection.inbound.callerReads(now: cmp_monotonic_ns())
        var toFlush: [WorkerConnection] = []
        let leftForReader = connection.inbound.withStateIfFree { input -> Bool in
            // Large buffers still arriving are left to the reader thread: this caller must not wait.
            handleAvailableFrames(&input, from: connection, waitForAttachments: false, flushLater: &toFlush)
            // The end, or a frame whose attachments are still coming: the reader thread's work.
            return input.end != nil || input.reader.hasFrameHead
        }
        if leftForReader == true { connection.inbound.wakeReader() }
        flush(toFlush)
        return call.isAnswered
    }

    /// A caller that read its worker's answers stopped (answered or not): if it has no answer,
    /// the reader thread must take over now rather than when it next looks.
    func stopReading(for call: SingleCall) {
        guard call.readsItself, !call.isAnswered, let connection = call.connection else { return }
        connection.inbound.wakeReader()
    }

    /// What handling an answer under the lock leaves to do after it. A struct, not a tuple: the
    /// runtime's generic tuple code showed in the readers' profile.
    private struct AnsweredChunk {
        let chunk: ChunkWork
        let toFlush: [WorkerConnection]
        let toShutDown: [WorkerConnection]
    }

    private struct ProtocolViolation: Error, CustomStringConvertible {
        let description: String
    }

    private func received(_ message: WorkerMessage, from connection: WorkerConnection,
                          flushLater: inout [WorkerConnection]) throws {
        switch message {
        case .ready:
            let timed = state.withLock { state -> Bool in
                state.startFailuresInARow = 0
                guard let slot = state.workers[connection.key] else { return false }
                slot.isReady = true
                guard let head = slot.inFlight.first else { return false }
                slot.headStarted = .now
                return head.timeLimit != nil
            }
            if timed { pokeWatchdog() }
        case .initializerFailed(let failure):
            initializerFailed(failure, in: connection)
        case .initializing:
            state.withLock { state in state.workers[connection.key]?.initializingSince = .now }
            pokeWatchdog()
        case .followsOnSocket:
            throw ProtocolViolation(description: "\(connection.name) announced an answer on the socket, on the socket")
        case .groupDone(let id):
            try groupDone(id, from: connection)
        case .result(let taskID, let nanoseconds, let outcome):
            let match: AnswerMatch = state.withLock { state in
                guard let slot = state.workers[connection.key] else { return .unknown }
                guard let first = slot.inFlight.first, first.taskID == taskID else {
                    return groupAnswer(taskID, nanoseconds: nanoseconds, from: connection, &state)
                }
                slot.inFlight.removeFirst()
                if let next = slot.inFlight.first {
                    slot.headStarted = .now
                    if next.timeLimit != nil { pokeWatchdog() }
                }
                Self.record(nanoseconds, of: first, &state)
                return .chunk(AnsweredChunk(chunk: first, toFlush: schedule(&state), toShutDown: shutdownIfIdle(&state)))
            }
            let answered: AnsweredChunk
            switch match {
            case .chunk(let chunk): answered = chunk
            case .ignored: return
            case .unknown: throw ProtocolViolation(description: "\(connection.name) answered task \(taskID), which it was not running")
            }
            let chunk = answered.chunk
            for other in answered.toFlush where !flushLater.contains(where: { $0 === other }) { flushLater.append(other) }
            for other in answered.toShutDown { other.outbound.shutdownAfterQueued() }
            chunk.sink.chunkFinished(chunk, .answered(outcome, by: connection.label))
        }
    }

    /// How an answer matched what the worker was given.
    private enum AnswerMatch {
        case chunk(AnsweredChunk)
        /// A chunk of a group the pool gave up on: its outcome went elsewhere.
        case ignored
        case unknown
    }

    /// Folds a chunk's run time into its task type's estimate per item.
    private static func record(_ nanoseconds: UInt64, of chunk: ChunkWork, _ state: inout State) {
        let perItem = Double(nanoseconds) / Double(max(1, chunk.itemCount))
        state.itemNanoseconds[chunk.taskType] = state.itemNanoseconds[chunk.taskType].map { $0 * 0.8 + perItem * 0.2 } ?? perItem
    }

    /// An answer to a chunk of the group, from the worker that claimed it. The answer that
    /// settles the last chunk, after every member's `.groupDone`, ends the group, before the
    /// call learns it is complete: the caller's next call finds the workers free.
    private func groupAnswer(_ taskID: UInt64, nanoseconds: UInt64, from connection: WorkerConnection,
                             _ state: inout State) -> AnswerMatch {
        guard let group = state.group, let position = group.position(of: taskID), let claimant = connection.wake?.claimant,
              group.isClaimed(position, by: claimant) else {
            // After terminate() every chunk has failed already and the workers are dying.
            return state.phase == .terminating ? .ignored : .unknown
        }
        guard group.settle(position) else { return .ignored }
        let chunk = group.chunks[position]
        Self.record(nanoseconds, of: chunk, &state)
        let end = afterSettling(group, &state)
        return .chunk(AnsweredChunk(chunk: chunk, toFlush: end.toFlush, toShutDown: end.toShutDown))
    }

    /// Once the group is drained its workers may take other work; once over it is gone, and
    /// its claim words are free.
    private func afterSettling(_ group: ChunkGroup, _ state: inout State) -> GroupEnd {
        guard group.isDrained else { return GroupEnd() }
        if group.isOver { state.group = nil }
        return GroupEnd(toFlush: schedule(&state), toShutDown: shutdownIfIdle(&state))
    }

    /// A worker passed every chunk of the group; the answers it held follow. With the last
    /// member gone, chunks nobody claimed (a worker that could not) go back to the queue.
    private func groupDone(_ id: UInt64, from connection: WorkerConnection) throws {
        let end: GroupEnd? = state.withLock { state in
            if let drained = state.drainedGroup, drained.id == id {
                guard drained.leave(connection.key) else { return nil }
                if drained.members.isEmpty { state.drainedGroup = nil }
                return GroupEnd()
            }
            guard let group = state.group, group.id == id, group.leave(connection.key) else { return nil }
            return lastMemberLeft(group, &state)
        }
        guard let end else {
            throw ProtocolViolation(description: "\(connection.name) ended group \(id), which it was not in")
        }
        flush(end.toFlush)
        for other in end.toShutDown { other.outbound.shutdownAfterQueued() }
    }

    /// What ending a group under the lock leaves to do after it.
    private struct GroupEnd {
        var toFlush: [WorkerConnection] = []
        var toShutDown: [WorkerConnection] = []
    }

    /// After a member left: if it was the last, chunks nobody claimed go back to the queue, and
    /// the group ends if nothing is left to answer.
    private func lastMemberLeft(_ group: ChunkGroup, _ state: inout State) -> GroupEnd {
        guard group.members.isEmpty else { return GroupEnd() }
        state.pending.prepend(group.withdrawUnclaimed())
        return afterSettling(group, &state)
    }

    private func initializerFailed(_ failure: RemoteFailure, in connection: WorkerConnection) {
        let error = PoolError(.initializerFailed,
            "the pool's initializer threw in \(connection.name) (pid \(connection.process.pid)): \(failure.typeName): \(failure.description)",
            workerName: connection.name, workerPID: connection.process.pid)
        let (failed, connections): ([ChunkWork], [WorkerConnection]) = state.withLock { state in
            if state.fatal == nil { state.fatal = error }
            state.phase = .terminating
            let failed = state.takeUnfinishedWork()
            return (failed, state.workers.values.map(\.connection))
        }
        for other in connections where other !== connection { other.process.send(signal: SIGKILL) }
        for chunk in failed { chunk.sink.chunkFinished(chunk, .failed(error)) }
    }

    /// The worker's channel ended: reap it, fail the chunk it was running, requeue the ones it
    /// had not started, and start a replacement if the pool still has work for it.
    private func workerEnded(_ connection: WorkerConnection, violation: String?) {
        let status = connection.process.reap(graceMilliseconds: settings.exitGraceMilliseconds)
        // Final now that the worker is gone; read before its slot goes back to the board.
        let chunksTaken = connection.wake?.chunksTaken
        connection.release()
        let label = connection.label

        var failedChunk: ChunkWork?
        var failure: PoolError?
        var abandoned: [ChunkWork] = []
        var replace = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var toShutDown: [WorkerConnection] = []
        var toFlush: [WorkerConnection] = []
        var groupEnd: GroupEnd?
        var lostInGroup: [ChunkWork] = []
        var killedForCancel = false
        state.withLock { state in
            guard let slot = state.workers.removeValue(forKey: connection.key) else { return }
            if case .cancelled? = slot.killReason { killedForCancel = true }
            if let drained = state.drainedGroup, drained.leave(connection.key), drained.members.isEmpty {
                state.drainedGroup = nil
            }
            if let group = state.group {
                // What it claimed and did not answer died with it.
                if let claimant = connection.wake?.claimant { lostInGroup = group.takeClaimed(by: claimant) }
                groupEnd = group.leave(connection.key) ? lastMemberLeft(group, &state) : afterSettling(group, &state)
            }
            var startTimedOut: (limit: Duration, inInitializer: Bool)?
            if case .startTimedOut(let limit, let inInitializer)? = slot.killReason { startTimedOut = (limit, inInitializer) }
            if !slot.isReady && (slot.killReason == nil || startTimedOut != nil) {
                // It died starting up (e.g. in the initializer): no chunk ran, so none failed.
                state.pending.prepend(slot.inFlight)
            } else if slot.killReason == nil && violation == nil
                        && Self.startedChunks(of: slot, taken: chunksTaken) == 0 {
                // It died before it took any of them (killed while idle, say): none failed.
                state.pending.prepend(slot.inFlight)
            } else if let running = slot.inFlight.first {
                failedChunk = running
                state.pending.prepend(Array(slot.inFlight.dropFirst()))
                if let reason = slot.killReason, slot.killedTaskID == running.taskID {
                    switch reason {
                    case .timedOut(let limit):
                        failure = PoolError(.taskTimedOut,
                            "item \(running.firstItem)\(running.itemCount > 1 ? "–\(running.firstItem + running.itemCount - 1)" : "") ran longer than its time limit of \(limit) in \(label.name) (pid \(label.pid)); the worker was killed (\(status)) and replaced",
                            workerName: label.name, workerPID: label.pid, exitStatus: status)
                    case .cancelled:
                        failure = PoolError(.cancelled,
                            "the call was cancelled; \(label.name) (pid \(label.pid)) running item \(running.firstItem) was killed",
                            workerName: label.name, workerPID: label.pid, exitStatus: status)
                    case .startTimedOut(let limit, _):
                        // It said it was ready just as the pool gave up waiting for it.
                        failure = PoolError(.workerDied,
                            "\(label.name) (pid \(label.pid)) was killed for not starting within \(limit) while it ran item \(running.firstItem)",
                            workerName: label.name, workerPID: label.pid, exitStatus: status)
                    }
                } else if let violation {
                    failure = PoolError(.protocolViolation,
                        "\(label.name) (pid \(label.pid)) sent a malformed message and was replaced: \(violation)",
                        workerName: label.name, workerPID: label.pid, exitStatus: status)
                } else {
                    failure = PoolError(.workerDied,
                        "\(label.name) (pid \(label.pid)) died while running item \(running.firstItem)\(running.itemCount > 1 ? "–\(running.firstItem + running.itemCount - 1)" : ""): \(status)"
                            + (WorkerExitCode.runFailure(status).map { ": \($0)" } ?? ""),
                        workerName: label.name, workerPID: label.pid, exitStatus: status)
                }
            }
            if !slot.isReady && (slot.killReason == nil || startTimedOut != nil) && state.phase != .terminating
                && status != .exited(0) {
                state.startFailuresInARow += 1
                if state.startFailuresInARow >= settings.maximumStartFailures && state.fatal == nil {
                    state.fatal = Self.startFailure(count: state.startFailuresInARow, label: label, status: status,
                                                    timedOut: startTimedOut, initializer: settings.initializerName)
                    state.phase = .terminating
                    abandoned = state.takeUnfinishedWork()
                }
            }
            // Scheduling first hands the requeued chunks to the other workers and drops those of
            // calls that want no more results (a cancelled imap's), so what is left is real work.
            toFlush = schedule(&state)
            switch state.phase {
            case .running:
                replace = true
            case .closing:
                // Requeued work, or an open imap's input yet to come, still needs a worker;
                // otherwise the pool is winding down.
                replace = !state.pending.isEmpty || !state.openStreams.isEmpty
                toShutDown = shutdownIfIdle(&state)
            case .terminating:
                replace = false
                if let chunk = failedChunk {
                    abandoned.append(chunk)
                    failedChunk = nil
                }
                abandoned += state.pending.removeAll()
            }
            if state.workers.isEmpty && !replace {
                waiters = state.joinWaiters
                state.joinWaiters = []
                watchdog.stop()
                wakeBoard?.closeDescriptor()
            }
        }
        if let chunk = failedChunk, let failure {
            chunk.sink.chunkFinished(chunk, .failed(failure))
        }
        if !lostInGroup.isEmpty {
            let failure = Self.groupLoss(lostInGroup, label: label, status: status, cancelled: killedForCancel)
            for chunk in lostInGroup { chunk.sink.chunkFinished(chunk, .failed(failure)) }
        }
        if let groupEnd {
            flush(groupEnd.toFlush)
            for other in groupEnd.toShutDown { other.outbound.shutdownAfterQueued() }
        }
        if !abandoned.isEmpty {
            let error = state.withLock { $0.fatal } ?? PoolError(.terminated, "the pool was terminated before this item finished")
            for chunk in abandoned { chunk.sink.chunkFinished(chunk, .failed(error)) }
        }
        flush(toFlush)
        for other in toShutDown { other.outbound.shutdownAfterQueued() }
        if replace {
            do {
                try spawnWorker()
            } catch {
                failEverything(with: error)
            }
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The pool's error once `count` workers in a row died before they were ready, the last
    /// one `label`: killed over its start-up or initializer time limit, or dead on its own.
    private static func startFailure(count: Int, label: WorkerLabel, status: ExitStatus,
                                     timedOut: (limit: Duration, inInitializer: Bool)?, initializer: String?) -> PoolError {
        switch timedOut {
        case (let limit, true)?:
            return PoolError(.initializerFailed,
                "the pool's initializer \(initializer ?? "")"
                    + " ran longer than its time limit of \(limit) in \(count) workers in a row; the last, \(label.name) (pid \(label.pid)), was killed (\(status))",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        case (let limit, false)?:
            return PoolError(.spawnFailed,
                "\(count) workers in a row did not start serving within the start-up limit of \(limit); the last, \(label.name) (pid \(label.pid)), was killed (\(status))",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        case nil:
            return PoolError(.spawnFailed,
                "\(count) workers in a row died before they were ready; the last, \(label.name) (pid \(label.pid)), ended with \(status)"
                    + (WorkerExitCode.startFailure(status).map { ": \($0)" } ?? ""),
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        }
    }

    /// How many of a dead worker's chunks in flight it had taken to run: those before the
    /// others, in send order. Without a board to count on, the first is taken to have started.
    private static func startedChunks(of slot: WorkerSlot, taken: UInt32?) -> Int {
        guard let taken else { return min(1, slot.inFlight.count) }
        let answered = slot.sentChunks - slot.inFlight.count
        return min(max(0, Int(taken) - answered), slot.inFlight.count)
    }

    /// The error for the chunks of a group a worker claimed and died without answering: it may
    /// have run some of them; their results died with it.
    private static func groupLoss(_ chunks: [ChunkWork], label: WorkerLabel, status: ExitStatus, cancelled: Bool) -> PoolError {
        let items = chunks.sorted { $0.firstItem < $1.firstItem }.map { chunk in
            chunk.itemCount > 1 ? "\(chunk.firstItem)–\(chunk.firstItem + chunk.itemCount - 1)" : "\(chunk.firstItem)"
        }.joined(separator: ", ")
        let noun = chunks.count == 1 && chunks[0].itemCount == 1 ? "item" : "items"
        if cancelled {
            return PoolError(.cancelled,
                "the call was cancelled; \(label.name) (pid \(label.pid)) holding \(noun) \(items) was killed",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        }
        return PoolError(.workerDied,
            "\(label.name) (pid \(label.pid)) died before sending the results of \(noun) \(items): \(status)",
            workerName: label.name, workerPID: label.pid, exitStatus: status)
    }

    /// A replacement could not be started: the pool cannot go on.
    private func failEverything(with error: PoolError) {
        let (failed, waiters): ([ChunkWork], [CheckedContinuation<Void, Never>]) = state.withLock { state in
            if state.fatal == nil { state.fatal = error }
            state.phase = .terminating
            let failed = state.takeUnfinishedWork()
            guard state.workers.isEmpty else { return (failed, []) }
            watchdog.stop()
            wakeBoard?.closeDescriptor()
            let waiters = state.joinWaiters
            state.joinWaiters = []
            return (failed, waiters)
        }
        for chunk in failed { chunk.sink.chunkFinished(chunk, .failed(error)) }
        for waiter in waiters { waiter.resume() }
    }
}
