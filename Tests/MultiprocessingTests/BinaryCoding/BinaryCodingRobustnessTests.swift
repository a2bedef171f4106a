import Testing

@testable import Multiprocessing

/// Decodes `bytes` as several unrelated types; each attempt must either throw or return,
/// never trap. Returns how many attempts succeeded (unused, but keeps the work observable).
@discardableResult
func decodeAsManyTypes(_ bytes: ArraySlice<UInt8>) -> Int {
    let d = BinaryDecoder()
    var ok = 0
    if (try? d.decode(Small.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(Nested.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(Optionals.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode([Shape].self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(Custom.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(Heterogeneous.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode([String: [Int?]].self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode([Suit: Int].self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode([Int].self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode([Bool].self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode([String].self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(String.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(Int??.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(Tree.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(Dog.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(Cat.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode(AllScalars.self, from: bytes)) != nil { ok += 1 }
    if (try? d.decode([NullableID].self, from: bytes)) != nil { ok += 1 }
    return ok
}

@Suite("Malformed input")
struct RobustnessTests {
    static func samples() throws -> [[UInt8]] {
        let e = BinaryEncoder()
        let small = Small(id: 1, name: "héllo", score: 2.5, values: [1, 2, 3, 4])
        return [
            try e.encode(small),
            try e.encode(
                Nested(
                    inner: small, list: [small], grid: [[1], []], words: [["a"]], cube: [[[1]]],
                    empty: Empty(), emptyList: [], emptyString: "")),
            try e.encode(
                Optionals(a: 1, b: nil, c: .some(nil), d: [1, nil], e: small, f: ["a": nil], g: true, h: nil)),
            try e.encode([Shape.labeled(name: "x", 1, tags: ["t"]), .group([.empty]), .rect(1, 2)]),
            try e.encode(Custom(a: 1, b: "b", maybe: nil, point: (1, 2), list: [nil, 1], matrix: [[1, 2]])),
            try e.encode(
                Heterogeneous(
                    n: 1, s: "s", small: small, flag: false, dog: Dog(name: "d", breed: "b"), pair: ["p": 1])),
            try e.encode([Suit.hearts: 1, .custom("c"): 2]),
            try e.encode(deepTree(20)),
            try e.encode(Cat(name: "c", lives: 3)),
            try e.encode(["a", "bc", ""]),
            try e.encode([NullableID(nil), NullableID(3)]),
        ]
    }

    // The three loops below check only that nothing crashes, and take about a second of CPU
    // each: they run on threads of their own, so that the process tests starting beside them
    // are not held up waiting for the two threads of Swift's cooperative pool.

    @Test func everyTruncationPrefixThrowsOrDecodes() async throws {
        let samples = try Self.samples()
        await offCooperativePool { Self.decodeEveryTruncation(of: samples) }
    }

    private static func decodeEveryTruncation(of samples: [[UInt8]]) {
        for sample in samples {
            for length in 0..<sample.count {
                decodeAsManyTypes(sample[0..<length])
                // Also the prefix with a corrected outer length, so the inner parsers see it.
                if length >= 4 {
                    var patched = Array(sample[0..<length])
                    let inner = UInt32(length - 4)
                    withUnsafeBytes(of: inner.littleEndian) { for i in 0..<4 { patched[i] = $0[i] } }
                    decodeAsManyTypes(patched[...])
                }
            }
        }
    }

    @Test func truncatedPrefixesOfValidEncodingsThrow() throws {
        let bytes = try BinaryEncoder().encode(Small(id: 1, name: "x", score: 1, values: [1]))
        for length in 0..<bytes.count {
            #expect(throws: BinaryCodingError.self) {
                try BinaryDecoder().decode(Small.self, from: bytes[0..<length])
            }
        }
    }

    @Test func singleByteMutationsThrowOrDecode() async throws {
        let samples = try Self.samples()
        await offCooperativePool { Self.decodeSingleByteMutations(of: samples) }
    }

    private static func decodeSingleByteMutations(of samples: [[UInt8]]) {
        var rng = SplitMix64(seed: 7)
        for sample in samples {
            for index in sample.indices {
                var mutated = sample
                mutated[index] ^= UInt8.random(in: 1...255, using: &rng)
                decodeAsManyTypes(mutated[...])
                mutated[index] = [0x00, 0xFF, 0x80, 0x01, 0x02][index % 5]
                decodeAsManyTypes(mutated[...])
            }
        }
    }

    @Test func randomBytesThrowOrDecode() async {
        await offCooperativePool { Self.decodeRandomBytes() }
    }

    private static func decodeRandomBytes() {
        var rng = SplitMix64(seed: 42)
        for round in 0..<3000 {
            let count = Int.random(in: 0...200, using: &rng)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Half the time make the outer length consistent so the body parsers are reached,
            // and bias towards small values that look like tags and lengths.
            if round % 2 == 0 {
                for i in bytes.indices where UInt8.random(in: 0...3, using: &rng) == 0 {
                    bytes[i] = UInt8.random(in: 0...4, using: &rng)
                }
                if bytes.count >= 4 {
                    let inner = UInt32(bytes.count - 4)
                    withUnsafeBytes(of: inner.littleEndian) { for i in 0..<4 { bytes[i] = $0[i] } }
                }
            }
            decodeAsManyTypes(bytes[...])
        }
    }

    @Test func hugeCountsDoNotAllocate() throws {
        // [Int] claiming 2^60 elements.
        var w = ByteWriter()
        let slot = w.reserveFixed32()
        w.writeVarint(1 << 60)
        w.writeFixed(Int(1))
        w.patchFixed32(at: slot, UInt32(w.count - 4))
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode([Int].self, from: w.bytes) }
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode([String].self, from: w.bytes) }
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode(String.self, from: w.bytes) }
        // Unkeyed container claiming 4 billion elements.
        var u = ByteWriter()
        let s2 = u.reserveFixed32()
        u.writeFixed(UInt32.max)
        u.writeByte(1)
        u.patchFixed32(at: s2, UInt32(u.count - 4))
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode([Small].self, from: u.bytes) }
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode(Set<Int>.self, from: u.bytes) }
    }

    @Test func invalidUTF8Throws() throws {
        var w = ByteWriter()
        let slot = w.reserveFixed32()
        w.writeVarint(2)
        w.writeBytes([0xC3, 0x28] as [UInt8])
        w.patchFixed32(at: slot, UInt32(w.count - 4))
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode(String.self, from: w.bytes) }
        var r = ByteReader([0x03, 0xE2, 0x82] as [UInt8])
        #expect(throws: BinaryCodingError.self) { try r.readString() }
        var lone = ByteReader([0x03, 0xED, 0xA0, 0x80] as [UInt8])  // UTF-16 surrogate
        #expect(throws: BinaryCodingError.self) { try lone.readString() }
    }

    @Test func invalidBoolsThrow() throws {
        var bytes = try BinaryEncoder().encode([true, false])
        bytes[bytes.count - 1] = 2
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode([Bool].self, from: bytes) }
        var single = try BinaryEncoder().encode(true)
        single[single.count - 1] = 7
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode(Bool.self, from: single) }
    }

    @Test func varintLimits() throws {
        var ok = ByteWriter()
        ok.writeVarint(.max)
        ok.writeVarint(0)
        ok.writeVarint(300)
        #expect(ok.count == 10 + 1 + 2)
        var r = ByteReader(ok.bytes)
        #expect(try r.readVarint() == .max)
        #expect(try r.readVarint() == 0)
        #expect(try r.readVarint() == 300)
        #expect(r.isAtEnd)
        var overflow = ByteReader([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02] as [UInt8])
        #expect(throws: BinaryCodingError.self) { try overflow.readVarint() }
        var tooLong = ByteReader([UInt8](repeating: 0x80, count: 11) + [0])
        #expect(throws: BinaryCodingError.self) { try tooLong.readVarint() }
        var truncated = ByteReader([0x80, 0x80] as [UInt8])
        #expect(throws: BinaryCodingError.self) { try truncated.readVarint() }
    }

    @Test func trailingBytesAndWrongTypesThrow() throws {
        var bytes = try BinaryEncoder().encode(5)
        bytes.append(0)
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode(Int.self, from: bytes) }
        let int8 = try BinaryEncoder().encode(Int8(1))
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode(Int.self, from: int8) }
        let s = try BinaryEncoder().encode(Small(id: 1, name: "", score: 0, values: []))
        #expect(throws: BinaryCodingError.self) { try BinaryDecoder().decode(AllScalars.self, from: s) }
        #expect(throws: (any Error).self) { try BinaryDecoder().decode([Small].self, from: s) }
    }

    @Test func readerBasics() throws {
        var w = ByteWriter(capacity: 16)
        w.writeByte(0xAB)
        w.writeFixed(UInt16(0x1234))
        w.writeFixed(Int32(-2))
        w.writeString("hi")
        w.writeLengthPrefixed([1, 2, 3])
        w.writeBytes([9, 9][...])
        let slot = w.reserveFixed32()
        w.patchFixed32(at: slot, 0xDEAD_BEEF)
        #expect(Array(w.bytes[1..<3]) == [0x34, 0x12])
        var r = ByteReader(w.bytes)
        #expect(try r.readByte() == 0xAB)
        #expect(try r.readFixed(UInt16.self) == 0x1234)
        #expect(try r.readFixed(Int32.self) == -2)
        #expect(try r.readString() == "hi")
        #expect(Array(try r.readLengthPrefixed()) == [1, 2, 3])
        #expect(Array(try r.readBytes(count: 2)) == [9, 9])
        #expect(r.remaining == 4)
        #expect(try r.readFixed(UInt32.self) == 0xDEAD_BEEF)
        #expect(r.isAtEnd)
        #expect(throws: BinaryCodingError.truncated(needed: 1, available: 0)) { try r.readByte() }
        #expect(throws: BinaryCodingError.self) { try r.readBytes(count: -1) }
        #expect(throws: BinaryCodingError.self) { try r.readFixed(UInt64.self) }
        #expect(BinaryCodingError.keyNotFound("k").description.contains("'k'"))
    }
}
