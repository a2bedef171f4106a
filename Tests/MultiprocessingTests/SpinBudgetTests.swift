import CMultiprocessing
import Testing

@testable import Multiprocessing

@Suite("SpinBudget and the worker's idle wait", .timeLimit(.minutes(1)))
struct SpinBudgetTests {
    @Test("the budget is twice the recent average, capped, and none once waits are long")
    func budgetPolicy() {
        let budget = SpinBudget(maximum: 50_000, initial: 25_000)
        #expect(budget.nanoseconds(typical: 0) == 25_000)
        #expect(budget.nanoseconds(typical: 10_000) == 20_000)
        #expect(budget.nanoseconds(typical: 40_000) == 50_000)
        #expect(budget.nanoseconds(typical: 50_000) == 50_000)
        #expect(budget.nanoseconds(typical: 50_001) == 0)
    }

    @Test("the average starts at the first wait and moves an eighth of the way per wait")
    func average() {
        #expect(SpinBudget.average(0, adding: 8_000) == 8_000)
        #expect(SpinBudget.average(8_000, adding: 16_000) == 9_000)
        // One long wait is enough to stop active waits of at most 50 µs.
        #expect(SpinBudget(maximum: 50_000, initial: 25_000).nanoseconds(typical: SpinBudget.average(8_000, adding: 1_000_000)) == 0)
    }

    @Test("the worker's wait ends as soon as something arrives")
    func idleWaitEndsOnArrival() throws {
        try #require(cmp_available_cpus() >= 2, "no active wait on one CPU")
        let idle = WorkerIdleWait()
        var reads = 0
        idle.spin(startedAt: cmp_monotonic_ns()) {
            reads += 1
            return reads == 2
        }
        // Two reads, unless a descheduled thread found its budget spent after the first.
        #expect(reads == 2 || reads == 1)
    }

    @Test("the worker's wait gives up within its budget, and after slow chunks does not start")
    func idleWaitGivesUp() throws {
        try #require(cmp_available_cpus() >= 2, "no active wait on one CPU")
        var idle = WorkerIdleWait()
        var reads = 0
        idle.spin(startedAt: cmp_monotonic_ns()) {
            reads += 1
            return false
        }
        #expect(reads >= 1)
        idle.record(10 * WorkerIdleWait.maximumNanoseconds)
        reads = 0
        idle.spin(startedAt: cmp_monotonic_ns()) {
            reads += 1
            return false
        }
        #expect(reads == 0)
    }
}
