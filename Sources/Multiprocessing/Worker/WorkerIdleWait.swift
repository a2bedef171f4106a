import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a worker with nothing queued waits for its next chunk.
///
/// Asleep (on the pool's ``WakeBoard``, or in `poll`), a worker is woken by the parent: in this
/// VM a wake-up and a context switch on both sides of every `apply`, which is most of what
/// separates a round trip from two processes spinning on a socket. So when chunks have been
/// following the worker's answers quickly (a loop of `apply`, the caller waiting actively too),
/// the worker first reads its socket without sleeping for a moment, yielding the CPU between
/// reads, and sleeps only when nothing came. The moment is twice the moving average of recent waits, at most
/// ``maximumNanoseconds``; a worker whose chunks come slower never waits so. Never on one CPU.
///
/// A serving rank's workers wait otherwise (``waitsOnSocket``).
struct WorkerIdleWait {
    /// The longest active wait after an answer.
    static let maximumNanoseconds: UInt64 = 50_000
    private static let budget = SpinBudget(maximum: maximumNanoseconds, initial: maximumNanoseconds / 2)

    /// Recent waits for a chunk, a moving average in nanoseconds (0: none yet).
    private var typicalWait: UInt64 = 0
    private let enabled = cmp_available_cpus() >= 2
    /// Where the worker sleeps when nothing came (see ``WakeBoard``); nil, or with
    /// ``waitsOnSocket``: in `poll`.
    private let board: WorkerWakeBoard?
    /// Whether the worker waits in `poll` on its socket at once: neither reading actively nor on
    /// the board. For a serving rank's workers, whose chunks come from the rank's transport
    /// thread, which waits for their answers in the kernel: the socket's wake-up is the "sync"
    /// kind, which puts the worker on that thread's CPU, and its answer puts the thread back
    /// there. A worker reading actively, or woken by the board (wherever it last ran), takes
    /// the CPU of rank 0's caller, which waits actively for the answer on the other side.
    let waitsOnSocket: Bool

    init(board: WorkerWakeBoard? = nil, waitsOnSocket: Bool = false) {
        self.board = board
        self.waitsOnSocket = waitsOnSocket
    }

    /// Calls `receive`, which reads without waiting and returns whether something arrived, until
    /// it returns true or the budget from `start` runs out.
    func spin(startedAt start: UInt64, until receive: () throws -> Bool) rethrows {
        guard enabled, !waitsOnSocket else { return }
        let budget = Self.budget.nanoseconds(typical: typicalWait)
        guard budget > 0 else { return }
        let deadline = start &+ budget
        while try !receive() {
            if cmp_monotonic_ns() >= deadline { return }
            sched_yield()
        }
    }

    /// Sleeps until `descriptor` (the requests socket, nothing of a frame buffered) is readable:
    /// on the wake board if the worker has a slot and does not wait on its socket; otherwise it
    /// returns at once, and the read waits in `poll`.
    func sleep(untilReadable descriptor: Int32) {
        guard !waitsOnSocket else { return }
        board?.sleep(untilReadable: descriptor)
    }

    /// Records a wait for a chunk, however it ended, that took `nanoseconds`.
    mutating func record(_ nanoseconds: UInt64) {
        typicalWait = SpinBudget.average(typicalWait, adding: nanoseconds)
    }
}
