import CMultiprocessing
import Synchronization

/// The receiving side of a worker's channel (its answers pipe, and the requests socket for
/// large answers): the frames read so far and how the stream ended.
///
/// The worker's reader thread reads it; so does a caller of `apply` that is waiting actively
/// for its answer (see ``AnswerSpin``): that caller takes the answer off the pipe itself, so
/// the answer waits neither for the reader thread to be woken nor for the CPU it shares with
/// the worker. Whoever holds the lock reads, and nobody waits for it: the reader thread waits
/// for input outside it and only tries the lock, as the caller does.
final class InboundChannel: Sendable {
    /// How the stream ended, as whoever read the end saw it.
    enum End: Sendable {
        /// The worker closed the channel between frames.
        case clean
        /// Reading or handling a frame failed (a stream cut inside a frame, a bad frame...).
        case failed(any Error)
    }

    /// What the lock guards.
    struct State: ~Copyable {
        /// The worker's answers pipe.
        var reader: FrameReader
        /// The requests socket, read only for the large answers announced in the pipe.
        var socketReader: FrameReader
        /// Answers announced in the pipe and not yet read from the socket: nothing after them
        /// in the pipe may be handled first. Only above 0 while a reader is at it.
        var framesOnSocket = 0
        /// Set once the end was read: nothing more is read.
        var end: End?
        /// Set when the descriptors are about to be closed: they must not be read again.
        var closed = false
    }

    /// The answers pipe (O_NONBLOCK): what the reader thread waits on.
    let descriptor: Int32
    /// The requests socket, which the reader thread also waits on: a reader that must not wait
    /// leaves it an answer announced in the pipe and still arriving there.
    let socketDescriptor: Int32
    private let state: Mutex<State>
    /// Until when (monotonic nanoseconds) a caller is reading: the reader thread sleeps until then.
    private let callerReadsUntil = Atomic<UInt64>(0)
    /// Set to end the reader thread's sleep early; the condition is what it sleeps on.
    private let readerWanted = Atomic<Bool>(false)
    private let readerSleep = Condition()

    /// How long a caller's last read keeps the reader thread asleep.
    static let callerReadGrace: UInt64 = 1_000_000

    /// The channel of a worker whose messages are at most `maxMessageBytes` (the pool's setting).
    init(answers: Int32, socket: Int32, maxMessageBytes: Int) {
        self.descriptor = answers
        self.socketDescriptor = socket
        self.state = Mutex(
            State(
                reader: FrameReader(descriptor: answers, maximumFrameSize: maxMessageBytes),
                socketReader: FrameReader(descriptor: socket, maximumFrameSize: maxMessageBytes)))
    }

    /// Runs `body` with the channel unless another thread is reading it.
    func withStateIfFree<R: Sendable>(_ body: (inout State) -> R) -> R? {
        state.withLockIfAvailable { state in body(&state) }
    }

    /// A caller is reading: the reader thread keeps out of the way for a while.
    func callerReads(now: UInt64) {
        callerReadsUntil.store(now &+ Self.callerReadGrace, ordering: .relaxed)
    }

    /// The caller stopped reading without taking everything (its answer is late, or it left a
    /// frame it must not wait for): the reader thread takes over at once.
    func wakeReader() {
        callerReadsUntil.store(0, ordering: .relaxed)
        readerWanted.store(true, ordering: .releasing)
        readerSleep.withLock { readerSleep.signal() }
    }

    /// For the reader thread: sleeps while a caller reads. Returns false at once if none does.
    func sleepWhileCallerReads() -> Bool {
        var until = callerReadsUntil.load(ordering: .relaxed)
        var now = cmp_monotonic_ns()
        guard until > now else { return false }
        readerSleep.withLock {
            while !readerWanted.load(ordering: .acquiring) && until > now {
                readerSleep.wait(nanoseconds: Int64(until - now))
                until = callerReadsUntil.load(ordering: .relaxed)
                now = cmp_monotonic_ns()
            }
        }
        readerWanted.store(false, ordering: .relaxed)
        return true
    }

    /// Marks the descriptor closed for every reader; called before it is closed.
    func markClosed() {
        state.withLock { $0.closed = true }
    }
}
