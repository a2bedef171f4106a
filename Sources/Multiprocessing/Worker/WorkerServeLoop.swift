import CMultiprocessing
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The worker's side of the channel: configure, run the initializer, then run chunks in order
/// until the parent closes the channel or the task limit is reached.
struct WorkerServeLoop {
    /// The socket the parent's requests come down.
    let requests: Int32
    /// The pipe answers go up; large ones go down `requests` instead (see `send`).
    let answers: Int32
    /// Where the worker sleeps when idle, if the pool gave it a slot (see ``WakeBoard``).
    let wakeBoard: WorkerWakeBoard?
    /// Frames from the parent are trusted to this size (a run frame carries a chunk's inputs).
    static let maximumFrameSize = Int(UInt32.max)

    /// Returns the process exit status.
    func serve() async -> Int32 {
        var reader = FrameReader(descriptor: requests, maximumFrameSize: Self.maximumFrameSize)
        do {
            guard let first = try reader.withNextFrame({ try ParentMessage.decode($0, attachments: $1) }) else { return WorkerExitCode.finished.rawValue }
            guard case .configure(let configuration) = first else { return WorkerExitCode.unexpectedFirstMessage.rawValue }
            configure(configuration)
            if let initializer = configuration.initializer {
                send([WireBytes(WorkerMessage.initializing.encodeFrame())])
                do {
                    try await runInitializer(initializer)
                } catch {
                    send([WireBytes(WorkerMessage.initializerFailed(RemoteFailure(error)).encodeFrame())])
                    return WorkerExitCode.initializerFailed.rawValue
                }
            }
            send([WireBytes(WorkerMessage.ready(pid: getpid()).encodeFrame())])

            var taskTypes: [String: any PoolTask.Type] = [:]
            // Consecutive chunks of one call carry the same task value: decode it once.
            var lastTask: LastTask?
            var completed = 0
            var queue = RunQueue()
            var lastPoll = cmp_monotonic_ns()
            var idle = WorkerIdleWait(board: wakeBoard)
            var held = HeldAnswers()
            while true {
                if queue.isEmpty {
                    // Nothing is held while the worker waits: the parent may be waiting for it.
                    sendHeld(&held)
                    let waitStarted = cmp_monotonic_ns()
                    var ended = false
                    if !reader.hasBufferedFrame {
                        try idle.spin(startedAt: waitStarted) {
                            switch try reader.withAvailableFrame(read: true, waitForAttachments: true, { try ParentMessage.decode($0, attachments: $1) }) {
                            case .frame(let message):
                                queue.receive(message)
                                return true
                            case .ended:
                                ended = true
                                return true
                            case .notYet:
                                return false
                            }
                        }
                    }
                    if ended { return WorkerExitCode.finished.rawValue }
                    if queue.isEmpty {
                        // Only between frames: the rest of a frame comes without a ring.
                        if reader.isEmpty { idle.sleep(untilReadable: requests) }
                        guard let message = try reader.withNextFrame({ try ParentMessage.decode($0, attachments: $1) }) else { return WorkerExitCode.finished.rawValue }
                        queue.receive(message)
                    }
                    idle.record(cmp_monotonic_ns() &- waitStarted)
                }
                // Take the frames already here, so a cancel can overtake the chunks it names;
                // look at the socket at most once a millisecond (a system call).
                while reader.hasBufferedFrame {
                    guard let message = try reader.withNextFrame({ try ParentMessage.decode($0, attachments: $1) }) else { return WorkerExitCode.finished.rawValue }
                    queue.receive(message)
                }
                // The raw clock: `ContinuousClock`'s 128-bit `Duration` arithmetic showed in the
                // serve loop's profile, which reads the clock twice per chunk.
                let started = cmp_monotonic_ns()
                if started &- lastPoll >= 1_000_000 {
                    lastPoll = started
                    while cmp_poll_readable(requests, 0) > 0 {
                        guard let message = try reader.withNextFrame({ try ParentMessage.decode($0, attachments: $1) }) else { return WorkerExitCode.finished.rawValue }
                        queue.receive(message)
                    }
                }
                guard let run = queue.next() else { continue }
                if let claim = run.claim, wakeBoard?.claim(claim) != true {
                    // Another worker took this chunk of the group.
                    if let group = run.endsGroup { endGroup(group, &held) }
                    continue
                }
                if run.claim == nil { wakeBoard?.countTaken() }
                let (taskID, task, inputs) = (run.taskID, run.task, run.inputs)
                let outcome: WorkerChunkOutcome
                if run.skip {
                    outcome = .other(.rejected(RemoteFailure(poolError: .cancelled, "the call was cancelled before this chunk ran")))
                } else if let last = lastTask, last.encoded == task {
                    outcome = await Self.runChunk(last.task, inputs: inputs)
                } else if let type = taskTypes[task.typeName] ?? resolveTaskType(task.typeName) {
                    taskTypes[task.typeName] = type
                    do {
                        let value = try Self.decodeTask(type, payload: task.payload)
                        lastTask = LastTask(encoded: task, task: value)
                        outcome = await Self.runChunk(value, inputs: inputs)
                    } catch {
                        outcome = .other(.rejected(RemoteFailure(error)))
                    }
                } else {
                    outcome = .other(.rejected(RemoteFailure(poolError: .unsupportedTaskType,
                        "the worker cannot find a PoolTask type named \(task.typeName)")))
                }
                let nanoseconds = cmp_monotonic_ns() &- started
                var pieces: [WireBytes]
                switch outcome {
                case .encoded(let outputs):
                    pieces = WorkerMessage.encodeSuccessFrame(taskID: taskID, runNanoseconds: nanoseconds, outputs: outputs)
                case .other(let other):
                    pieces = [WireBytes(WorkerMessage.result(taskID: taskID, runNanoseconds: nanoseconds, outcome: other).encodeFrame())]
                }
                let size = pieces.byteCount - 4
                if size > configuration.maximumMessageSize {
                    // Too big for the parent to accept: report it rather than send it.
                    pieces = [WireBytes(WorkerMessage.result(taskID: taskID, runNanoseconds: nanoseconds, outcome: .rejected(RemoteFailure(
                        poolError: .messageTooLarge,
                        "the results are \(size) bytes, over the pool's maxMessageBytes (\(configuration.maximumMessageSize))"
                    ))).encodeFrame())]
                }
                let finished = cmp_monotonic_ns()
                if run.claim != nil, held.hold(pieces, ranFor: nanoseconds, now: finished) {
                    if let group = run.endsGroup {
                        endGroup(group, &held)
                    } else if held.isDue(now: finished) {
                        sendHeld(&held)
                    }
                } else {
                    sendHeld(&held)
                    send(pieces)
                    if let group = run.endsGroup { endGroup(group, &held) }
                }
                completed += 1
                if configuration.maximumTasks > 0 && completed >= configuration.maximumTasks {
                    sendHeld(&held)
                    return WorkerExitCode.finished.rawValue
                }
            }
        } catch FrameReader.Failure.readFailed(let error) where error == EBADF || error == ENOTSOCK {
            return WorkerExitCode.channelClosed.rawValue
        } catch {
            // A frame we cannot read: the channel cannot be trusted; the parent sees us go.
            return WorkerExitCode.unreadableMessage.rawValue
        }
    }

