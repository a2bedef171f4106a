import Testing

@testable import Multiprocessing

@Suite("Round trips")
struct RoundTripTests {
    @Test func topLevelScalars() throws {
        try expectRoundTrip(true)
        try expectRoundTrip(false)
        try expectRoundTrip(Int.min)
        try expectRoundTrip(Int.max)
        try expectRoundTrip(Int8.min)
        try expectRoundTrip(Int8.max)
        try expectRoundTrip(Int16.min)
        try expectRoundTrip(Int32.min)
        try expectRoundTrip(Int64.min)
        try expectRoundTrip(UInt.max)
        try expectRoundTrip(UInt8.max)
        try expectRoundTrip(UInt16.max)
        try expectRoundTrip(UInt32.max)
        try expectRoundTrip(UInt64.max)
        try expectRoundTrip(Int128.min)
        try expectRoundTrip(UInt128.max)
        try expectRoundTrip(3.25 as Float)
        try expectRoundTrip(-1e300)
        try expectRoundTrip(Double.infinity)
        try expectRoundTrip(-Float.infinity)
        try expectRoundTrip(Double.leastNonzeroMagnitude)
        try expectRoundTrip("")
        try expectRoundTrip("héllo wörld 👋🏽 日本語 \u{0}")
    }

    @Test func specialFloatsKeepTheirBits() throws {
        let doubles: [Double] = [.nan, -.nan, Double(bitPattern: 0x7FF0_0000_0000_1234), -0.0, 0.0, .infinity]
        for d in doubles {
            #expect(try roundTrip(d).bitPattern == d.bitPattern)
            #expect(try roundTrip([d])[0].bitPattern == d.bitPattern)
            #expect(try roundTrip(GenericBox(value: d, values: [d, d], optional: d)).value.bitPattern == d.bitPattern)
        }
        let floats: [Float] = [.nan, -0.0, .signalingNaN, -.infinity]
        for f in floats {
            #expect(try roundTrip(f).bitPattern == f.bitPattern)
            #expect(try roundTrip([f])[0].bitPattern == f.bitPattern)
            #expect(try roundTrip(GenericBox(value: f, values: [f], optional: nil)).values[0].bitPattern == f.bitPattern)
        }
        #expect(try roundTrip(-0.0 as Double).sign == .minus)
    }

    @Test func smallStruct() throws {
        try expectRoundTrip(Small(id: 42, name: "answer", score: 0.5, values: [1, 2, 3, 4]))
        try expectRoundTrip(Small(id: -1, name: "", score: -0.0, values: []))
    }

    @Test func allScalarFields() throws {
        try expectRoundTrip(
            AllScalars(
                b: true, s: "ß", d: 1.5, f: -2.5, i: .min, i8: .min, i16: .max, i32: .min, i64: .max,
                u: .max, u8: 0, u16: .max, u32: 7, u64: .max, i128: .min, u128: .max))
    }

    @Test func optionalsEverywhere() throws {
        let small = Small(id: 1, name: "x", score: 2, values: [3])
        try expectRoundTrip(
            Optionals(
                a: nil, b: nil, c: nil, d: [], e: nil, f: [:], g: nil, h: nil))
        try expectRoundTrip(
            Optionals(
                a: 1, b: "b", c: .some(nil), d: [1, nil, 3, nil], e: small, f: ["x": nil, "y": 2],
                g: false, h: 1))
        try expectRoundTrip(
            Optionals(
                a: 0, b: "", c: .some(.some(5)), d: [nil], e: small, f: ["": 0], g: true, h: -1))
    }

    @Test func nestedOptionalsAtEveryLevel() throws {
        let values: [Int??] = [nil, .some(nil), .some(.some(7))]
        for v in values {
            #expect(try roundTrip(v) == v)
            #expect(try roundTrip([v, v]) == [v, v])
            #expect(try roundTrip(GenericBox(value: v, values: [v], optional: v)) == GenericBox(value: v, values: [v], optional: v))
        }
        let triple: [Int???] = [nil, .some(nil), .some(.some(nil)), .some(.some(.some(1)))]
        for v in triple {
            #expect(try roundTrip(v) == v)
            #expect(try roundTrip([v]) == [v])
        }
        try expectRoundTrip([nil, 1, nil] as [Int?])
        try expectRoundTrip([nil, "a"] as [String?])
        try expectRoundTrip([[1, nil], nil, []] as [[Int?]?])
        try expectRoundTrip(Optional<Small>.none)
        try expectRoundTrip(Optional(Small(id: 1, name: "n", score: 1, values: [])))
    }

