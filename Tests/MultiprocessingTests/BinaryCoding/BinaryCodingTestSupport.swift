import Testing

@testable import Multiprocessing

/// Encodes then decodes `value` as `T` and returns the result.
func roundTrip<T: Codable>(_ value: T, as type: T.Type = T.self) throws -> T {
    let bytes = try BinaryEncoder().encode(value)
    return try BinaryDecoder().decode(T.self, from: bytes)
}

/// Asserts that `value` survives a round trip unchanged.
func expectRoundTrip<T: Codable & Equatable>(
    _ value: T, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let decoded = try roundTrip(value)
    #expect(decoded == value, sourceLocation: sourceLocation)
}

/// Deterministic PRNG for fuzz-style tests (no Foundation).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Fixture types

struct Small: Codable, Equatable {
    var id: Int
    var name: String
    var score: Double
    var values: [Int]
}

struct AllScalars: Codable, Equatable {
    var b: Bool
    var s: String
    var d: Double
    var f: Float
    var i: Int
    var i8: Int8
    var i16: Int16
    var i32: Int32
    var i64: Int64
    var u: UInt
    var u8: UInt8
    var u16: UInt16
    var u32: UInt32
    var u64: UInt64
    var i128: Int128
    var u128: UInt128
}

struct Optionals: Codable, Equatable {
    var a: Int?
    var b: String?
    var c: Int??
    var d: [Int?]
    var e: Small?
    var f: [String: Int?]
    var g: Bool?
    var h: Double?
}

struct Empty: Codable, Equatable {}

struct Nested: Codable, Equatable {
    var inner: Small
    var list: [Small]
    var grid: [[Int]]
    var words: [[String]]
    var cube: [[[Double]]]
    var empty: Empty
    var emptyList: [Small]
    var emptyString: String
}

enum Shape: Codable, Equatable {
    case circle(radius: Double)
    case rect(Double, Double)
    case labeled(name: String, Int, tags: [String]?)
    case empty
    indirect case group([Shape])
}

enum Color: String, Codable, Equatable, CodingKeyRepresentable {
    case red, green, blue
}

enum Level: Int, Codable, Equatable {
    case low = 1
    case high = 10
}

/// Not CodingKeyRepresentable, so Dictionary encodes it as an unkeyed key/value list.
enum Suit: Codable, Hashable {
    case hearts, spades
    case custom(String)
}

struct GenericBox<T: Codable & Equatable>: Codable, Equatable {
    var value: T
    var values: [T]
    var optional: T?
}

class Animal: Codable, Equatable {
    var name: String
    var legs: Int
    init(name: String, legs: Int) {
        self.name = name
        self.legs = legs
    }
    static func == (a: Animal, b: Animal) -> Bool { a.isEqual(to: b) }
    func isEqual(to other: Animal) -> Bool {
        type(of: self) == type(of: other) && name == other.name && legs == other.legs
    }
}

/// Inheritance via superEncoder()/superDecoder().
final class Dog: Animal {
    var breed: String
    var goodBoy: Bool
    init(name: String, breed: String) {
        self.breed = breed
        self.goodBoy = true
        super.init(name: name, legs: 4)
    }
    enum CodingKeys: String, CodingKey { case breed, goodBoy }
    required init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        breed = try c.decode(String.self, forKey: .breed)
        goodBoy = try c.decode(Bool.self, forKey: .goodBoy)
        try super.init(from: c.superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(breed, forKey: .breed)
        try c.encode(goodBoy, forKey: .goodBoy)
        try super.encode(to: c.superEncoder())
    }
    override func isEqual(to other: Animal) -> Bool {
        guard let o = other as? Dog else { return false }
        return super.isEqual(to: other) && breed == o.breed && goodBoy == o.goodBoy
    }
}

/// Inheritance via superEncoder(forKey:), super encoded before the subclass's own keys.
final class Bird: Animal {
    var wingspan: Float
    init(name: String, wingspan: Float) {
        self.wingspan = wingspan
        super.init(name: name, legs: 2)
    }
    enum CodingKeys: String, CodingKey { case wingspan, base }
    required init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        wingspan = try c.decode(Float.self, forKey: .wingspan)
        try super.init(from: c.superDecoder(forKey: .base))
    }
    override func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try super.encode(to: c.superEncoder(forKey: .base))
        try c.encode(wingspan, forKey: .wingspan)
    }
    override func isEqual(to other: Animal) -> Bool {
        guard let o = other as? Bird else { return false }
        return super.isEqual(to: other) && wingspan == o.wingspan
    }
}

/// Inheritance sharing the same encoder/container (super.encode(to: encoder)).
final class Cat: Animal {
    var lives: Int
    init(name: String, lives: Int) {
        self.lives = lives
        super.init(name: name, legs: 4)
    }
    enum CodingKeys: String, CodingKey { case lives }
    required init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lives = try c.decode(Int.self, forKey: .lives)
        try super.init(from: decoder)
    }
    override func encode(to encoder: any Encoder) throws {
        try super.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(lives, forKey: .lives)
    }
    override func isEqual(to other: Animal) -> Bool {
        guard let o = other as? Cat else { return false }
        return super.isEqual(to: other) && lives == o.lives
    }
}

/// Custom coding: writes keys in one order, reads them in another, uses encodeNil/decodeNil,
/// nested keyed and unkeyed containers, contains/allKeys, and ignores one written key.
struct Custom: Codable, Equatable {
    var a: Int
    var b: String
    var maybe: Int?
    var point: (x: Int, y: Int)
    var list: [Int?]
    var matrix: [[Int]]

