import Testing

@testable import Multiprocessing

/// `BinaryDecoder.decodeElements`: the elements of an encoded array one by one, so one that
/// cannot be decoded fails alone.
@Suite("decoding an array element by element")
struct ElementwiseDecodingTests {
    @Test("each element decodes on its own; the bad one fails alone")
    func oneBadElement() throws {
        let bytes = try BinaryEncoder().encode([Picky(1), Picky(-1), Picky(3), Picky(4)])
        #expect(throws: (any Error).self) { try BinaryDecoder().decode([Picky].self, from: bytes) }
        let each = try #require(BinaryDecoder().decodeElements(Picky.self, from: bytes[...]))
        #expect(each.count == 4)
        #expect(try each[0].get() == Picky(1))
        #expect(throws: DecodingError.self) { try each[1].get() }
        #expect(try each[2].get() == Picky(3))
        #expect(try each[3].get() == Picky(4))
    }

    @Test("optional elements, nil among them, and nested values")
    func optionalsAndNesting() throws {
        let values: [[Picky]?] = [[Picky(1)], nil, [Picky(-2), Picky(2)], []]
        let bytes = try BinaryEncoder().encode(values)
        let each = try #require(BinaryDecoder().decodeElements([Picky]?.self, from: bytes[...]))
        #expect(each.count == 4)
        #expect(try each[0].get() == [Picky(1)])
        #expect(try each[1].get() == nil)
        #expect(throws: DecodingError.self) { try each[2].get() }
        #expect(try each[3].get() == [])
    }

    @Test("packed arrays and broken framing give nil, never made-up values")
    func notWalkable() throws {
        let ints = try BinaryEncoder().encode([1, 2, 3])
        #expect(BinaryDecoder().decodeElements(Int.self, from: ints[...]) == nil)
        var bytes = try BinaryEncoder().encode([Picky(1), Picky(2)])
        bytes.removeLast()
        #expect(BinaryDecoder().decodeElements(Picky.self, from: bytes[...]) == nil)
        bytes = try BinaryEncoder().encode([Picky(1), Picky(2)])
        bytes[8] = 9  // the first element's tag
        #expect(BinaryDecoder().decodeElements(Picky.self, from: bytes[...]) == nil)
    }
}