    @Test func nestedStructsAndArrays() throws {
        let s = Small(id: 7, name: "seven", score: 7.7, values: [7, 7])
        try expectRoundTrip(
            Nested(
                inner: s, list: [s, s], grid: [[1, 2], [], [3]], words: [["a"], [], ["b", "ç"]],
                cube: [[[1.5], []], []], empty: Empty(), emptyList: [], emptyString: ""))
        try expectRoundTrip(Empty())
        try expectRoundTrip([Empty(), Empty()])
        try expectRoundTrip([[[Int]]]())
        try expectRoundTrip([[Small]]([[s], []]))
    }

    @Test func enums() throws {
        let shapes: [Shape] = [
            .circle(radius: 2), .rect(1, 2), .labeled(name: "n", 3, tags: nil),
            .labeled(name: "", -1, tags: ["t"]), .empty, .group([.empty, .group([.circle(radius: 0)])]),
        ]
        for shape in shapes { try expectRoundTrip(shape) }
        try expectRoundTrip(shapes)
        try expectRoundTrip(Color.green)
        try expectRoundTrip([Color.red, .blue])
        try expectRoundTrip(Level.high)
        try expectRoundTrip(Suit.custom("joker"))
    }

    @Test func invalidRawValueThrows() throws {
        let bytes = try BinaryEncoder().encode("purple")
        #expect(throws: (any Error).self) { try BinaryDecoder().decode(Color.self, from: bytes) }
    }

    @Test func dictionaries() throws {
        try expectRoundTrip(["a": 1, "b": 2, "": 3, "ünï": 4])
        try expectRoundTrip([1: "one", -2: "minus two", Int.max: "max"])
        try expectRoundTrip([Color.red: 1, .blue: 2])
        try expectRoundTrip([Suit.hearts: 1, .custom("x"): 2, .spades: 3])
        try expectRoundTrip([Level.low: "l", .high: "h"])
        try expectRoundTrip(["outer": ["inner": [1, 2, 3]], "e": [:]])
        try expectRoundTrip([String: Small]())
        try expectRoundTrip([UInt8: [String]](uniqueKeysWithValues: (0..<50).map { (UInt8($0), ["\($0)"]) }))
        let big = Dictionary(uniqueKeysWithValues: (0..<10_000).map { ("key\($0)", $0) })
        try expectRoundTrip(big)
    }

    @Test func sets() throws {
        try expectRoundTrip(Set([1, 2, 3, 99]))
        try expectRoundTrip(Set(["a", "b"]))
        try expectRoundTrip(Set<Suit>([.hearts, .custom("c")]))
        try expectRoundTrip(Set<Int>())
    }

    @Test func classesAndInheritance() throws {
        try expectRoundTrip(Animal(name: "generic", legs: 6))
        let dog = Dog(name: "Rex", breed: "lab")
        let decodedDog = try roundTrip(dog)
        #expect(decodedDog == dog)
        let bird = Bird(name: "Tweety", wingspan: 0.25)
        #expect(try roundTrip(bird) == bird)
        let cat = Cat(name: "Tom", lives: 9)
        #expect(try roundTrip(cat) == cat)
        #expect(try roundTrip([cat, cat]) == [cat, cat])
        #expect(try roundTrip(["d": dog]) == ["d": dog])
    }

    @Test func customCoding() throws {
        let value = Custom(a: 1, b: "bee", maybe: nil, point: (3, 4), list: [1, nil, 2], matrix: [[1], [], [2, 3]])
        try expectRoundTrip(value)
        var other = value
        other.maybe = 5
        other.list = []
        other.matrix = []
        try expectRoundTrip(other)
        try expectRoundTrip([value, other])
    }

    @Test func singleValueWrappers() throws {
        try expectRoundTrip(NullableID(nil))
        try expectRoundTrip(NullableID(5))
        try expectRoundTrip([NullableID(nil), NullableID(1)])
        try expectRoundTrip(GenericBox(value: NullableID(nil), values: [NullableID(2)], optional: NullableID(nil)))
        try expectRoundTrip(Wrapper(Small(id: 1, name: "w", score: 1, values: [1])))
        try expectRoundTrip([Wrapper(Small(id: 2, name: "", score: 0, values: []))])
        try expectRoundTrip(Optional(NullableID(nil)))
        try expectRoundTrip([Optional(NullableID(nil)), nil])
    }

    @Test func heterogeneousUnkeyed() throws {
        let value = Heterogeneous(
            n: 5, s: "str", small: Small(id: 1, name: "s", score: 1, values: [1]), flag: true,
            dog: Dog(name: "d", breed: "b"), pair: ["k": 1])
        try expectRoundTrip(value)
    }