    static func == (l: Custom, r: Custom) -> Bool {
        l.a == r.a && l.b == r.b && l.maybe == r.maybe && l.point == r.point && l.list == r.list
            && l.matrix == r.matrix
    }

    enum Keys: String, CodingKey { case a, b, maybe, point, list, matrix, ignored }
    enum PointKeys: String, CodingKey { case x, y }

    init(a: Int, b: String, maybe: Int?, point: (x: Int, y: Int), list: [Int?], matrix: [[Int]]) {
        self.a = a
        self.b = b
        self.maybe = maybe
        self.point = point
        self.list = list
        self.matrix = matrix
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode("unused", forKey: .ignored)
        var m = c.nestedUnkeyedContainer(forKey: .matrix)
        for row in matrix {
            var r = m.nestedUnkeyedContainer()
            for v in row { try r.encode(v) }
        }
        var l = c.nestedUnkeyedContainer(forKey: .list)
        for v in list {
            if let v { try l.encode(v) } else { try l.encodeNil() }
        }
        var p = c.nestedContainer(keyedBy: PointKeys.self, forKey: .point)
        try p.encode(point.y, forKey: .y)
        try p.encode(point.x, forKey: .x)
        if let maybe { try c.encode(maybe, forKey: .maybe) } else { try c.encodeNil(forKey: .maybe) }
        try c.encode(b, forKey: .b)
        try c.encode(a, forKey: .a)
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        guard c.contains(.a), c.contains(.ignored), c.allKeys.count == 7 else {
            throw BinaryCodingError.invalidData("contains/allKeys wrong: \(c.allKeys)")
        }
        a = try c.decode(Int.self, forKey: .a)
        b = try c.decode(String.self, forKey: .b)
        maybe = try c.decodeNil(forKey: .maybe) ? nil : try c.decode(Int.self, forKey: .maybe)
        let p = try c.nestedContainer(keyedBy: PointKeys.self, forKey: .point)
        point = (try p.decode(Int.self, forKey: .x), try p.decode(Int.self, forKey: .y))
        var l = try c.nestedUnkeyedContainer(forKey: .list)
        var list: [Int?] = []
        if let count = l.count { list.reserveCapacity(count) }
        while !l.isAtEnd {
            if try l.decodeNil() { list.append(nil) } else { list.append(try l.decode(Int.self)) }
        }
        self.list = list
        var m = try c.nestedUnkeyedContainer(forKey: .matrix)
        var matrix: [[Int]] = []
        while !m.isAtEnd {
            var r = try m.nestedUnkeyedContainer()
            var row: [Int] = []
            while !r.isAtEnd { row.append(try r.decode(Int.self)) }
            matrix.append(row)
        }
        self.matrix = matrix
    }
}

/// A single-value wrapper that uses encodeNil/decodeNil itself.
struct NullableID: Codable, Equatable {
    var raw: Int?
    init(_ raw: Int?) { self.raw = raw }
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        raw = c.decodeNil() ? nil : try c.decode(Int.self)
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let raw { try c.encode(raw) } else { try c.encodeNil() }
    }
}

/// A single-value wrapper around a struct (nested region inside a single value container).
struct Wrapper: Codable, Equatable {
    var inner: Small
    init(_ inner: Small) { self.inner = inner }
    init(from decoder: any Decoder) throws {
        inner = try decoder.singleValueContainer().decode(Small.self)
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(inner)
    }
}

/// Unkeyed container mixing every element kind, including superEncoder and nested keyed.
struct Heterogeneous: Codable, Equatable {
    var n: Int
    var s: String
    var small: Small
    var flag: Bool
    var dog: Dog
    var pair: [String: Int]

    enum K: String, CodingKey { case k }

    init(n: Int, s: String, small: Small, flag: Bool, dog: Dog, pair: [String: Int]) {
        self.n = n
        self.s = s
        self.small = small
        self.flag = flag
        self.dog = dog
        self.pair = pair
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(n)
        try c.encodeNil()
        try c.encode(s)
        try c.encode(small)
        var k = c.nestedContainer(keyedBy: K.self)
        try k.encode(flag, forKey: .k)
        try dog.encode(to: c.superEncoder())
        try c.encode(pair)
    }

    init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        guard c.count == 7 else { throw BinaryCodingError.invalidData("count \(String(describing: c.count))") }
        n = try c.decode(Int.self)
        guard try c.decodeNil() else { throw BinaryCodingError.invalidData("expected nil") }
        guard try !c.decodeNil() else { throw BinaryCodingError.invalidData("unexpected nil") }
        s = try c.decode(String.self)
        small = try c.decode(Small.self)
        flag = try c.nestedContainer(keyedBy: K.self).decode(Bool.self, forKey: .k)
        dog = try Dog(from: c.superDecoder())
        pair = try c.decode([String: Int].self)
        guard c.isAtEnd, c.currentIndex == 7 else { throw BinaryCodingError.invalidData("not at end") }
    }
}

indirect enum Tree: Codable, Equatable {
    case leaf(Int)
    case node(Tree, Tree)
}

func deepTree(_ depth: Int) -> Tree {
    var t = Tree.leaf(0)
    for i in 0..<depth { t = .node(t, .leaf(i)) }
    return t
}
