import Testing

@testable import Multiprocessing

@Suite("a call's progress: its counts, snapshots and streams, without processes")
struct ProgressTallyTests {
    @Test("counts add up and the progress finishes when every item is in")
    func finishesAtTotal() {
        var tally = ProgressTally(total: 5)
        let step1 = tally.record(done: 2, failed: 0)
        #expect(!step1)
        let step2 = tally.record(done: 1, failed: 1)
        #expect(!step2)
        let step3 = tally.record(done: 0, failed: 1)
        #expect(step3)
        #expect(tally.isFinished)
        let step4 = tally.record(done: 3, failed: 0)
        #expect(!step4, "counts after the end are ignored")
        let last = tally.snapshot(elapsed: .seconds(2))
        #expect(last.done == 3 && last.failed == 2 && last.total == 5 && last.isFinished)
        #expect(last.completed == 5)
        #expect(last.fractionCompleted == 1)
        #expect(last.estimatedTimeRemaining == .zero)
    }

    @Test("a stream's total comes when its input ends, and may finish it at once")
    func totalLater() {
        var tally = ProgressTally(total: nil)
        let step5 = tally.record(done: 4, failed: 0)
        #expect(!step5)
        #expect(tally.snapshot(elapsed: .seconds(1)).total == nil)
        #expect(tally.snapshot(elapsed: .seconds(1)).fractionCompleted == nil)
        #expect(tally.snapshot(elapsed: .seconds(1)).estimatedTimeRemaining == nil)
        let step6 = tally.setTotal(4)
        #expect(step6)
        #expect(tally.isFinished)
    }

    @Test("an early end finishes once; a call of no items is finished from the start")
    func earlyEnd() {
        var tally = ProgressTally(total: 10)
        _ = tally.record(done: 3, failed: 0)
        let step7 = tally.finish()
        #expect(step7)
        let step8 = tally.finish()
        #expect(!step8)
        #expect(tally.snapshot(elapsed: .zero).completed == 3)
        #expect(ProgressTally(total: 0).isFinished)
    }

    @Test("rate, fraction and time left are the averages so far")
    func rateAndEstimate() {
        let p = CallProgress(done: 30, failed: 10, total: 100, elapsed: .seconds(4), isFinished: false)
        #expect(p.fractionCompleted == 0.4)
        #expect(p.itemsPerSecond == 10)
        #expect(p.estimatedTimeRemaining == .seconds(6))
        #expect(p.description == "40/100 items, 10 failed, 10.0 items/s, 6.0 s left")
        let start = CallProgress(done: 0, failed: 0, total: nil, elapsed: .zero, isFinished: false)
        #expect(start.itemsPerSecond == nil && start.estimatedTimeRemaining == nil)
        #expect(start.description == "0/? items")
    }

    @Test("a listener gets the latest snapshot, not a backlog, and the stream ends after the last")
    func coalescedStream() async {
        let reporter = ProgressReporter(total: 6)
        let updates = reporter.updates()
        for _ in 0..<5 { reporter.record(done: 1, failed: 0) }
        reporter.record(done: 0, failed: 1)
        var seen: [CallProgress] = []
        for await snapshot in updates { seen.append(snapshot) }
        #expect(seen.count == 1, "only the newest is buffered")
        #expect(seen.last?.done == 5 && seen.last?.failed == 1 && seen.last?.isFinished == true)
    }

    @Test("asking after the end gets the last snapshot, then the end")
    func lateListener() async {
        let reporter = ProgressReporter(total: 3)
        reporter.record(done: 1, failed: 0)
        reporter.finish()
        reporter.record(done: 2, failed: 0)
        var seen: [CallProgress] = []
        for await snapshot in reporter.updates() { seen.append(snapshot) }
        #expect(seen.map(\.completed) == [1])
        #expect(seen.first?.isFinished == true)
    }
}