    @Test func genericBoxes() throws {
        try expectRoundTrip(GenericBox(value: 1, values: [1, 2], optional: nil))
        try expectRoundTrip(GenericBox(value: "s", values: [], optional: "o"))
        try expectRoundTrip(GenericBox(value: [1, 2], values: [[3]], optional: [4]))
        try expectRoundTrip(GenericBox(value: Int8(-3), values: [1, 2], optional: 3))
        try expectRoundTrip(GenericBox(value: UInt128.max, values: [0], optional: 1))
        try expectRoundTrip(GenericBox(value: [true, false], values: [[]], optional: nil))
        try expectRoundTrip(GenericBox(value: Color.red, values: [.blue], optional: .green))
        try expectRoundTrip(GenericBox(value: Empty(), values: [Empty()], optional: Empty()))
    }

    @Test func contiguousArrayAndRecursiveEnums() throws {
        try expectRoundTrip(ContiguousArray([1, 2, 3]))
        try expectRoundTrip(deepTree(100))
    }

    @Test func concatenatedValuesViaReader() throws {
        var writer = ByteWriter()
        let encoder = BinaryEncoder()
        try encoder.encode(1, into: &writer)
        try encoder.encode("two", into: &writer)
        try encoder.encode(Small(id: 3, name: "three", score: 3, values: [3]), into: &writer)
        try encoder.encode([4, 4], into: &writer)
        var reader = ByteReader(writer.bytes)
        let decoder = BinaryDecoder()
        #expect(try decoder.decode(Int.self, from: &reader) == 1)
        #expect(try decoder.decode(String.self, from: &reader) == "two")
        #expect(try decoder.decode(Small.self, from: &reader) == Small(id: 3, name: "three", score: 3, values: [3]))
        #expect(try decoder.decode([Int].self, from: &reader) == [4, 4])
        #expect(reader.isAtEnd)
    }

    @Test func decodeFromSliceOfLargerBuffer() throws {
        let bytes = try BinaryEncoder().encode(Small(id: 9, name: "nine", score: 9, values: [9]))
        let padded = [0xAA, 0xBB] + bytes + [0xCC]
        let slice = padded[2..<(2 + bytes.count)]
        #expect(try BinaryDecoder().decode(Small.self, from: slice) == Small(id: 9, name: "nine", score: 9, values: [9]))
    }

    @Test func missingKeyThrowsKeyNotFound() throws {
        struct Few: Codable { var id: Int }
        let bytes = try BinaryEncoder().encode(Few(id: 1))
        #expect(throws: BinaryCodingError.keyNotFound("name")) {
            try BinaryDecoder().decode(Small.self, from: bytes)
        }
        // decodeIfPresent of a missing key is nil, and reading a subset of keys is fine.
        struct Partial: Codable, Equatable {
            var id: Int
            var extra: String?
        }
        let partial = try BinaryDecoder().decode(
            Partial.self, from: try BinaryEncoder().encode(Small(id: 5, name: "n", score: 0, values: [])))
        #expect(partial == Partial(id: 5, extra: nil))
    }

    @Test func encodeNilThenDecodeOptional() throws {
        // encodeNil(forKey:) read back with decode(Int?.self, forKey:) and decodeIfPresent.
        struct W: Encodable {
            enum K: String, CodingKey { case x }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                try c.encodeNil(forKey: .x)
            }
        }
        struct R: Decodable {
            enum K: String, CodingKey { case x }
            var a: Int?
            var b: Int?
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: K.self)
                a = try c.decode(Int?.self, forKey: .x)
                b = try c.decodeIfPresent(Int.self, forKey: .x)
                #expect(try c.decodeNil(forKey: .x))
                #expect(throws: BinaryCodingError.self) { try c.decode(Int.self, forKey: .x) }
            }
        }
        let r = try BinaryDecoder().decode(R.self, from: try BinaryEncoder().encode(W()))
        #expect(r.a == nil && r.b == nil)
    }

    @Test func interleavedNestedWritesThrowInsteadOfCorrupting() throws {
        struct Interleaved: Encodable {
            enum K: String, CodingKey { case a, b }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: K.self)
                var nested = c.nestedUnkeyedContainer(forKey: .a)
                try c.encode(1, forKey: .b)
                try nested.encode(2)  // parent moved on: unsupported
            }
        }
        #expect(throws: BinaryCodingError.self) { try BinaryEncoder().encode(Interleaved()) }
    }

    @Test func depthLimit() throws {
        try expectRoundTrip(deepTree(200))
        #expect(throws: BinaryCodingError.self) { try BinaryEncoder().encode(deepTree(600)) }
    }

    @Test func encoderErrorRestoresWriter() throws {
        var writer = ByteWriter()
        try BinaryEncoder().encode(1, into: &writer)
        let before = writer.bytes
        #expect(throws: BinaryCodingError.self) { try BinaryEncoder().encode(deepTree(600), into: &writer) }
        #expect(writer.bytes == before)
    }
}
