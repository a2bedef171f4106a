import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The worker's answers to the parent: a chunk's result frame, sent at once, held back on the
/// worker's shelf (``AnswerShelf``) or with a group's (``HeldAnswers``), and the worker's own
/// messages.
///
/// A small frame goes up the answers pipe; a large one down the requests socket, announced in
/// the pipe (see `send(_:)`). Writes block: the parent reads on its own thread, so this cannot
/// deadlock.
struct WorkerReplies {
    /// The socket the parent's requests come down; large answers go back down it.
    let requests: Int32
    /// The pipe answers go up.
    let answers: Int32
    /// The largest message the parent accepts; a larger result is reported as an error.
    let maxMessageBytes: Int
    /// The log records waiting for the parent, when they go there; its lock is taken around
    /// every frame written.
    let logs: WorkerLogOutbox?
    private var held = HeldAnswers()
    /// Where quick chunks' answers wait, when the worker has a slot on the wake board.
    private let shelf: AnswerShelf?
    /// Where a small successful result frame is built, kept from one answer to the next.
    private var frameWriter = ByteWriter(capacity: 256)

    init(requests: Int32, answers: Int32, maxMessageBytes: Int, logs: WorkerLogOutbox? = nil, shelf: AnswerShelf? = nil) {
        self.requests = requests
        self.answers = answers
        self.maxMessageBytes = maxMessageBytes
        self.logs = logs
        self.shelf = shelf
    }

    /// Sends the log records waiting, if any, ahead of whatever is written next: what a chunk
    /// logged reaches the parent before its result.
    func sendLogs() {
        guard let logs, logs.hasWaiting else { return }
        logs.writeLock.withLock { _ in
            guard let batch = logs.take() else { return }
            // Frames small enough for the pipe and for the parent, which takes a frame over
            // `maxMessageBytes` for a broken worker; a record too large for a frame of its own
            // (many metadata values) is dropped and counted.
            let limit = min(Self.largestPipedFrame / 4, maxMessageBytes / 2) - 64
            var records = batch.records[...]
            var dropped = batch.dropped
            while !records.isEmpty || dropped > 0 {
                var part: [WorkerLogBatch.Record] = []
                var size = 0
                while let record = records.first {
                    let bound = record.encodedSizeBound
                    if bound > limit {
                        dropped += 1
                    } else if size + bound <= limit {
                        part.append(record)
                        size += bound
                    } else {
                        break
                    }
                    records = records.dropFirst()
                }
                sendNow([WireBytes(WorkerMessage.logs(WorkerLogBatch(records: part, dropped: dropped)).encodeFrame())])
                dropped = 0
            }
        }
    }

    /// Answers `run`, whose chunk ran for `nanoseconds` with `outcome`: held on the shelf if it
    /// may wait, ran quickly and has `moreQueued` runs behind it or answers on the shelf before
    /// it (alone, it is written at once, and the shelf's thread is not woken for it; last of a
    /// burst, it leaves with the burst, in the one write before the worker waits), held with its
    /// group's if it is in one and small and quick enough, sent at once otherwise (after what is
    /// held); past the last chunk of a group, ends it.
    mutating func reply(to run: QueuedRun, _ outcome: WorkerChunkOutcome, ranFor nanoseconds: UInt64, moreQueued: Bool) {
        // What the chunk logged goes before its answer, after the answers before it.
        if logs?.hasWaiting == true { sendShelf() }
        sendLogs()
        if run.claim == nil, case .encoded(let outputs) = outcome, outputs.attachments.isEmpty,
            outputs.bytes.count <= min(Self.largestPipedFrame, maxMessageBytes) - 64
        {
            // The common answer: built in the kept buffer, then held on the shelf or written
            // from the buffer, after what is held.
            frameWriter.truncate(to: 0)
            WorkerMessage.writeSuccessFrame(
                chunkID: run.chunkID, runNanoseconds: nanoseconds, outputs: outputs.bytes, into: &frameWriter)
            if run.mayHoldAnswer && nanoseconds < AnswerShelf.quickNanoseconds && held.isEmpty, let shelf,
                moreQueued || !shelf.isEmpty,
                frameWriter.withUnsafeBytes({ shelf.hold($0) })
            {
                return
            }
            sendHeld()
            let frame = frameWriter
            if let logs {
                logs.writeLock.withLock { _ in frame.withUnsafeBytes { writeNow($0, to: answers) } }
            } else {
                frame.withUnsafeBytes { writeNow($0, to: answers) }
            }
            return
        }
        let pieces = Self.resultFrame(run.chunkID, outcome, ranFor: nanoseconds, maxMessageBytes: maxMessageBytes)
        let finished = cmp_monotonic_ns()
        if run.claim != nil, held.hold(pieces, ranFor: nanoseconds, now: finished) {
            if let group = run.endsGroup {
                endGroup(group)
            } else if held.isDue(now: finished) {
                sendHeld()
            }
        } else {
            sendHeld()
            send(pieces)
            if let group = run.endsGroup { endGroup(group) }
        }
    }

