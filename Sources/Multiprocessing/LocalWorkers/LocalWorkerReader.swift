import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reading a local worker's answers: its reader thread, and a caller of `apply` that reads for
/// itself for a moment (see ``AnswerSpin``).
extension LocalWorker {
    /// Starts the worker's reader thread, which hands every message to `core`, then its end.
    func startReading(for core: PoolCore) throws(PoolError) {
        try NativeThread.detach(name: "mp-w\(key)-in") { [self] in readLoop(core) }
    }

    /// The reader thread: every message, then the worker's end.
    private func readLoop(_ core: PoolCore) {
        // Sends caused by answers are made once the frames already read are handled: one
        // system call per burst instead of one per answer.
        var toSend: [any PoolWorker] = []
        let jobs = ReaderThreadJobs(installingFor: core.executor)
        defer { jobs.uninstall() }
        var end: InboundChannel.End?
        // The socket is watched too, for an answer a reader that must not wait left there, until
        // its stream ends (the pipe then brings the worker's end).
        var watchSocket = true
        while end == nil {
            if inbound.sleepWhileCallerReads() { continue }
            // Wait outside the lock, so that a caller waiting actively for its answer can read
            // meanwhile. EOF and errors count as readable.
            let ready = cmp_poll_readable_either(inbound.descriptor, watchSocket ? inbound.socketDescriptor : -1, -1)
            if ready < 0 && ready != -EINTR {
                end = .failed(FrameReader.Failure.readFailed(-ready))
                break
            }
            // Not waiting for the lock: a caller that holds it is reading this very input, and
            // waiting would make its unlock a system call to wake this thread. Whatever it leaves
            // unread keeps the descriptor readable, so the next poll returns at once.
            guard
                let ended = inbound.withStateIfFree({ input in
                    handleAvailableFrames(&input, core: core, waitForAttachments: true, sendLater: &toSend)
                    return input.end
                })
            else { continue }
            end = ended
            // This pass read every answer announced: a socket still readable brings a new one
            // (its announcement is in the pipe already) or has ended, and must not keep the
            // poll returning at once.
            if ready > 0 && ready & 2 != 0 && cmp_socket_has_ended(inbound.socketDescriptor) != 0 { watchSocket = false }
            core.send(to: toSend)
            toSend.removeAll(keepingCapacity: true)
            jobs.runPending()
        }
        var violation: String?
        if case .failed(let error) = end, !Self.isOrdinaryEnd(error) { violation = "\(error)" }
        let (ending, leftovers) = finish(violation: violation)
        if !leftovers.isEmpty { settleLeftovers(leftovers, core: core) }
        core.workerEnded(self, ending)
    }

    /// Settles the answers a worker that ended left on its shelf, those the scheduler has not
    /// had: their chunks finished, whatever killed the worker after them.
    private func settleLeftovers(_ frames: [UInt8], core: PoolCore) {
        var answers: [ReadAnswer] = []
        var reader = ByteReader(frames[...])
        while !reader.isAtEnd {
            guard let length = try? reader.readFixed(UInt32.self), let body = try? reader.readBytes(count: Int(length)),
                case .result(let chunkID, let nanoseconds, let outcome)? = try? WorkerMessage.decode(body)
            else { break }
            answers.append(ReadAnswer(chunkID: chunkID, runNanoseconds: nanoseconds, outcome: outcome))
        }
        var toSend: [any PoolWorker] = []
        core.receivedLeftovers(answers, from: self, flushLater: &toSend)
        core.send(to: toSend)
    }

