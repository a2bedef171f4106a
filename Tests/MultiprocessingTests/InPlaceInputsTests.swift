import Testing

@testable import Multiprocessing

@Suite("InPlaceInputs: large chunks of numbers sent from the caller's array")
struct InPlaceInputsTests {
    private let task = EncodedValue(typeName: "4Demo6SquareV", payload: [1, 2])

    /// The run frame of `items[range]` in place, joined, and the pieces it is made of; nil if
    /// the chunk does not go in place.
    private func inPlaceFrame<Element: Codable & Sendable>(
        _ items: [Element], _ range: Range<Int>
    ) -> (bytes: [UInt8], pieces: [WireBytes])? {
        guard let split = InPlaceInputs.split(items, range) else { return nil }
        let pieces = ParentMessage.encodeRunFrame(chunkID: 9, task: task, inputs: split.head, inputsBody: split.body)
        return (Array(pieces.joined()), pieces)
    }

    /// The run frame of `items[range]` encoded the usual way, joined.
    private func encodedFrame<Element: Codable & Sendable>(_ items: [Element], _ range: Range<Int>) throws -> [UInt8] {
        let inputs = try EncodedItems.encode(Array(items[range]))
        return Array(ParentMessage.encodeRunFrame(chunkID: 9, task: task, inputs: inputs).joined())
    }

    /// Checks that the chunk goes in place, byte for byte as encoded, its elements in a piece
    /// of their own read from the array (not a copy of it).
    private func expectSameFrame<Element: Codable & Sendable>(_ items: [Element], _ range: Range<Int>) throws {
        let frame = try #require(inPlaceFrame(items, range))
        #expect(frame.bytes == (try encodedFrame(items, range)))
        #expect(frame.pieces.count == 2)
        #expect(frame.pieces.last?.array == nil)
        #expect(frame.pieces.last?.count == range.count * MemoryLayout<Element>.stride)
    }

    @Test("a large chunk of fixed-width numbers goes in place, framed byte for byte as when encoded")
    func sameFrameAsEncoded() throws {
        let ints = Array(-5_000..<95_000)
        try expectSameFrame(ints, 0..<ints.count)
        try expectSameFrame(ints, 12_345..<40_000)
        try expectSameFrame((0..<5_000).map { Double($0) / 3 }, 1..<4_999)
        try expectSameFrame((0..<20_000).map { UInt16(truncatingIfNeeded: $0 * 7) }, 3..<19_000)
        try expectSameFrame((0..<9_000).map { Int32($0 - 4_500) }, 0..<9_000)
    }

    @Test("the in-place frame decodes to the chunk's items")
    func decodes() throws {
        let items = Array(0..<10_000)
        let frame = try #require(inPlaceFrame(items, 2_000..<10_000))
        guard case .run(let chunkID, let decodedTask, let inputs, _, _) = try ParentMessage.decode(frame.bytes[4...]) else {
            Issue.record("not a run frame")
            return
        }
        #expect(chunkID == 9)
        #expect(decodedTask == task)
        #expect(try inputs.decode([Int].self) == Array(2_000..<10_000))
    }

    @Test("small chunks, and elements the coder does not write raw, are encoded as before")
    func otherChunksAreEncoded() {
        let ints = Array(0..<100_000)
        #expect(InPlaceInputs.split(ints, 0..<(InPlaceInputs.smallestInPlaceBytes / 8)) == nil)
        #expect(InPlaceInputs.split(ints, 0..<(InPlaceInputs.smallestInPlaceBytes / 8 + 1)) != nil)
        #expect(InPlaceInputs.split((0..<100_000).map(String.init), 0..<100_000) == nil)
        #expect(InPlaceInputs.split([Bool](repeating: true, count: 100_000), 0..<100_000) == nil)
    }

    @Test("map and imap of numbers whose chunks go in place return every output in order")
    func inPlaceCalls() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let doubles = (0..<200_000).map { Double($0) / 4 }
                #expect(try await pool.map(Identity<Double>(), doubles, chunksize: 30_000) == doubles)
                var squares: [Int] = []
                for try await square in try pool.imap(Square(), Array(0..<100_000), chunksize: 8_000) {
                    squares.append(square)
                }
                #expect(squares == (0..<100_000).map { $0 * $0 })
            }
        }
    }
}
