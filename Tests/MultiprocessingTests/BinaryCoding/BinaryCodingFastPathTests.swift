import Testing

@testable import Multiprocessing

/// Bytes a varint of `v` takes.
func varintSize(_ v: Int) -> Int {
    var n = 1
    var v = UInt64(v)
    while v >= 0x80 {
        v >>= 7
        n += 1
    }
    return n
}

@Suite("Fast paths")
struct FastPathTests {
    /// Checks the round trip and that the array went out as `u32 len + varint count + raw bytes`.
    func check<E: Codable & Equatable>(_ array: [E], elementSize: Int) throws {
        let bytes = try BinaryEncoder().encode(array)
        #expect(bytes.count == 4 + varintSize(array.count) + array.count * elementSize)
        #expect(try BinaryDecoder().decode([E].self, from: bytes) == array)
        // The same arrays nested in a generic container take the same fast path.
        let box = GenericBox(value: array, values: [array, []], optional: array)
        #expect(try roundTrip(box) == box)
    }

    @Test func numericArrays() throws {
        try check((0..<1000).map { $0 * 7 - 300 } as [Int], elementSize: 8)
        try check([Int8.min, 0, .max], elementSize: 1)
        try check([Int16.min, 0, .max], elementSize: 2)
        try check([Int32.min, 0, .max], elementSize: 4)
        try check([Int64.min, 0, .max], elementSize: 8)
        try check([UInt.max, 0], elementSize: 8)
        try check([UInt8](0...255), elementSize: 1)
        try check([UInt16.max, 0], elementSize: 2)
        try check([UInt32.max, 0], elementSize: 4)
        try check([UInt64.max, 0], elementSize: 8)
        try check([1.5, -0.0, .infinity] as [Double], elementSize: 8)
        try check([1.5, -0.0, .infinity] as [Float], elementSize: 4)
        try check([true, false, true], elementSize: 1)
        try check([Int](), elementSize: 8)
        try check([Bool](), elementSize: 1)
    }

    @Test func largeBuffers() throws {
        var rng = SplitMix64(seed: 1)
        let payload = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let bytes = try BinaryEncoder().encode(payload)
        #expect(bytes.count == 4 + 3 + payload.count)
        #expect(try BinaryDecoder().decode([UInt8].self, from: bytes) == payload)

        let ints = Array(0..<1_000_000)
        let intBytes = try BinaryEncoder().encode(ints)
        #expect(intBytes.count == 4 + varintSize(ints.count) + ints.count * 8)
        #expect(try BinaryDecoder().decode([Int].self, from: intBytes) == ints)
    }

    @Test func stringsAndStringArrays() throws {
        let strings = (0..<10_000).map { "item-\($0)-ü" }
        let bytes = try BinaryEncoder().encode(strings)
        let expected = 4 + varintSize(strings.count) + strings.reduce(0) { $0 + varintSize($1.utf8.count) + $1.utf8.count }
        #expect(bytes.count == expected)
        #expect(try BinaryDecoder().decode([String].self, from: bytes) == strings)
        let s = String(repeating: "é", count: 100_000)
        #expect(try roundTrip(s) == s)
        #expect(try BinaryEncoder().encode("abc") == [4, 0, 0, 0, 3, 0x61, 0x62, 0x63])
    }

    @Test func smallStructLayout() throws {
        // u32 len; entries: varint keylen, key, u32 payload len, payload.
        let bytes = try BinaryEncoder().encode(Small(id: 1, name: "n", score: 0, values: [7]))
        let id = 1 + 2 + 4 + 8
        let name = 1 + 4 + 4 + 2
        let score = 1 + 5 + 4 + 8
        let values = 1 + 6 + 4 + 1 + 8
        #expect(bytes.count == 4 + id + name + score + values)
    }
}

@Suite("Large payloads inside structures")
struct PayloadTests {
    struct Message: Codable, Equatable {
        var id: Int
        var payload: [UInt8]
        var tail: String
        var more: [Double]
    }

    @Test func megabytePayloadInStruct() throws {
        var rng = SplitMix64(seed: 3)
        let payload = (0..<(1 << 20) + 3).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let message = Message(id: 1, payload: payload, tail: "end", more: [1, 2, 3])
        try expectRoundTrip(message)
        try expectRoundTrip([message, Message(id: 2, payload: [], tail: "", more: [])])
        try expectRoundTrip(["k": message])
    }

    @Test func appendingToANonEmptyWriter() throws {
        var writer = ByteWriter(capacity: 3)
        writer.writeBytes([0xFE, 0xFD] as [UInt8])
        let message = Message(id: 7, payload: [1, 2, 3], tail: "t", more: [.nan])
        try BinaryEncoder().encode(message, into: &writer)
        try BinaryEncoder().encode([UInt8](repeating: 9, count: 10_000), into: &writer)
        #expect(Array(writer.bytes.prefix(2)) == [0xFE, 0xFD])
        var reader = ByteReader(writer.bytes)
        try reader.skip(2)
        let decoded = try BinaryDecoder().decode(Message.self, from: &reader)
        #expect(decoded.id == 7 && decoded.payload == [1, 2, 3] && decoded.more[0].isNaN)
        #expect(try BinaryDecoder().decode([UInt8].self, from: &reader) == [UInt8](repeating: 9, count: 10_000))
        #expect(reader.isAtEnd)
        // Same bytes as encoding on its own.
        let alone = try BinaryEncoder().encode(message)
        #expect(Array(writer.bytes[2..<(2 + alone.count)]) == alone)
    }
}
