import Testing

@testable import Multiprocessing

@Suite("PackedArrayPlacement: raw numbers straight into place, or nothing written")
struct PackedArrayPlacementTests {
    /// Places `values`' encoding into a buffer of `count` elements preset to `fill`: whether it
    /// was placed, and the buffer.
    private func placed<Element: Codable>(_ values: [Element], count: Int, fill: Element) throws -> (Bool, [Element]) {
        let bytes = try EncodedItems.encode(values).bytes
        var buffer = [Element](repeating: fill, count: count)
        let done = buffer.withUnsafeMutableBufferPointer { PackedArrayPlacement.place(bytes, into: $0) }
        return (done, buffer)
    }

    @Test("arrays of fixed-width numbers are placed as they were encoded")
    func placesNumbers() throws {
        let ints = [0, -1, Int.max, Int.min, 42]
        #expect(try placed(ints, count: 5, fill: 7) == (true, ints))
        let doubles = [0.5, -2, .infinity, 1e300]
        #expect(try placed(doubles, count: 4, fill: 7) == (true, doubles))
        let shorts: [UInt16] = [1, 2, 65535]
        #expect(try placed(shorts, count: 3, fill: 7) == (true, shorts))
        #expect(try placed([Int](), count: 0, fill: 7) == (true, []))
    }

    @Test("another count, another type or damaged bytes write nothing")
    func refuses() throws {
        #expect(try placed([1, 2, 3], count: 2, fill: 7) == (false, [7, 7]))
        #expect(try placed([1, 2, 3], count: 4, fill: 7) == (false, [7, 7, 7, 7]))
        #expect(try placed(["a", "b"], count: 2, fill: "z") == (false, ["z", "z"]))
        #expect(try placed([true, false], count: 2, fill: true) == (false, [true, true]))
        var bytes = try EncodedItems.encode([1, 2, 3]).bytes
        bytes.removeLast()
        var buffer = [Int](repeating: 7, count: 3)
        let done = buffer.withUnsafeMutableBufferPointer { PackedArrayPlacement.place(bytes, into: $0) }
        #expect(!done)
        #expect(buffer == [7, 7, 7])
    }

    @Test("arrays of fixed-width numbers are encoded and decoded byte for byte as by the coder")
    func encodesAndDecodesAsTheCoder() throws {
        func expectAsTheCoder<Element: Codable & Equatable>(_ items: [Element], _ range: Range<Int>) throws {
            let encoded = try #require(PackedArrayPlacement.encoded(items, range))
            let byCoder = try EncodedItems.encode(Array(items[range]))
            #expect(encoded == byCoder)
            #expect(PackedArrayPlacement.decoded(byCoder.bytes, as: Element.self) == Array(items[range]))
        }
        let ints = Array(-300..<300)
        try expectAsTheCoder(ints, 0..<1)
        try expectAsTheCoder(ints, 17..<18)
        try expectAsTheCoder(ints, 5..<5)
        try expectAsTheCoder(ints, 0..<ints.count)
        try expectAsTheCoder((0..<300).map { Double($0) / 7 }, 3..<200)
        try expectAsTheCoder((0..<300).map { UInt16(truncatingIfNeeded: $0 * 311) }, 1..<299)
        try expectAsTheCoder((0..<300).map { Int32($0 - 150) }, 299..<300)
    }

    @Test("other element types and damaged bytes are left to the coder")
    func leavesOthersToTheCoder() throws {
        #expect(PackedArrayPlacement.encoded((0..<10).map(String.init), 0..<2) == nil)
        #expect(PackedArrayPlacement.encoded([true, false], 0..<2) == nil)
        #expect(PackedArrayPlacement.decoded(try EncodedItems.encode(["a", "b"]).bytes, as: String.self) == nil)
        var bytes = try EncodedItems.encode([1, 2, 3]).bytes
        #expect(PackedArrayPlacement.decoded(bytes, as: Int32.self) == nil)
        bytes.removeLast()
        #expect(PackedArrayPlacement.decoded(bytes, as: Int.self) == nil)
    }
}
