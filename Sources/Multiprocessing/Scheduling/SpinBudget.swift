/// How long to wait actively for a message that usually comes quickly, rather than sleep until
/// the kernel wakes the thread: up to twice the moving average of recent waits, at most
/// `maximum`, and not at all while that average is above `maximum`. Used by the caller of
/// `apply` waiting for its answer (``AnswerSpin``) and by a worker waiting for its next chunk
/// (``WorkerIdleWait``).
struct SpinBudget: Sendable {
    /// The longest active wait.
    let maximum: UInt64
    /// The wait before any was measured.
    let initial: UInt64

    /// Nanoseconds to wait actively, given the moving average of recent waits (0: none yet).
    func nanoseconds(typical: UInt64) -> UInt64 {
        guard typical > 0 else { return initial }
        guard typical <= maximum else { return 0 }
        return min(typical * 2, maximum)
    }

    /// The moving average after a wait of `nanoseconds`. A long wait (a real task, a stall)
    /// pulls it up fast and so stops the active waits; short ones bring it back over a few.
    static func average(_ typical: UInt64, adding nanoseconds: UInt64) -> UInt64 {
        typical == 0 ? nanoseconds : (typical &* 7 &+ nanoseconds) / 8
    }
}
