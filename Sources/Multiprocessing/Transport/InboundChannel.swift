import Synchronization

/// The receiving side of a worker's channel: the frames read so far and how the stream ended.
///
/// The worker's reader thread reads it; so does a caller of `apply` that is waiting actively
/// for its answer (see ``AnswerSpin``): that caller takes the answer off the socket itself, so
/// the answer waits neither for the reader thread to be woken nor for the CPU it shares with
/// the worker. Whoever holds the lock reads; the reader thread waits for input outside it.
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
        var reader: FrameReader
        /// Set once the end was read: nothing more is read.
        var end: End?
        /// Set when the descriptor is about to be closed: it must not be read again.
        var closed = false
    }

    let descriptor: Int32
    private let state: Mutex<State>

    init(descriptor: Int32, maximumFrameSize: Int) {
        self.descriptor = descriptor
        self.state = Mutex(State(reader: FrameReader(descriptor: descriptor, maximumFrameSize: maximumFrameSize)))
    }

    /// Runs `body` with the channel, waiting for another reader to finish.
    func withState<R: Sendable>(_ body: (inout State) -> R) -> R {
        state.withLock { state in body(&state) }
    }

    /// Runs `body` with the channel unless another thread is reading it.
    func withStateIfFree<R: Sendable>(_ body: (inout State) -> R) -> R? {
        state.withLockIfAvailable { state in body(&state) }
    }

    /// Marks the descriptor closed for every reader; called before it is closed.
    func markClosed() {
        state.withLock { $0.closed = true }
    }
}
