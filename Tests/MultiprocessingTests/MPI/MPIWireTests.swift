#if MPI
import Testing

@testable import Multiprocessing

/// What ranks send each other, without MPI: the messages' bytes and the batches they travel in.
@Suite("MPI wire messages")
struct MPIWireTests {
    /// A batch written into a buffer of its own size.
    private func batch(_ messages: [(tag: ClusterTag, bytes: [UInt8])]) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, ClusterBatch.byteCount(messages[...])), alignment: 16)
        defer { buffer.deallocate() }
        ClusterBatch.write(messages[...], into: buffer)
        return Array(buffer.prefix(ClusterBatch.byteCount(messages[...])))
    }

    @Test("a batch gives back its messages in order, empty ones included")
    func batchRoundTrip() throws {
        let messages: [(tag: ClusterTag, bytes: [UInt8])] = [
            (.chunk, [1, 2, 3]), (.heartbeat, []), (.skip, Array(repeating: 7, count: 300)), (.result, [0xFF]),
        ]
        let bytes = batch(messages)
        #expect(bytes.count == messages.reduce(0) { $0 + ClusterBatch.headerBytes + $1.bytes.count })
        let read = try ClusterBatch.messages(in: bytes[...])
        #expect(read.map(\.tag) == messages.map(\.tag.rawValue))
        #expect(read.map { Array($0.bytes) } == messages.map(\.bytes))
    }

    @Test("a batch cut short is refused, not read past its end")
    func truncatedBatch() {
        let bytes = batch([(.chunk, [1, 2, 3, 4]), (.result, [5, 6])])
        for cut in [1, 4, ClusterBatch.headerBytes + 2, bytes.count - 1] {
            #expect(throws: BinaryCodingError.self, "cut at \(cut)") { try ClusterBatch.messages(in: bytes[..<cut]) }
        }
    }

    @Test("hello and skip round-trip")
    func helloAndSkip() throws {
        let hello = ClusterHello(capacity: 12, pid: 4321, host: "node-7.example", machine: 0xfeed_beef_0123_4567)
        #expect(try ClusterHello.decode(hello.encode()[...]) == hello)
        // A hello without a machine (an older rank) names none: its ranks get copies.
        #expect(try ClusterHello.decode(hello.encode().dropLast(8)).machine == 0)
        let skip = ClusterSkip(chunkIDs: [1, 300, UInt64.max], stopRunning: true)
        #expect(try ClusterSkip.decode(skip.encode()[...]) == skip)
    }

    @Test("a result keeps who ran it and its frame")
    func result() throws {
        let frame: [UInt8] = [9, 8, 7, 6, 5]
        let bytes = ClusterResult.encode(ranBy: WorkerLabel(name: "SpawnPoolWorker-2@rank1.vm", pid: 77), frame: [WireBytes(frame)])
        let decoded = try ClusterResult.decode(bytes[...])
        #expect(decoded.ranBy.name == "SpawnPoolWorker-2@rank1.vm")
        #expect(decoded.ranBy.pid == 77)
        #expect(Array(decoded.frame) == frame)
    }
}
#endif
