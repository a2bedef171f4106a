import Testing

@testable import Multiprocessing

@Suite("MapProgress: when a map call is done, and with what")
struct MapProgressTests {
    private struct Failure: Error, Equatable { let item: Int }

    private func outputs(_ values: [Int]) -> ChunkValues { .stored }

    private func succeeded(_ outcome: MapProgress.Outcome) -> Bool {
        if case .succeeded = outcome { return true }
        return false
    }

    private func error(_ outcome: MapProgress.Outcome) -> Failure? {
        guard case .failed(let error) = outcome else { return nil }
        return error as? Failure
    }

    @Test("chunks arriving in any order succeed once all are in")
    func succeedsInOrder() {
        var progress = MapProgress(chunkCount: 3)
        let afterLast = progress.record(chunk: 2, outputs([5]))
        let afterFirst = progress.record(chunk: 0, outputs([1, 2]))
        let afterAll = progress.record(chunk: 1, outputs([3, 4]))
        #expect(!succeeded(afterLast))
        #expect(!succeeded(afterFirst))
        #expect(succeeded(afterAll))
        #expect(progress.isDone)
    }

    @Test("a failure is reported once every chunk before it is in, and an earlier one wins")
    func firstFailureInInputOrder() {
        var progress = MapProgress(chunkCount: 4)
        // Item 6 (chunk 3) fails first, but chunks 0-2 are not in: wait.
        let late = progress.record(chunk: 3, .failed(item: 6, error: Failure(item: 6), count: 1))
        #expect(error(late) == nil)
        // An earlier failure (item 3, chunk 1) replaces it; chunk 0 is still missing.
        let earlier = progress.record(chunk: 1, .failed(item: 3, error: Failure(item: 3), count: 1))
        #expect(error(earlier) == nil)
        #expect(!progress.isDone)
        // Chunk 0 in: everything before item 3 is known, so the call fails with it.
        let prefix = progress.record(chunk: 0, outputs([0, 1]))
        #expect(error(prefix) == Failure(item: 3))
        #expect(progress.isDone)
        // Late chunks change nothing.
        if case .pending = progress.record(chunk: 2, outputs([4, 5])) {} else { Issue.record("a finished call took a chunk") }
    }

    @Test("a call ended from outside ignores later chunks; an empty call is done at once")
    func endedCalls() {
        var progress = MapProgress(chunkCount: 2)
        let first = progress.end()
        let second = progress.end()
        #expect(first)
        #expect(!second)
        if case .pending = progress.record(chunk: 0, outputs([1])) {} else { Issue.record("an ended call took a chunk") }
        #expect(MapProgress(chunkCount: 0).isDone)
    }
}