    /// Handles every frame the channel has now, reading what the pipe holds without waiting;
    /// records the end of the stream in `input` when it reads it. An answer announced in the
    /// pipe is read from the socket at once, waiting for it if need be, by whoever read the
    /// announcement, a caller of `apply` included: the worker is sending it.
    ///
    /// A reader that may not wait at all (`mayWait` false, a serving rank's transport thread,
    /// whose silence would get its rank reported lost) stops at such an announcement, leaving
    /// `input.framesOnSocket` above 0 for the reader thread, which also waits on the socket; nor
    /// does it forward the worker's standard error first (a write that can block): the answers
    /// it reads leave this process, so no output of this process's follows them, and the relay
    /// forwards the worker's lines.
    func handleAvailableFrames(
        _ input: inout InboundChannel.State, core: PoolCore, waitForAttachments: Bool, mayWait: Bool = true,
        sendLater: inout [any PoolWorker]
    ) {
        guard input.end == nil, !input.closed else { return }
        var read = true
        // What the worker wrote on its standard error before these answers goes out first.
        var stderrForwarded = stderr == nil || !mayWait
        // Chunk answers read and not yet handed over: they go to the scheduler together, before
        // anything else is handled and before the buffer they are slices of is read into again.
        var burst: [ReadAnswer] = []
        func handOver() throws {
            guard !burst.isEmpty else { return }
            defer { burst.removeAll(keepingCapacity: true) }
            try core.received(answers: burst, from: self, flushLater: &sendLater)
        }
        do {
            while true {
                if input.framesOnSocket > 0 {
                    try handOver()
                    guard mayWait else { return }
                    let handled: Void? = try input.socketReader.withNextFrame { bytes, attachments in
                        if !stderrForwarded {
                            stderr?.forwardBeforeAnswers()
                            stderrForwarded = true
                        }
                        try core.received(try WorkerMessage.decode(bytes, attachments: attachments), from: self, flushLater: &sendLater)
                    }
                    // The socket ended where an answer was announced: the worker died sending it.
                    guard handled != nil else { throw FrameReader.Failure.truncated }
                    input.framesOnSocket -= 1
                    continue
                }
                // A frame not wholly buffered may make the reader read, or wait.
                if !input.reader.hasBufferedFrame { try handOver() }
                let available = try input.reader.withAvailableFrame(read: read, waitForAttachments: waitForAttachments) {
                    bytes, attachments -> Bool in
                    let message = try WorkerMessage.decode(bytes, attachments: attachments)
                    if case .followsOnSocket = message { return true }
                    if !stderrForwarded {
                        stderr?.forwardBeforeAnswers()
                        stderrForwarded = true
                    }
                    if case .result(let chunkID, let nanoseconds, let outcome) = message {
                        if burst.isEmpty { burst.reserveCapacity(16) }
                        burst.append(ReadAnswer(chunkID: chunkID, runNanoseconds: nanoseconds, outcome: outcome))
                        return false
                    }
                    try handOver()
                    try core.received(message, from: self, flushLater: &sendLater)
                    return false
                }
                switch available {
                case .frame(let announcesSocketFrame):
                    if announcesSocketFrame { input.framesOnSocket += 1 }
                    read = false  // read again only if the last read filled its room
                case .notYet:
                    try handOver()
                    return
                case .ended:
                    try handOver()
                    input.end = .clean
                    return
                }
            }
        } catch {
            // The answers read before what failed were sent before it: they count.
            var failure = error
            do { try handOver() } catch { failure = error }
            input.end = .failed(failure)
            // A worker that sent something it should not cannot be trusted; killing it also
            // makes the pipe readable (EOF), so the reader thread wakes to handle its end even
            // when a caller of apply read the bad frame.
            if !Self.isOrdinaryEnd(failure) { kill() }
        }
    }

    /// A stream cut inside a frame (the worker died while writing) or a reset (it died with our
    /// frames unread) is an ordinary death; anything else is a protocol violation.
    static func isOrdinaryEnd(_ error: any Error) -> Bool {
        switch error {
        case FrameReader.Failure.truncated, FrameReader.Failure.readFailed: return true
        default: return false
        }
    }

    /// For a caller of `apply` waiting actively: handles what this worker has sent, unless its
    /// reader thread is at it. Returns whether `call` has its answer.
    func readAnswer(for call: ApplyCall, core: PoolCore) -> Bool {
        call.readsItself = true
        inbound.callerReads(now: cmp_monotonic_ns())
        var toSend: [any PoolWorker] = []
        let leftForReader = inbound.withStateIfFree { input -> Bool in
            // Large buffers still arriving are left to the reader thread: this caller must not wait.
            handleAvailableFrames(&input, core: core, waitForAttachments: false, sendLater: &toSend)
            // The end, or a frame whose attachments are still coming: the reader thread's work.
            return input.end != nil || input.reader.hasFrameHead
        }
        if leftForReader == true { inbound.wakeReader() }
        core.send(to: toSend)
        return call.isAnswered
    }
}

extension PoolCore {
    /// For a caller of `apply` waiting actively: reads the answers of the worker running its
    /// chunk, when that is a local worker. Returns whether the call has its answer.
    func readAnswer(for call: ApplyCall) -> Bool {
        if call.isAnswered { return true }
        #if MPI
        if let remote = call.worker as? RemoteWorker { return remote.readAnswer(for: call) }
        #endif
        guard let worker = call.worker as? LocalWorker else { return false }
        return worker.readAnswer(for: call, core: self)
    }

    /// A caller that read its worker's answers stopped (answered or not): if it has no answer,
    /// the reader thread must take over now rather than when it next looks; for a remote worker,
    /// the transport's thread looks again, at once if the call has no answer.
    func stopReading(for call: ApplyCall) {
        #if MPI
        if let remote = call.worker as? RemoteWorker {
            // The transport's thread waits while the caller looks: MPI does not wake it.
            remote.stopReading(answered: call.isAnswered)
            return
        }
        #endif
        guard call.readsItself, !call.isAnswered, let worker = call.worker as? LocalWorker else { return }
        worker.inbound.wakeReader()
    }
}
