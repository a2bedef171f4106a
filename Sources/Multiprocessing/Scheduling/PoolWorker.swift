/// A worker as the scheduler sees it: something that runs the chunks sent to it and reports each
/// answer (``PoolCore/received(_:from:answeredBy:flushLater:)``) and its own end
/// (``PoolCore/workerEnded(_:_:)``) to the scheduler.
///
/// ``LocalWorker``, a child process of this program, answers its chunks in order. A serving rank
/// of an MPI job (`RemoteWorker`, with the MPI trait) runs them through a pool of its own and
/// answers in any order. The scheduler knows nothing else of a worker, so dispatch is the same
/// for both.
protocol PoolWorker: AnyObject, Sendable {
    /// The scheduler's key for it, unique in its pool.
    var key: Int { get }
    /// Its name and pid, as errors name it.
    var label: WorkerLabel { get }
    /// How many chunks it runs at once; the scheduler keeps up to that many times its
    /// pipelining depth in flight. A local process runs one.
    var capacity: Int { get }
    /// What it writes in a ``ChunkGroup``'s claim words when it takes a chunk; nil for a worker
    /// that cannot take part in groups (no wake-board slot).
    var groupClaimant: UInt32? { get }
    /// Whether it runs its chunks under a pool of its own (a host of a cluster), which enforces
    /// their time limits and cancellation and reports them as failed items. Otherwise the
    /// scheduler ends a worker whose running chunk is over its limit or cancelled.
    var managesItsChunks: Bool { get }
    /// How many chunks (of groups excepted) it has taken to run so far, when it can tell: a
    /// local worker with a wake-board slot, which runs its chunks in order and may hold the
    /// answers of the quick ones back (``AnswerShelf``) while it runs the next.
    var chunksTaken: UInt32? { get }

    /// Queues a chunk to send; cheap, so the scheduler calls it under its lock.
    func enqueue(_ chunk: ChunkWork)
    /// Queues a request to skip these chunks it holds (their call was cancelled): a worker
    /// that manages its chunks stops them even when they run.
    func enqueueSkip(_ chunkIDs: [UInt64])
    /// Queues the frames of a message only a worker that takes part in groups receives.
    func enqueue(_ frame: [WireBytes])
    /// Sends what is queued without waking the worker; returns the wake-board slot to ring if it
    /// sleeps on one (the scheduler rings every such worker of a burst with one system call).
    func sendQueued() -> Int32?
    /// Tells it to exit once it has run what is queued.
    func shutdownAfterQueued()
    /// Asks it to end now, with a chance to clean up (SIGTERM for a process).
    func terminate()
    /// Ends it at once (SIGKILL for a process).
    func kill()
}

/// How a worker ended, as its implementation reports it.
struct WorkerEnd: Sendable {
    /// Its exit status; nil when it is not known (a host that stopped answering).
    var status: ExitStatus?
    /// How it ended, in words, when there is no exit status to say it.
    var lost: String?
    /// What it sent that broke the protocol, if that is why it was ended.
    var violation: String?
    /// How many chunks (of groups excepted) it had taken to run, when it can tell: the chunks in
    /// flight past those were never read, and run elsewhere.
    var chunksTaken: UInt32?
    /// The last of what it wrote on its standard error, when that was read.
    var stderrTail: String?
}