    private func configure(_ configuration: WorkerConfiguration) {
        CurrentProcess.becomeWorker(named: configuration.workerName)
        cmp_set_thread_name(configuration.workerName)
        // `ps` shows the main thread's name, which is still "exe": rename it too.
        let comm = open("/proc/self/comm", O_WRONLY)
        if comm >= 0 {
            let name = Array(configuration.workerName.utf8.prefix(15))
            _ = name.withUnsafeBytes { write(comm, $0.baseAddress, $0.count) }
            close(comm)
        }
        if let level = configuration.logLevel.flatMap(Logger.Level.init(rawValue:)) {
            ProcessNameLogHandler.bootstrapInWorker(logLevel: level)
        }
    }

    private func resolveTaskType(_ name: String) -> (any PoolTask.Type)? {
        _typeByName(name) as? any PoolTask.Type
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

    private static func decodeTask<T: PoolTask>(_ type: T.Type, payload: [UInt8]) throws -> any PoolTask {
        try BinaryDecoder().decode(T.self, from: payload[...])
    }

    /// Runs every item of a chunk; an item's error does not stop the others, nor does an
    /// input that cannot be decoded or an output that cannot be encoded.
    static func runChunk<T: PoolTask>(_ task: T, inputs: EncodedBatch) async -> WorkerChunkOutcome {
        let items: [T.Input]
        do {
            items = try inputs.decode([T.Input].self)
        } catch {
            guard let each = inputs.decodeEach(T.Input.self) else {
                return .other(.rejected(RemoteFailure(poolError: .decodingFailed,
                    "the items could not be decoded as [\(T.Input.self)]: \(error)")))
            }
            return .other(.mixed(await runEach(task, each)))
        }
        let run = await task._runItems(items)
        let outputs = run.outputs
        let encoder = BinaryEncoder()
        guard let failure = run.failure else {
            do {
                return .encoded(try EncodedBatch.encode(outputs))
            } catch {
                return .other(.mixed(outputs.map { Self.encodeItem($0, encoder) }))
            }
        }
        // Slow path: finish the chunk item by item and report each one.
        var results: [ItemOutcome] = []
        results.reserveCapacity(items.count)
        for output in outputs { results.append(Self.encodeItem(output, encoder)) }
        results.append(.failure(RemoteFailure(failure)))
        results += await runEach(task, items[(outputs.count + 1)...].map { .success($0) })
        return .other(.mixed(results))
    }

    /// Runs the task on each input that could be decoded, and reports each one.
    private static func runEach<T: PoolTask>(_ task: T, _ inputs: [Result<T.Input, any Error>]) async -> [ItemOutcome] {
        let encoder = BinaryEncoder()
        var results: [ItemOutcome] = []
        results.reserveCapacity(inputs.count)
        for input in inputs {
            switch input {
            case .success(let item):
                do {
                    results.append(Self.encodeItem(try await task.run(item), encoder))
                } catch {
                    results.append(.failure(RemoteFailure(error)))
                }
            case .failure(let error):
                results.append(.failure(RemoteFailure(poolError: .decodingFailed,
                    "the item could not be decoded as \(T.Input.self): \(error)")))
            }
        }
        return results
    }

    private static func encodeItem<O: Encodable>(_ output: O, _ encoder: BinaryEncoder) -> ItemOutcome {
        do {
            return .success(try encoder.encode(output)[...])
        } catch {
            return .failure(RemoteFailure(poolError: .encodingFailed, "the result could not be encoded as \(O.self): \(error)"))
        }
    }

    /// Sends a frame given in pieces. A small one goes up the answers pipe, joined, in one
    /// write: each separate write would wake the parent's reader once more. A large one (large
    /// results travel as attachments) goes down the requests socket, announced in the pipe: a
    /// pipe is locked for the whole of a write, so the parent could not copy a large result out
    /// while it goes in, and payload throughput fell by a fifth when results went by the pipe.
    private func send(_ pieces: [WireBytes]) {
        let total = pieces.byteCount
        if total > Self.largestPipedFrame {
            writeFrame(Self.followsOnSocketFrame, to: answers)
            for piece in pieces { writeFrame(piece, to: requests) }
            return
        }
        guard pieces.count > 1 else {
            if let only = pieces.first { writeFrame(only, to: answers) }
            return
        }
        var joined: [UInt8] = []
        joined.reserveCapacity(total)
        for piece in pieces { piece.withUnsafeBytes { joined.append(contentsOf: $0) } }
        writeFrame(joined, to: answers)
    }

    /// Sends the answers held, if any, in one write.
    private func sendHeld(_ held: inout HeldAnswers) {
        if !held.isEmpty { writeFrame(held.take(), to: answers) }
    }

    /// Past the last chunk of a group: says so, then sends the answers held, in one write. The
    /// parent ends the group with the answer that settles its last chunk, before the call that
    /// answer completes returns, so the caller's next call finds the workers free.
    private func endGroup(_ id: UInt64, _ held: inout HeldAnswers) {
        writeFrame(held.take(after: WorkerMessage.groupDone(id: id).encodeFrame()), to: answers)
    }

    /// The largest frame sent up the answers pipe.
    static let largestPipedFrame = 64 * 1024
    private static let followsOnSocketFrame = WorkerMessage.followsOnSocket.encodeFrame()

    /// Blocking write of a whole frame; the parent reads on its own thread, so this cannot deadlock.
    private func writeFrame(_ frame: [UInt8], to descriptor: Int32) {
        writeFrame(WireBytes(frame), to: descriptor)
    }

    /// Blocking write of a piece of a frame, from where its bytes are stored.
    private func writeFrame(_ frame: WireBytes, to descriptor: Int32) {
        frame.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = descriptor == requests
                    ? cmp_send(descriptor, raw.baseAddress! + offset, raw.count - offset, 0)
                    : write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if sent < 0 {
                    let error = cmp_errno()
                    if error == EINTR { continue }
                    // A descriptor that is no longer the channel: the task closed it.
                    if error == EBADF || error == ENOTSOCK { exit(WorkerExitCode.channelClosed.rawValue) }
                    exit(WorkerExitCode.finished.rawValue)  // the parent is gone (SIGPIPE is ignored in workers)
                }
                offset += sent
            }
        }
    }
}

