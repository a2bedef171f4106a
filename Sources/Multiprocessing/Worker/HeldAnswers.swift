/// Answers to chunks of a ``ChunkGroup`` that a worker holds back and sends in one write.
///
/// Every answer written to the pipe wakes the parent's reader thread. With every CPU busy
/// running workers, the kernel runs that thread on the answering worker's CPU (a pipe's wake-up
/// is the "sync" kind) before the worker's `write` returns, so every chunk boundary costs the
/// worker that wake-up. A group's chunks need no answer to be handed out (workers claim them on the
/// board), so their answers can wait: a worker sends them when it has passed the whole group,
/// before it waits for anything, or when the oldest has waited ``maximumHoldNanoseconds``. The
/// answer of a chunk that ran that long itself is not held: a wake-up is nothing next to it,
/// and a held answer dies with its worker.
struct HeldAnswers {
    /// The longest an answer is held while its worker runs further chunks of the group.
    static let maximumHoldNanoseconds: UInt64 = 20_000_000
    /// Answers held are sent once they reach this size; a larger single answer is not held.
    static let maximumBytes = 32 * 1024

    private var bytes: [UInt8] = []
    private var oldest: UInt64 = 0

    var isEmpty: Bool { bytes.isEmpty }

    /// Holds the answer frame (given in pieces) of a chunk that ran for `ranFor` nanoseconds
    /// and finished at `now`. Returns false for one too large or too slow to hold, which the
    /// caller sends as usual after what is held.
    mutating func hold(_ pieces: [WireBytes], ranFor: UInt64, now: UInt64) -> Bool {
        guard ranFor < Self.maximumHoldNanoseconds else { return false }
        let size = pieces.byteCount
        guard size <= Self.maximumBytes else { return false }
        if bytes.isEmpty { oldest = now }
        for piece in pieces { piece.withUnsafeBytes { bytes.append(contentsOf: $0) } }
        return true
    }

    /// Whether what is held should go now.
    func isDue(now: UInt64) -> Bool {
        !bytes.isEmpty && (now &- oldest >= Self.maximumHoldNanoseconds || bytes.count >= Self.maximumBytes)
    }

    /// The held frames, back to back, after `first` if given; nothing is held after.
    mutating func take(after first: [UInt8] = []) -> [UInt8] {
        var out = first
        out.append(contentsOf: bytes)
        bytes.removeAll(keepingCapacity: true)
        return out
    }
}