    /// The result frame of chunk `chunkID`, as pieces; a report that it is too large instead,
    /// when the parent would not accept it.
    private static func resultFrame(
        _ chunkID: UInt64, _ outcome: WorkerChunkOutcome, ranFor nanoseconds: UInt64,
        maxMessageBytes: Int
    ) -> [WireBytes] {
        let pieces: [WireBytes]
        switch outcome {
        case .encoded(let outputs):
            pieces = WorkerMessage.encodeSuccessFrame(chunkID: chunkID, runNanoseconds: nanoseconds, outputs: outputs)
        case .other(let other):
            pieces = [WireBytes(WorkerMessage.result(chunkID: chunkID, runNanoseconds: nanoseconds, outcome: other).encodeFrame())]
        }
        let size = pieces.byteCount - 4
        guard size > maxMessageBytes else { return pieces }
        // Too big for the parent to accept: report it rather than send it.
        return [
            WireBytes(
                WorkerMessage.result(
                    chunkID: chunkID, runNanoseconds: nanoseconds,
                    outcome: .rejected(
                        RemoteFailure(
                            poolError: .messageTooLarge,
                            "the results are \(size) bytes, over the pool's maxMessageBytes (\(maxMessageBytes))"
                        ))
                ).encodeFrame())
        ]
    }

    /// Sends one of the worker's own messages.
    func send(_ message: WorkerMessage) {
        send([WireBytes(message.encodeFrame())])
    }

    /// Sends a frame given in pieces. A small one goes up the answers pipe, joined, in one
    /// write: each separate write would wake the parent's reader once more. A large one (large
    /// results travel as attachments) goes down the requests socket, announced in the pipe: a
    /// pipe is locked for the whole of a write, so the parent could not copy a large result out
    /// while it goes in, and payload throughput fell by a fifth when results went by the pipe.
    func send(_ pieces: [WireBytes]) {
        guard let logs else { return sendNow(pieces) }
        logs.writeLock.withLock { _ in sendNow(pieces) }
    }

    /// `send(_:)` for a caller that holds the write lock, or for a worker without one.
    private func sendNow(_ pieces: [WireBytes]) {
        let total = pieces.byteCount
        if total > Self.largestPipedFrame {
            writeFrameNow(WireBytes(Self.followsOnSocketFrame), to: answers)
            for piece in pieces { writeFrameNow(piece, to: requests) }
            return
        }
        guard pieces.count > 1 else {
            if let only = pieces.first { writeFrameNow(only, to: answers) }
            return
        }
        var joined: [UInt8] = []
        joined.reserveCapacity(total)
        for piece in pieces { piece.withUnsafeBytes { joined.append(contentsOf: $0) } }
        writeFrameNow(WireBytes(joined), to: answers)
    }

    /// Sends the answers held, if any: the shelf's in one write, then a group's in another.
    mutating func sendHeld() {
        sendShelf()
        if !held.isEmpty { writeFrame(held.take(), to: answers) }
    }

    /// Writes the answers on the shelf, if any, in one write, and empties it.
    func sendShelf() {
        shelf?.write()
    }

    /// Past the last chunk of a group: says so, then sends the answers held, in one write. The
    /// parent ends the group with the answer that settles its last chunk, before the call that
    /// answer completes returns, so the caller's next call finds the workers free.
    mutating func endGroup(_ id: UInt64) {
        writeFrame(held.take(after: WorkerMessage.groupDone(id: id).encodeFrame()), to: answers)
    }

    /// The largest frame sent up the answers pipe.
    static let largestPipedFrame = 64 * 1024
    private static let followsOnSocketFrame = WorkerMessage.followsOnSocket.encodeFrame()

    /// Blocking write of a whole frame.
    private func writeFrame(_ frame: [UInt8], to descriptor: Int32) {
        writeFrame(WireBytes(frame), to: descriptor)
    }

    /// Blocking write of a whole frame, under the write lock when there is one.
    private func writeFrame(_ frame: WireBytes, to descriptor: Int32) {
        guard let logs else { return writeFrameNow(frame, to: descriptor) }
        logs.writeLock.withLock { _ in writeFrameNow(frame, to: descriptor) }
    }

    /// Blocking write of a piece of a frame, from where its bytes are stored.
    private func writeFrameNow(_ frame: WireBytes, to descriptor: Int32) {
        frame.withUnsafeBytes { raw in writeNow(raw, to: descriptor) }
    }

    /// Blocking write of `raw`, whole.
    private func writeNow(_ raw: UnsafeRawBufferPointer, to descriptor: Int32) {
        Self.writeWhole(raw, to: descriptor, isSocket: descriptor == requests)
    }

    /// Blocking write of `raw`, whole, to the requests socket or the answers pipe; exits the
    /// worker if the parent is gone.
    static func writeWhole(_ raw: UnsafeRawBufferPointer, to descriptor: Int32, isSocket: Bool) {
        var offset = 0
        while offset < raw.count {
            let sent =
                isSocket
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
