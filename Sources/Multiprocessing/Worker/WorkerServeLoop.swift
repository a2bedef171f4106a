import CMultiprocessing
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The worker's side of the channel: configure, run the initializer, then run chunks in order
/// until the parent closes the channel or the task limit is reached.
///
/// Each turn of the loop receives what the parent sent (``WorkerInbox``, which queues runs in
/// a ``RunQueue``), runs the next chunk (``ChunkRunner``) and replies (``WorkerReplies``).
struct WorkerServeLoop {
    /// The socket the parent's requests come down.
    let requests: Int32
    /// The pipe answers go up; large ones go down `requests` instead (see `WorkerReplies.send`).
    let answers: Int32
    /// The worker's slot, if the pool gave it one (see ``WakeBoard``): where it sleeps when idle,
    /// unless it waits on its socket, and its answer shelf.
    let wakeBoard: WorkerWakeBoard?
    /// Whether it waits for chunks on `requests` at once (see ``WorkerIdleWait/waitsOnSocket``).
    var waitsOnSocket = false
    /// Frames from the parent are trusted to this size (a run frame carries a chunk's inputs).
    static let maximumFrameSize = Int(UInt32.max)

    /// Serves the parent until the worker is to exit; returns why, its exit status.
    func serve() async -> WorkerExitCode {
        var reader = FrameReader(descriptor: requests, maximumFrameSize: Self.maximumFrameSize)
        do {
            guard let first = try reader.withNextFrame({ try ParentMessage.decode($0, attachments: $1) }) else { return .finished }
            guard case .configure(let configuration) = first else { return .unexpectedFirstMessage }
            let logs = configure(configuration)
            let replies = WorkerReplies(
                requests: requests, answers: answers,
                maxMessageBytes: configuration.maxMessageBytes, logs: logs,
                shelf: wakeBoard?.shelf(answers: answers, logs: logs))
            if let logs { startSendingLogs(logs, maxMessageBytes: configuration.maxMessageBytes) }
            // What the worker logged last leaves before it exits.
            defer { replies.sendLogs() }
            if let initializer = configuration.initializer {
                replies.send(.initializing)
                do {
                    try await runInitializer(initializer)
                } catch {
                    replies.send(.initializerFailed(RemoteFailure(error)))
                    return .initializerFailed
                }
            }
            replies.send(.ready(pid: getpid()))
            var state = ServeLoopState(
                inbox: WorkerInbox(reader: reader, idle: WorkerIdleWait(board: wakeBoard, waitsOnSocket: waitsOnSocket)), replies: replies,
                maxTasksPerChild: configuration.maxTasksPerChild, maxMemoryPerChild: configuration.maxMemoryPerChild)
            let exitCode = try await serveChunks(&state)
            state.replies.sendHeld()
            return exitCode
        } catch FrameReader.Failure.readFailed(let error) where error == EBADF || error == ENOTSOCK {
            return .channelClosed
        } catch {
            // A frame we cannot read: the channel cannot be trusted; the parent sees us go.
            return .unreadableMessage
        }
    }

    /// Receives, runs and answers chunks until the parent closes the channel or the task limit
    /// is reached.
    private func serveChunks(_ state: inout ServeLoopState) async throws -> WorkerExitCode {
        // Set when the parent closed the channel after this worker said it retires: the runs
        // it was sent before are still to run.
        var closedAfterRetiring = false
        while true {
            if state.inbox.isEmpty {
                // Nothing is held while the worker waits: the parent may be waiting for it.
                state.replies.sendHeld()
                guard !closedAfterRetiring, try state.inbox.waitForRequest() else { return .finished }
            }
            if !closedAfterRetiring, try !state.inbox.takeBuffered() {
                guard state.retiring else { return .finished }
                closedAfterRetiring = true
            }
            // The raw clock: `ContinuousClock`'s 128-bit `Duration` arithmetic showed in the
            // serve loop's profile, which reads the clock twice per chunk.
            let started = cmp_monotonic_ns()
            if !closedAfterRetiring, try !state.inbox.pollIfDue(now: started) {
                guard state.retiring else { return .finished }
                closedAfterRetiring = true
            }
            guard let run = state.inbox.next() else {
                if closedAfterRetiring { return .finished }
                continue
            }
            // An answer that may not wait must not wait behind held ones either.
            if !run.mayHoldAnswer || run.claim != nil { state.replies.sendShelf() }
            if let claim = run.claim, wakeBoard?.claim(claim) != true {
                // Another worker took this chunk of the group.
                if let group = run.endsGroup { state.replies.endGroup(group) }
                continue
            }
            if run.claim == nil { wakeBoard?.countTaken() }
            let outcome: WorkerChunkOutcome
            if run.traceCarrier == nil {
                outcome = await state.runner.run(run)
            } else {
                var runner = state.runner
                outcome = await TraceCarrier.run(in: run.traceCarrier) { await runner.run(run) }
                state.runner = runner
            }
            state.replies.reply(to: run, outcome, ranFor: cmp_monotonic_ns() &- started, moreQueued: !state.inbox.isEmpty)
            state.completed += 1
            if state.maxTasksPerChild > 0 && state.completed >= state.maxTasksPerChild {
                state.replies.sendHeld()
                return .finished
            }
            if state.maxMemoryPerChild > 0 && !state.retiring, let resident = ResidentMemory.bytes(),
                resident > state.maxMemoryPerChild
            {
                // The parent sends no more and closes the channel; what it sent before still runs.
                state.retiring = true
                state.replies.sendHeld()
                state.replies.send(.retiring(residentBytes: UInt64(resident)))
            }
        }
    }

