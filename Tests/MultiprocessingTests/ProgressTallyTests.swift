import Testing

@testable import Multiprocessing

@Suite("a call's progress: its counts, snapshots and streams, without processes")
struct ProgressTallyTests {
    private func counts(_ done: Int, _ failed: Int) -> ItemCounts { ItemCounts(done: done, failed: failed) }

    @Test("counts only go up, and the progress finishes when every item is in")
    func finishesAtTotal() {
        var tally = ProgressTally(total: 5)
        let first = tally.advance(to: counts(2, 0))
        let second = tally.advance(to: counts(3, 1))
        let stale = tally.advance(to: counts(2, 0))
        #expect(!first && !second && !stale)
        #expect(tally.counts == counts(3, 1), "counts read earlier, arriving later, change nothing")
        let last = tally.advance(to: counts(3, 2))
        #expect(last)
        #expect(tally.isFinished)
        let after = tally.advance(to: counts(5, 2))
        #expect(!after, "counts after the end are ignored")
        let snapshot = tally.snapshot(elapsed: .seconds(2))
        #expect(snapshot.done == 3 && snapshot.failed == 2 && snapshot.total == 5 && snapshot.isFinished)
        #expect(snapshot.completed == 5)
        #expect(snapshot.fractionCompleted == 1)
        #expect(snapshot.estimatedTimeRemaining == .zero)
    }

    @Test("a stream's total comes when its input ends, and may finish it at once")
    func totalLater() {
        var tally = ProgressTally(total: nil)
        let before = tally.advance(to: counts(4, 0))
        #expect(!before)
        #expect(tally.snapshot(elapsed: .seconds(1)).total == nil)
        #expect(tally.snapshot(elapsed: .seconds(1)).fractionCompleted == nil)
        #expect(tally.snapshot(elapsed: .seconds(1)).estimatedTimeRemaining == nil)
        let ended = tally.setTotal(4)
        #expect(ended)
        #expect(tally.isFinished)
    }

    @Test("an early end finishes once, at its counts; a call of no items is finished from the start")
    func earlyEnd() {
        var tally = ProgressTally(total: 10)
        let ended = tally.finish(at: counts(3, 0))
        let again = tally.finish(at: counts(6, 0))
        #expect(ended && !again)
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
        #expect(reporter.isWatched)
        for done in 1...5 { reporter.advance(to: counts(done, 0)) }
        reporter.advance(to: counts(5, 1))
        var seen: [CallProgress] = []
        for await snapshot in updates { seen.append(snapshot) }
        #expect(seen.count == 1, "only the newest is buffered")
        #expect(seen.last?.done == 5 && seen.last?.failed == 1 && seen.last?.isFinished == true)
    }

    @Test("nobody watching: the reporter reads the job's counts when first asked")
    func readsCountsWhenAsked() async {
        let reporter = ProgressReporter(total: 10)
        reporter.connect { ItemCounts(done: 7, failed: 1) }
        #expect(!reporter.isWatched)
        var iterator = reporter.updates().makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.done == 7 && first?.failed == 1 && first?.isFinished == false)
        #expect(reporter.isWatched)
    }

    @Test("asking after the end gets the last snapshot, then the end")
    func lateListener() async {
        let reporter = ProgressReporter(total: 3)
        reporter.connect { nil }
        reporter.finish(at: counts(1, 0))
        reporter.advance(to: counts(3, 0))
        var seen: [CallProgress] = []
        for await snapshot in reporter.updates() { seen.append(snapshot) }
        #expect(seen.map(\.completed) == [1])
        #expect(seen.first?.isFinished == true)
    }
}
