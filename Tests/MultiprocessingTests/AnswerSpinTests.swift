import CMultiprocessing
import Testing

@testable import Multiprocessing

@Suite("AnswerSpin: the short busy-wait of apply", .timeLimit(.minutes(1)))
struct AnswerSpinTests {
    private static func now() -> UInt64 { cmp_monotonic_ns() }

    @Test("the wait ends as soon as the answer is there, or at its deadline")
    func endsOnAnswer() {
        let spin = AnswerSpin()
        var checks = 0
        let start = Self.now()
        spin.wait(startedAt: start) {
            checks += 1
            return checks == 3
        }
        let elapsed = Self.now() - start
        // Never asked again once answered.
        #expect(checks <= 3)
        // Fewer checks only when time ran out first (a loaded machine may not give the thread
        // the CPU back within the first wait's budget), or with one CPU, where it never waits.
        #expect(checks == 3 || elapsed >= AnswerSpin.initialNanoseconds || cmp_available_cpus() < 2)
    }

    @Test("an answer that does not come ends the wait within its budget")
    func endsWithoutAnswer() {
        let spin = AnswerSpin()
        let start = Self.now()
        spin.wait(startedAt: start) { false }
        // The first call's budget is `initialNanoseconds`; allow for a descheduled thread.
        #expect(Self.now() - start < 1_000_000_000)
    }

    @Test("after slow round trips the caller does not spin at all")
    func noSpinAfterSlowCalls() {
        let spin = AnswerSpin()
        spin.record(5 * AnswerSpin.maximumNanoseconds)
        var checks = 0
        spin.wait(startedAt: Self.now()) {
            checks += 1
            return false
        }
        #expect(checks == 0)
    }

    @Test("relayed and local round trips keep separate averages")
    func separateAverages() throws {
        try #require(cmp_available_cpus() >= 2, "no spinning on one CPU")
        let spin = AnswerSpin()
        spin.record(5 * AnswerSpin.relayedMaximumNanoseconds, relayed: true)
        var relayedChecks = 0
        spin.wait(startedAt: Self.now(), relayed: true) {
            relayedChecks += 1
            return false
        }
        // Slow relayed calls stop relayed spins, not local ones.
        #expect(relayedChecks == 0)
        var localChecks = 0
        spin.wait(startedAt: Self.now()) {
            localChecks += 1
            return true
        }
        #expect(localChecks == 1)
        // And slow local calls (slow enough to stop relayed spins too, were it one average) do
        // not stop relayed spins.
        let other = AnswerSpin()
        other.record(5 * AnswerSpin.relayedMaximumNanoseconds)
        var otherRelayedChecks = 0
        other.wait(startedAt: Self.now(), relayed: true) {
            otherRelayedChecks += 1
            return true
        }
        #expect(otherRelayedChecks == 1)
    }

    @Test("only one caller spins at a time")
    func oneSpinnerAtATime() throws {
        try #require(cmp_available_cpus() >= 2, "no spinning on one CPU")
        let spin = AnswerSpin()
        var outerChecks = 0
        var innerChecks = 0
        spin.wait(startedAt: Self.now()) {
            outerChecks += 1
            // A second caller while this one spins: it must suspend at once, not spin.
            spin.wait(startedAt: Self.now()) {
                innerChecks += 1
                return false
            }
            return true
        }
        #expect(outerChecks == 1)
        #expect(innerChecks == 0)
        // Once the first is done, the next caller may spin again.
        spin.wait(startedAt: Self.now()) {
            innerChecks += 1
            return true
        }
        #expect(innerChecks == 1)
    }
}
