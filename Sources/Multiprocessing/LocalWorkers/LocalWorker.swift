import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A worker that is a child process of this program: the first kind of ``PoolWorker``.
///
/// It holds the process, both sides of its channel (requests down a socket, answers up a pipe)
/// and its slot on the pool's wake board. A reader thread of its own reads its answers and
/// hands them to the scheduler (see `LocalWorkerReader.swift`); so does a caller of `apply`
/// waiting actively for its answer.
final class LocalWorker: PoolWorker {
    let key: Int
    /// "SpawnPoolWorker-N".
    let name: String
    let process: ChildProcess
    let outbound: OutboundChannel
    let inbound: InboundChannel
    /// The worker's slot on the pool's wake board, if it has one.
    let wake: WakeTarget?
    /// How long it may take to exit once its channel closed, before SIGKILL.
    let exitGraceMilliseconds: Int32
    /// Its standard error, if the relay reads it.
    let stderr: StderrPipe?
    /// Set once its pidfd is closed (after it was reaped): it is not signalled after that.
    private let handleClosed = Mutex(false)
    /// How long its end waits for the relay to read its standard error to the end of file,
    /// which comes with its exit unless a process it started holds the pipe open.
    static let stderrDrainMilliseconds: Int64 = 500

    private init(
        key: Int, name: String, launched: LaunchedWorker, wake: WakeTarget?, maxMessageBytes: Int,
        exitGraceMilliseconds: Int32
    ) {
        self.key = key
        self.name = name
        self.process = launched.process
        self.wake = wake
        self.exitGraceMilliseconds = exitGraceMilliseconds
        self.stderr = launched.stderr
        self.outbound = OutboundChannel(descriptor: launched.requests, threadName: "mp-w\(key)-out", wake: wake)
        self.inbound = InboundChannel(answers: launched.answers, socket: launched.requests, maxMessageBytes: maxMessageBytes)
    }

    /// Spawns a worker process, with a slot on `board` if one is free.
    static func spawn(key: Int, board: WakeBoard?, settings: SchedulerSettings) throws(PoolError) -> LocalWorker {
        let wake = board?.takeSlot()
        let launched: LaunchedWorker
        do {
            launched = try WorkerLauncher.launch(
                batchScheduling: settings.workerScheduling == .batch, waitsOnSocket: settings.workersWaitOnSocket, wake: wake)
        } catch {
            if let wake { board?.returnSlot(wake) }
            throw error
        }
        let name = WorkerNumbering.nextName()
        return LocalWorker(
            key: key, name: name, launched: launched, wake: wake, maxMessageBytes: settings.maxMessageBytes,
            exitGraceMilliseconds: settings.exitGraceMilliseconds)
    }

    var label: WorkerLabel { WorkerLabel(name: name, pid: process.pid) }
    var capacity: Int { 1 }
    var groupClaimant: UInt32? { wake?.claimant }
    var managesItsChunks: Bool { false }
    var chunksTaken: UInt32? { wake?.chunksTaken }

    func enqueue(_ frame: [WireBytes]) {
        for piece in frame { outbound.enqueue(piece) }
    }

    func enqueue(_ chunk: ChunkWork) {
        enqueue(chunk.frame)
    }

    func enqueueSkip(_ chunkIDs: [UInt64]) {
        outbound.enqueue(ParentMessage.cancel(chunkIDs: chunkIDs).encodeFrame())
    }

    func sendQueued() -> Int32? {
        outbound.flushWithoutWaking() ? wake?.slot : nil
    }

    func shutdownAfterQueued() { outbound.shutdownAfterQueued() }
    func terminate() { signal(SIGTERM) }
    func kill() { signal(SIGKILL) }

    /// Signals the process unless its pidfd is closed: the scheduler may still end a worker it
    /// has not yet heard is gone, and the closed descriptor's number may by then name another
    /// worker's pidfd.
    private func signal(_ signal: Int32) {
        handleClosed.withLock { closed in
            if !closed { process.send(signal: signal) }
        }
    }

    /// Reaps the process and releases the channel, the pidfd and the wake-board slot: how it
    /// ended, for the scheduler, and the answer frames it left on its shelf (``AnswerShelf``).
    func finish(violation: String?) -> (end: WorkerEnd, shelfLeftovers: [UInt8]) {
        let status = process.reap(graceMilliseconds: exitGraceMilliseconds)
        // Final now that the worker is gone; read before its slot goes back to the board.
        let chunksTaken = wake?.chunksTaken
        let leftovers = wake?.shelfLeftovers() ?? []
        release()
        // What it printed as it died (a fatal error's message) is in the pipe by now. A clean
        // exit (a retirement) fails nothing, so its tail is not worth waiting for: a process the
        // task left holding the pipe would delay the replacement by the whole wait.
        let drain = status == .exited(0) ? 0 : Self.stderrDrainMilliseconds
        let tail = stderr?.tail.text(waitingForEndMilliseconds: drain)
        return (WorkerEnd(status: status, violation: violation, chunksTaken: chunksTaken, stderrTail: tail), leftovers)
    }

    /// Kills and releases a worker the pool could not start reading.
    func abandon() {
        kill()
        _ = process.reap(graceMilliseconds: 0)
        release()
    }

    private func release() {
        outbound.stop()
        inbound.markClosed()
        close(outbound.descriptor)
        close(inbound.descriptor)
        handleClosed.withLock { closed in
            process.closeHandle()
            closed = true
        }
        if let wake { wake.board.returnSlot(wake) }
    }
}