/// A chunk's outcome in the worker: the common case keeps its encoded outputs as they are.
enum WorkerChunkOutcome {
    /// Every item succeeded: an encoded `[Output]`.
    case encoded(EncodedBatch)
    case other(ChunkOutcome)
}

/// The task of the chunk run last, decoded: consecutive chunks of one call carry the same one.
/// A final class, so that keeping and checking it copies no task value (the profile showed
/// the copies of a tuple holding it on every chunk).
final class LastTask {
    let encoded: EncodedValue
    let task: any PoolTask

    init(encoded: EncodedValue, task: any PoolTask) {
        self.encoded = encoded
        self.task = task
    }
}

/// A chunk received and not yet run.
struct QueuedRun {
    let taskID: UInt64
    let task: EncodedValue
    let inputs: EncodedBatch
    /// The parent asked to skip it (its call was cancelled).
    var skip = false
    /// In a ``ChunkGroup``: the claim word to take before running it.
    var claim: Int32?
    /// The last chunk of group `endsGroup`: once past it, the worker sends `.groupDone`.
    var endsGroup: UInt64?
}

/// A group whose run frames are still arriving.
private struct ArrivingGroup {
    let id: UInt64
    var nextClaim: Int32
    var remaining: Int
}

/// Chunks received and not yet run, and the ids the parent asked to skip.
///
/// Named structs, not tuples: the serve loop's profile showed the runtime's generic tuple
/// copy and destroy functions on every chunk.
struct RunQueue {
    private var runs: [QueuedRun] = []
    private var head = 0
    private var cancelled: Set<UInt64> = []
    private var arriving: ArrivingGroup?

    var isEmpty: Bool { head == runs.count }

    mutating func receive(_ message: ParentMessage) {
        switch message {
        case .run(let taskID, let task, let inputs):
            var run = QueuedRun(taskID: taskID, task: task, inputs: inputs)
            if var group = arriving {
                run.claim = group.nextClaim
                group.nextClaim += 1
                group.remaining -= 1
                if group.remaining == 0 {
                    run.endsGroup = group.id
                    arriving = nil
                } else {
                    arriving = group
                }
            }
            runs.append(run)
        case .cancel(let taskIDs): cancelled.formUnion(taskIDs)
        case .group(let id, let firstClaim, let count):
            if count > 0 { arriving = ArrivingGroup(id: id, nextClaim: Int32(firstClaim), remaining: count) }
        case .configure: break
        }
    }

    /// The next chunk, marked to be skipped if its call was cancelled.
    mutating func next() -> QueuedRun? {
        guard head < runs.count else { return nil }
        var run = runs[head]
        head += 1
        if head == runs.count {
            runs.removeAll(keepingCapacity: true)
            head = 0
        }
        run.skip = !cancelled.isEmpty && cancelled.remove(run.taskID) != nil
        return run
    }
}
