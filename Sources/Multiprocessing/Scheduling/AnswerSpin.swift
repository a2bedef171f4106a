import CMultiprocessing
import Synchronization

/// Lets a caller of `apply` busy-wait briefly for its answer instead of suspending at once.
///
/// Suspending costs a thread wake-up when the answer comes: the reader thread hands the answer
/// to Swift's cooperative pool, whose idle thread sleeps in the kernel. For a loop of short
/// calls that wake-up is a third of the round trip. When recent round trips were short, the
/// caller watches for the answer for up to twice their typical time (at most
/// ``maximumNanoseconds``) and picks it up without any wake-up; a call that takes longer
/// suspends as usual. One caller per pool spins at a time, never a reader thread (it would
/// wait for an answer it must read itself), and never on a single CPU.
final class AnswerSpin: Sendable {
    /// The longest busy-wait.
    static let maximumNanoseconds: UInt64 = 100_000

    /// Recent round trips, an exponential moving average in nanoseconds (0: none yet).
    private let typicalRoundTrip = Atomic<UInt64>(0)
    private let occupied = Atomic<Bool>(false)
    /// With one CPU the worker cannot run while the caller spins: never spin there.
    private let enabled = cmp_available_cpus() >= 2

    /// How long a caller should watch for an answer now; 0 to suspend at once.
    private var budget: UInt64 {
        let typical = typicalRoundTrip.load(ordering: .relaxed)
        guard typical > 0, typical <= Self.maximumNanoseconds else {
            // No figure yet: one short try, which records the first.
            return typical == 0 ? Self.maximumNanoseconds / 4 : 0
        }
        return min(typical * 2, Self.maximumNanoseconds)
    }

    /// Busy-waits until `isAnswered` or the budget runs out. Returns at once on a reader thread
    /// or while another caller spins.
    func wait(startedAt start: UInt64, until isAnswered: () -> Bool) {
        guard enabled, cmp_thread_reader_jobs() == nil else { return }
        let budget = self.budget
        guard budget > 0 else { return }
        guard occupied.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        defer { occupied.store(false, ordering: .releasing) }
        let deadline = start &+ budget
        var spins = 0
        while !isAnswered() {
            cmp_cpu_relax()
            spins &+= 1
            if spins & 15 == 0 && cmp_monotonic_ns() >= deadline { return }
        }
    }

    /// Records a round trip that took `nanoseconds`.
    func record(_ nanoseconds: UInt64) {
        let old = typicalRoundTrip.load(ordering: .relaxed)
        // A long call (a real task, a stall) pulls the average up fast and so stops spinning;
        // short ones bring it back down over a few calls.
        let new = old == 0 ? nanoseconds : (old &* 7 &+ nanoseconds) / 8
        typicalRoundTrip.store(new, ordering: .relaxed)
    }
}
