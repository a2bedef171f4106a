import Testing

@testable import Multiprocessing

@Suite("ChunkPlan: how map cuts its items")
struct ChunkPlanTests {
    /// The ranges cover 0..<count in order, without gaps, overlaps or empty chunks.
    private func expectCovers(_ plan: ChunkPlan, _ count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        var next = 0
        for range in plan.ranges {
            #expect(range.lowerBound == next, sourceLocation: sourceLocation)
            #expect(!range.isEmpty, sourceLocation: sourceLocation)
            next = range.upperBound
        }
        #expect(next == count, sourceLocation: sourceLocation)
    }

    @Test("a given chunksize cuts equal chunks, the last one shorter")
    func fixedSize() {
        let plan = ChunkPlan(itemCount: 10, size: 4)
        #expect(plan.ranges == [0..<4, 4..<8, 8..<10])
        expectCovers(plan, 10)
        #expect(ChunkPlan(itemCount: 0, size: 3).ranges.isEmpty)
        #expect(ChunkPlan(itemCount: 3, size: 5).ranges == [0..<3])
    }

    @Test("the default cuts rounds of one chunk per worker, each half an even share of what is left")
    func factoringSizes() {
        // 64 items, 2 workers: Python would cut 8 chunks of 8.
        let plan = ChunkPlan(itemCount: 64, processes: 2)
        #expect(plan.ranges.map(\.count) == [16, 16, 8, 8, 4, 4, 2, 2, 1, 1, 1, 1])
        expectCovers(plan, 64)
        #expect(ChunkPlan(itemCount: 0, processes: 2).ranges.isEmpty)
        #expect(ChunkPlan(itemCount: 1, processes: 4).ranges == [0..<1])
    }

    @Test(
        "default chunks shrink, end small, and number at most about twice Python's",
        arguments: [1, 2, 3, 8], [1, 2, 7, 64, 1000, 100_000])
    func factoringBounds(processes: Int, count: Int) {
        let plan = ChunkPlan(itemCount: count, processes: processes)
        expectCovers(plan, count)
        let sizes = plan.ranges.map(\.count)
        #expect(zip(sizes, sizes.dropFirst()).allSatisfy { $0 >= $1 }, "\(sizes)")
        let pythonSize = (count + 4 * processes - 1) / (4 * processes)
        let pythonChunks = (count + pythonSize - 1) / pythonSize
        // The last chunk is at most an eighth of Python's (rounded up), so workers end together.
        #expect(sizes.last! <= (pythonSize + 7) / 8, "\(sizes)")
        #expect(sizes.count <= 2 * pythonChunks + processes, "\(sizes.count) chunks against Python's \(pythonChunks)")
    }

    @Test("a call of millions of items gets no default chunk over the ceiling, and its chunks still shrink to the end")
    func ceiling() {
        let count = 10_000_000
        let plan = ChunkPlan(itemCount: count, processes: 2)
        expectCovers(plan, count)
        let sizes = plan.ranges.map(\.count)
        #expect(sizes.max() == ChunkPlan.largestDefaultChunk)
        #expect(zip(sizes, sizes.dropFirst()).allSatisfy { $0 >= $1 })
        // A chunksize given by the caller is theirs.
        #expect(ChunkPlan(itemCount: count, size: count / 2).ranges.count == 2)
    }
}