    /// Takes the worker's name and installs its log handler; returns the outbox its records
    /// wait in when they go to the parent.
    private func configure(_ configuration: WorkerConfiguration) -> WorkerLogOutbox? {
        CurrentProcess.becomeWorker(named: configuration.workerName)
        cmp_set_thread_name(configuration.workerName)
        // `ps` shows the main thread's name, which is still "exe": rename it too.
        let comm = open("/proc/self/comm", O_WRONLY)
        if comm >= 0 {
            let name = Array(configuration.workerName.utf8.prefix(15))
            _ = name.withUnsafeBytes { write(comm, $0.baseAddress, $0.count) }
            close(comm)
        }
        guard let level = configuration.logLevel.flatMap(Logger.Level.init(rawValue:)) else { return nil }
        guard configuration.forwardedLogRecords > 0 else {
            ProcessNameLogHandler.bootstrapInWorker(logLevel: level)
            return nil
        }
        let outbox = WorkerLogOutbox(capacity: configuration.forwardedLogRecords, maxMessageBytes: configuration.maxMessageBytes)
        // A worker whose run of `main` installed a handler already keeps it (one bootstrap
        // per process).
        guard ProcessNameLogHandler.claimBootstrap(logLevel: level) else { return nil }
        LoggingSystem.bootstrap { label in ParentForwardingLogHandler(label: label, outbox: outbox, logLevel: level) }
        return outbox
    }

    /// Starts the thread that sends `logs`' records as they come, so that they reach the
    /// parent while a long chunk runs (and before the worker dies, if it does).
    private func startSendingLogs(_ logs: WorkerLogOutbox, maxMessageBytes: Int) {
        let requests = requests
        let answers = answers
        // Without the thread, records still go with each answer.
        try? NativeThread.detach(name: "mp-logs") {
            let replies = WorkerReplies(requests: requests, answers: answers, maxMessageBytes: maxMessageBytes, logs: logs)
            while true {
                logs.waitForRecords()
                replies.sendLogs()
            }
        }
    }

    private func runInitializer(_ encoded: EncodedValue) async throws {
        guard let type = _typeByName(encoded.typeName) as? any PoolInitializer.Type else {
            throw PoolError(.unsupportedTaskType, "the worker cannot find a PoolInitializer type named \(encoded.typeName)")
        }
        try await Self.runInitializer(type, payload: encoded.payload)
    }

    private static func runInitializer<I: PoolInitializer>(_ type: I.Type, payload: [UInt8]) async throws {
        let initializer = try BinaryDecoder().decode(I.self, from: payload[...])
        try await initializer.run()
    }
}

/// What the serve loop carries from one chunk to the next.
struct ServeLoopState: ~Copyable {
    /// The requests read and the runs queued.
    var inbox: WorkerInbox
    /// The task types found and the task decoded last.
    var runner = ChunkRunner()
    /// Where answers go, and those held back.
    var replies: WorkerReplies
    /// Chunks to run before exiting (Python's `maxtasksperchild`); 0 means no limit.
    let maxTasksPerChild: Int
    /// Resident bytes over which the worker retires after a chunk; 0 means no limit.
    let maxMemoryPerChild: Int
    /// Chunks taken so far: run, or skipped as cancelled.
    var completed = 0
    /// Set once the worker told the parent it retires (over `maxMemoryPerChild`).
    var retiring = false

    init(inbox: consuming WorkerInbox, replies: WorkerReplies, maxTasksPerChild: Int, maxMemoryPerChild: Int) {
        self.inbox = inbox
        self.replies = replies
        self.maxTasksPerChild = maxTasksPerChild
        self.maxMemoryPerChild = maxMemoryPerChild
    }
}
