import Testing

@testable import Multiprocessing

/// A sink the test can watch go away.
private final class WatchedSink: ChunkSink {
    var isFinished: Bool { false }
    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {}
}

private func chunk(_ id: UInt64, sink: any ChunkSink) -> ChunkWork {
    ChunkWork(
        chunkID: id, taskType: ObjectIdentifier(Int.self), frame: [], frameBytes: 100, index: Int(id),
        firstItem: Int(id), itemCount: 1, timeLimit: nil, sink: sink)
}

@Suite("ChunkQueue: order, and nothing kept of a chunk once taken")
struct ChunkQueueTests {
    @Test("a chunk taken from the front is not retained by the queue while others wait")
    func takenChunkReleased() {
        var queue = ChunkQueue()
        let kept = WatchedSink()
        weak var taken: WatchedSink?
        do {
            let sink = WatchedSink()
            taken = sink
            queue.append(chunk(0, sink: sink))
        }
        queue.append(contentsOf: [chunk(1, sink: kept), chunk(2, sink: kept)])
        #expect(taken != nil)
        #expect(queue.popFirst()?.chunkID == 0)
        // Two chunks still wait (no compaction yet): the first one's slot must hold nothing.
        #expect(taken == nil)
        #expect(queue.count == 2)
        queue.prepend([chunk(3, sink: kept)])
        #expect(queue.removeAll().map(\.chunkID) == [3, 1, 2])
        #expect(queue.isEmpty)
    }
}
