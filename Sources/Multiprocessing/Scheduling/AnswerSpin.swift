import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Lets a caller of `apply` wait actively for its answer for a moment instead of suspending.
///
/// A suspended caller is resumed through the worker's reader thread and Swift's cooperative
/// pool: two threads asleep in the kernel to wake, one more hop than a raw socket ping-pong, and
/// on a machine with few CPUs the reader thread also waits for the CPU its worker is leaving.
/// When recent round trips were short, the caller instead reads the worker's answers pipe itself
/// (`PoolCore.readAnswer`, without waiting; yielding the CPU between reads) for up to twice
/// their moving average, at most ``maximumNanoseconds``, and takes the answer the moment it
/// arrives; a call that takes longer suspends as usual. One caller per pool waits so at a
/// time, never a reader thread (it would wait for an answer it must read itself), and never on
/// a single CPU.
final class AnswerSpin: Sendable {
    /// The longest busy-wait.
    static let maximumNanoseconds: UInt64 = 100_000
    /// The wait before any round trip was measured.
    static let initialNanoseconds: UInt64 = maximumNanoseconds / 4
    private static let budget = SpinBudget(maximum: maximumNanoseconds, initial: initialNanoseconds)
    /// The longest busy-wait for a worker that relays its chunks (a serving rank of an MPI job):
    /// its round trip has more hops, and while it lasts the transport's thread would look for
    /// the answer anyway if the caller did not.
    static let relayedMaximumNanoseconds: UInt64 = 1_000_000
    private static let relayedBudget = SpinBudget(maximum: relayedMaximumNanoseconds, initial: maximumNanoseconds)

    /// Recent round trips to local workers, an exponential moving average in nanoseconds (0:
    /// none yet).
    private let typicalRoundTrip = Atomic<UInt64>(0)
    /// The same for relayed chunks, kept apart: in a pool with both kinds of workers, each
    /// kind's round trips would otherwise distort the other's budget.
    private let typicalRelayedRoundTrip = Atomic<UInt64>(0)
    private let occupied = Atomic<Bool>(false)
    /// With one CPU the worker cannot run while the caller spins: never spin there.
    private let enabled = cmp_available_cpus() >= 2

    /// Calls `isAnswered` until it returns true or the budget runs out (the longer one when the
    /// chunk went to a worker that relays it). Returns at once on a reader thread or while
    /// another caller waits so.
    func wait(startedAt start: UInt64, relayed: Bool = false, until isAnswered: () -> Bool) {
        guard enabled, cmp_thread_reader_jobs() == nil else { return }
        let budget = (relayed ? Self.relayedBudget : Self.budget).nanoseconds(typical: typical(relayed: relayed))
        guard budget > 0 else { return }
        guard occupied.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        defer { occupied.store(false, ordering: .releasing) }
        let deadline = start &+ budget
        // `isAnswered` may make a system call (it reads the pipe): the clock is cheap next to it.
        while !isAnswered() {
            // Not a plain spin: the kernel often wakes the worker on this very CPU (its waker's),
            // where it would otherwise wait for this thread's time slice to end; so would any
            // other process that needs the CPU on a busy machine.
            sched_yield()
            if cmp_monotonic_ns() >= deadline { return }
        }
    }

    /// Records a round trip that took `nanoseconds`, into the average of its kind (`relayed`
    /// as given to ``wait(startedAt:relayed:until:)``).
    func record(_ nanoseconds: UInt64, relayed: Bool = false) {
        let new = SpinBudget.average(typical(relayed: relayed), adding: nanoseconds)
        if relayed {
            typicalRelayedRoundTrip.store(new, ordering: .relaxed)
        } else {
            typicalRoundTrip.store(new, ordering: .relaxed)
        }
    }

    /// The moving average of round trips of this kind.
    private func typical(relayed: Bool) -> UInt64 {
        relayed ? typicalRelayedRoundTrip.load(ordering: .relaxed) : typicalRoundTrip.load(ordering: .relaxed)
    }
}
