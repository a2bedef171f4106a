#if MPI
import Testing

@testable import Multiprocessing

/// Which workers a serving rank's transport thread reads, without MPI or processes.
@Suite("MPI serving rank reads")
struct MPIServingRankReadsTests {
    private final class Worker {}

    @Test("a worker is read while it holds chunks, and forgotten once they are all settled")
    func readWhileHolding() {
        let a = Worker()
        let b = Worker()
        var reads = ServingRankReads<Worker>()
        #expect(reads.readable.isEmpty)
        reads.dispatched(to: a)
        reads.dispatched(to: a)
        reads.dispatched(to: b)
        #expect(reads.readable.map(ObjectIdentifier.init) == [ObjectIdentifier(a), ObjectIdentifier(b)])
        reads.settled(a)
        #expect(reads.readable.count == 2)
        reads.settled(a)
        #expect(reads.readable.map(ObjectIdentifier.init) == [ObjectIdentifier(b)])
        reads.settled(b)
        #expect(reads.readable.isEmpty && reads.holding.isEmpty)
        // A settlement for a worker holding nothing changes nothing.
        reads.settled(b)
        #expect(reads.holding.isEmpty)
    }

    @Test("a worker handed back is left to its reader thread until resumed or holding no chunk, yet still woken")
    func handedBack() {
        let a = Worker()
        var reads = ServingRankReads<Worker>()
        reads.dispatched(to: a)
        reads.dispatched(to: a)
        reads.handBack(a)
        #expect(reads.readable.isEmpty)
        #expect(reads.handedBack.map(ObjectIdentifier.init) == [ObjectIdentifier(a)])
        #expect(reads.holding.map(ObjectIdentifier.init) == [ObjectIdentifier(a)])
        reads.resume(a)
        #expect(reads.readable.map(ObjectIdentifier.init) == [ObjectIdentifier(a)])
        #expect(reads.handedBack.isEmpty)
        reads.handBack(a)
        reads.dispatched(to: a)
        #expect(reads.readable.isEmpty)
        for _ in 0..<3 { reads.settled(a) }
        #expect(reads.holding.isEmpty)
        reads.dispatched(to: a)
        #expect(reads.readable.map(ObjectIdentifier.init) == [ObjectIdentifier(a)])
    }
}
#endif
