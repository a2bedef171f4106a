/// Decodes values written by `BinaryEncoder` (format described in BinaryEncoder.swift).
///
/// The decoder is driven by the static type being decoded, exactly like the encoder, and
/// reads straight out of the input slice without copying it. Every length, count and tag is
/// validated before use, so truncated or random input throws `BinaryCodingError` rather than
/// trapping or allocating huge buffers.
struct BinaryDecoder: Sendable {
    init() {}

    /// Decodes one value from `bytes`, which must contain exactly one encoded value.
    func decode<T: Decodable>(_ type: T.Type, from bytes: ArraySlice<UInt8>) throws -> T {
        var reader = ByteReader(bytes)
        let value = try decode(type, from: &reader)
        guard reader.isAtEnd else {
            throw BinaryCodingError.invalidData("\(reader.remaining) trailing bytes after the encoded value")
        }
        return value
    }

    /// Decodes one value through its `init(from:)`, whose decoder (only the top one, not those
    /// of its members) has `userInfo`.
    func decode<T: Decodable>(_ type: T.Type, from bytes: ArraySlice<UInt8>, userInfo: [CodingUserInfoKey: any Sendable]) throws -> T {
        var reader = ByteReader(bytes)
        let length = try reader.readFixed(UInt32.self)
        let region = try reader.readBytes(count: Int(length))
        guard reader.isAtEnd else {
            throw BinaryCodingError.invalidData("\(reader.remaining) trailing bytes after the encoded value")
        }
        return try T(from: BinaryDecoderImpl.make(region, depth: 0, userInfo: userInfo))
    }

    /// Convenience for a whole array; same as `decode(_:from: bytes[...])`.
    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decode(type, from: bytes[...])
    }

    /// Decodes the next value (`u32 length` + body) from `reader` and advances past it, so
    /// several values written with `encode(_:into:)` can be read one after another.
    func decode<T: Decodable>(_ type: T.Type, from reader: inout ByteReader) throws -> T {
        let length = try reader.readFixed(UInt32.self)
        let region = try reader.readBytes(count: Int(length))
        return try binaryDecodeValue(T.self, from: region, depth: 0)
    }
}

/// Decodes a value body occupying exactly `region`: inline for primitive/fast types,
/// otherwise through `T.init(from:)`.
@inline(__always)
func binaryDecodeValue<T: Decodable>(_: T.Type, from region: ArraySlice<UInt8>, depth: Int) throws -> T {
    var reader = ByteReader(region)
    if let value = try binaryDecodeInline(T.self, from: &reader) {
        guard reader.isAtEnd else {
            throw BinaryCodingError.invalidData("\(reader.remaining) unexpected bytes after a \(T.self) value")
        }
        return value
    }
    return try T(from: BinaryDecoderImpl.make(region, depth: depth))
}

/// Lets the decoder produce `nil` for an `Optional` target when the data holds an explicit nil
/// marker (e.g. the encoder called `encodeNil()` where the decoder asks for `T?`).
protocol BinaryNilRepresentable {
    static var binaryNil: Self { get }
}

extension Optional: BinaryNilRepresentable {
    static var binaryNil: Self { nil }
}

/// Returns `nil` as a `T` if `T` is an `Optional`, else throws a type mismatch.
private func binaryNilValue<T>(_: T.Type, context: String) throws -> T {
    if let optional = T.self as? any BinaryNilRepresentable.Type, let value = optional.binaryNil as? T {
        return value
    }
    throw BinaryCodingError.typeMismatch("expected \(T.self) \(context), found nil")
}

/// The `Decoder` for one value region. A class so that the keyed lookup hint survives across
/// the value-type containers (and repeated `container(keyedBy:)` calls) made on it.
final class BinaryDecoderImpl: Decoder {
    /// Maximum nesting depth; bounds recursion (stack use) on hostile input.
    static let maxDepth = BinaryEncodingState.maxDepth

    /// The value's bytes (indices are those of the original input).
    let bytes: ArraySlice<UInt8>
    let depth: Int
    /// Start index of the keyed entry found last; lookups scan from here, so reading keys in
    /// (roughly) the order they were written costs O(1) per key without building a table.
    /// `@exclusivity(unchecked)`: a plain Int only read/assigned inside `lookup`, never
    /// while another access is in progress; the dynamic check was a measurable cost.
    @exclusivity(unchecked) var hint: Int

    /// What the caller gave the top decoder (nil, and so nothing to retain, everywhere else).
    private let context: UserInfoBox?

    private final class UserInfoBox {
        let userInfo: [CodingUserInfoKey: any Sendable]
        init(_ userInfo: [CodingUserInfoKey: any Sendable]) { self.userInfo = userInfo }
    }

    private init(_ bytes: ArraySlice<UInt8>, depth: Int, context: UserInfoBox? = nil) {
        self.bytes = bytes
        self.depth = depth
        self.hint = bytes.startIndex
        self.context = context
    }

    /// Creates the decoder for a child region one level deeper than `depth`, enforcing the
    /// depth limit.
    static func make(_ region: ArraySlice<UInt8>, depth: Int) throws(BinaryCodingError) -> BinaryDecoderImpl {
        guard depth < maxDepth else {
            throw .unsupported("nesting deeper than \(maxDepth) levels")
        }
        return BinaryDecoderImpl(region, depth: depth + 1)
    }

    /// The top decoder of a value whose `init(from:)` reads `userInfo`.
    static func make(_ region: ArraySlice<UInt8>, depth: Int, userInfo: [CodingUserInfoKey: any Sendable]) throws(BinaryCodingError)
        -> BinaryDecoderImpl
    {
        guard depth < maxDepth else {
            throw .unsupported("nesting deeper than \(maxDepth) levels")
        }
        return BinaryDecoderImpl(region, depth: depth + 1, context: UserInfoBox(userInfo))
    }

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] {
        guard let context else { return [:] }
        return context.userInfo.mapValues { $0 as Any }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(BinaryKeyedDecodingContainer<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        var reader = ByteReader(bytes)
        if reader.isAtEnd {
            // Nothing was encoded here; treat as an empty sequence.
            return BinaryUnkeyedDecodingContainer(decoder: self, reader: reader, total: 0)
        }
        let raw = try reader.readFixed(UInt32.self)
        // Every element takes at least its tag byte.
        guard Int(raw) <= reader.remaining else {
            throw BinaryCodingError.invalidData("unkeyed count \(raw) exceeds the \(reader.remaining) remaining bytes")
        }
        return BinaryUnkeyedDecodingContainer(decoder: self, reader: reader, total: Int(raw))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        BinarySingleValueDecodingContainer(decoder: self)
    }

    // MARK: Keyed lookup

    enum Lookup {
        case missing
        case null
        case value(Range<Int>)
    }

    /// Finds `key`'s entry by scanning from the hint to the end, then from the start to the
    /// hint. Entries are validated as they are scanned.
    func lookup(_ key: String) throws -> Lookup {
        let start = bytes.startIndex
        let end = bytes.endIndex
        var reader = ByteReader(bytes)
        var position = hint
        var stop = end
        var wrapped = false
        var keyCopy = key
        return try keyCopy.withUTF8 { (keyBytes) throws -> Lookup in
            while true {
                if position >= stop {
                    if wrapped || hint == start { return .missing }
                    wrapped = true
                    position = start
                    stop = hint
                    if position >= stop { return .missing }
                }
                try reader.seek(to: position)
                let keyLength = try reader.readCount(minimumElementSize: 1)
                let keyStart = reader.position
                try reader.skip(keyLength)
                let payloadLength = try reader.readFixed(UInt32.self)
                let payloadStart = reader.position
                let isNull = payloadLength == UInt32.max
                if !isNull {
                    try reader.skip(Int(payloadLength))
                }
                if keyLength == keyBytes.count && bytesEqual(keyStart, keyBytes) {
                    hint = position
                    return isNull ? .null : .value(payloadStart..<reader.position)
                }
                position = reader.position
            }
        }
    }

    /// Compares `key.count` bytes of the region starting at absolute index `at` with `key`.
    @inline(__always)
    private func bytesEqual(_ at: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            let offset = at - bytes.startIndex
            for i in 0..<key.count where buffer[offset + i] != key[i] {
                return false
            }
            return true
        }
    }

    /// All entry keys in encoding order; parsing stops at the first malformed entry.
    func allKeyStrings() -> [String] {
        var keys: [String] = []
        var reader = ByteReader(bytes)
        while !reader.isAtEnd {
            guard let key = try? reader.readString(),
                let payloadLength = try? reader.readFixed(UInt32.self)
            else { break }
            if payloadLength != UInt32.max {
                guard (try? reader.skip(Int(payloadLength))) != nil else { break }
            }
            keys.append(key)
        }
        return keys
    }

    /// The payload of `key` as a reader; throws for a missing key or an explicit nil.
    @inline(__always)
    func payload(_ key: String, expecting type: Any.Type) throws -> ByteReader {
        switch try lookup(key) {
        case .value(let range): return ByteReader(bytes[range])
        case .missing: throw BinaryCodingError.keyNotFound(key)
        case .null: throw BinaryCodingError.typeMismatch("expected \(type) for key '\(key)', found nil")
        }
    }

    /// A decoder for `key`'s payload region (nested containers, superDecoder).
    func childDecoder(_ key: String) throws -> BinaryDecoderImpl {
        switch try lookup(key) {
        case .value(let range): return try BinaryDecoderImpl.make(bytes[range], depth: depth)
        case .missing: throw BinaryCodingError.keyNotFound(key)
        case .null: throw BinaryCodingError.typeMismatch("expected a nested container for key '\(key)', found nil")
        }
    }
}

/// Checks that an inline body consumed its whole keyed payload.
@inline(__always)
private func finish<V>(_ value: V, _ reader: ByteReader) throws(BinaryCodingError) -> V {
    guard reader.isAtEnd else {
        throw .invalidData("\(reader.remaining) unexpected bytes after a \(V.self) value")
    }
    return value
}

/// Keyed container over a value region of `key, u32 length, payload` entries.
struct BinaryKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: BinaryDecoderImpl

    var codingPath: [any CodingKey] { [] }

    var allKeys: [Key] {
        decoder.allKeyStrings().compactMap { Key(stringValue: $0) }
    }

    func contains(_ key: Key) -> Bool {
        switch try? decoder.lookup(key.stringValue) {
        case .value, .null: return true
        case .missing, nil: return false
        }
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        switch try decoder.lookup(key.stringValue) {
        case .null: return true
        case .value: return false
        case .missing: throw BinaryCodingError.keyNotFound(key.stringValue)
        }
    }

    @inline(__always)
    private func integer<I: FixedWidthInteger>(_: I.Type, _ key: Key) throws -> I {
        var reader = try decoder.payload(key.stringValue, expecting: I.self)
        let value = try reader.readFixed(I.self)
        return try finish(value, reader)
    }

    /// `decodeIfPresent` for inline types with a single lookup: missing key or nil -> nil.
    @inline(__always)
    private func ifPresent<V>(_ key: Key, _ read: (inout ByteReader) throws -> V) throws -> V? {
        switch try decoder.lookup(key.stringValue) {
        case .missing, .null: return nil
        case .value(let range):
            var reader = ByteReader(decoder.bytes[range])
            let value = try read(&reader)
            return try finish(value, reader)
        }
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        var reader = try decoder.payload(key.stringValue, expecting: Bool.self)
        let value = try readBool(&reader)
        return try finish(value, reader)
    }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        var reader = try decoder.payload(key.stringValue, expecting: String.self)
        let value = try reader.readString()
        return try finish(value, reader)
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        Double(bitPattern: try integer(UInt64.self, key))
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        Float(bitPattern: try integer(UInt32.self, key))
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(Int.self, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(Int8.self, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(Int16.self, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(Int32.self, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(Int64.self, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(UInt.self, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(UInt8.self, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(UInt16.self, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(UInt32.self, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(UInt64.self, key) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try integer(Int128.self, key) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try integer(UInt128.self, key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        switch try decoder.lookup(key.stringValue) {
        case .value(let range):
            return try binaryDecodeValue(T.self, from: decoder.bytes[range], depth: decoder.depth)
        case .missing:
            throw BinaryCodingError.keyNotFound(key.stringValue)
        case .null:
            return try binaryNilValue(T.self, context: "for key '\(key.stringValue)'")
        }
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        try ifPresent(key) { try readBool(&$0) }
    }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        try ifPresent(key) { try $0.readString() }
    }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        try ifPresent(key) { Double(bitPattern: try $0.readFixed(UInt64.self)) }
    }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? {
        try ifPresent(key) { Float(bitPattern: try $0.readFixed(UInt32.self)) }
    }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
        try ifPresent(key) { try $0.readFixed(Int.self) }
    }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? {
        try ifPresent(key) { try $0.readFixed(Int8.self) }
    }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? {
        try ifPresent(key) { try $0.readFixed(Int16.self) }
    }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? {
        try ifPresent(key) { try $0.readFixed(Int32.self) }
    }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? {
        try ifPresent(key) { try $0.readFixed(Int64.self) }
    }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? {
        try ifPresent(key) { try $0.readFixed(UInt.self) }
    }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? {
        try ifPresent(key) { try $0.readFixed(UInt8.self) }
    }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? {
        try ifPresent(key) { try $0.readFixed(UInt16.self) }
    }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? {
        try ifPresent(key) { try $0.readFixed(UInt32.self) }
    }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? {
        try ifPresent(key) { try $0.readFixed(UInt64.self) }
    }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    func decodeIfPresent(_ type: Int128.Type, forKey key: Key) throws -> Int128? {
        try ifPresent(key) { try $0.readFixed(Int128.self) }
    }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    func decodeIfPresent(_ type: UInt128.Type, forKey key: Key) throws -> UInt128? {
        try ifPresent(key) { try $0.readFixed(UInt128.self) }
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        switch try decoder.lookup(key.stringValue) {
        case .missing, .null: return nil
        case .value(let range):
            return try binaryDecodeValue(T.self, from: decoder.bytes[range], depth: decoder.depth)
        }
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder.childDecoder(key.stringValue).container(keyedBy: NestedKey.self)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.childDecoder(key.stringValue).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try decoder.childDecoder("super")
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try decoder.childDecoder(key.stringValue)
    }
}

/// Reads a Bool byte, rejecting anything but 0 and 1.
@inline(__always)
private func readBool(_ reader: inout ByteReader) throws(BinaryCodingError) -> Bool {
    switch try reader.readByte() {
    case 0: return false
    case 1: return true
    case let b: throw .invalidData("invalid Bool byte \(b)")
    }
}

/// Unkeyed container: a u32 count (validated against the region size) and tagged elements.
struct BinaryUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let decoder: BinaryDecoderImpl
    var reader: ByteReader
    let total: Int
    private(set) var currentIndex = 0

    init(decoder: BinaryDecoderImpl, reader: ByteReader, total: Int) {
        self.decoder = decoder
        self.reader = reader
        self.total = total
    }

    var codingPath: [any CodingKey] { [] }
    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    @inline(__always)
    private func checkNotAtEnd(_ type: Any.Type) throws(BinaryCodingError) {
        if currentIndex >= total {
            throw .typeMismatch("expected \(type) but the unkeyed container is at its end (\(total) elements)")
        }
    }

    /// Consumes the tag of an inline element; a nil or nested tag leaves the reader unchanged
    /// and throws, so callers may retry with another type.
    @inline(__always)
    private mutating func beginInline(_ type: Any.Type) throws(BinaryCodingError) {
        try checkNotAtEnd(type)
        let tag = try reader.peekByte()
        guard tag == 1 else { throw tagMismatch(tag, expected: type) }
        try reader.skip(1)
    }

    private func tagMismatch(_ tag: UInt8, expected type: Any.Type) -> BinaryCodingError {
        switch tag {
        case 0: return .typeMismatch("expected \(type) at index \(currentIndex), found nil")
        case 2: return .typeMismatch("expected \(type) at index \(currentIndex), found a nested value")
        case 1: return .typeMismatch("expected \(type) at index \(currentIndex), found an inline value")
        default: return .invalidData("invalid element tag \(tag) at index \(currentIndex)")
        }
    }

    @inline(__always)
    private mutating func integer<I: FixedWidthInteger>(_: I.Type) throws -> I {
        try beginInline(I.self)
        let value = try reader.readFixed(I.self)
        currentIndex += 1
        return value
    }

    mutating func decodeNil() throws -> Bool {
        try checkNotAtEnd(Never?.self)
        if try reader.peekByte() == 0 {
            try reader.skip(1)
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool {
        try beginInline(Bool.self)
        let value = try readBool(&reader)
        currentIndex += 1
        return value
    }
    mutating func decode(_ type: String.Type) throws -> String {
        try beginInline(String.self)
        let value = try reader.readString()
        currentIndex += 1
        return value
    }
    mutating func decode(_ type: Double.Type) throws -> Double { Double(bitPattern: try integer(UInt64.self)) }
    mutating func decode(_ type: Float.Type) throws -> Float { Float(bitPattern: try integer(UInt32.self)) }
    mutating func decode(_ type: Int.Type) throws -> Int { try integer(Int.self) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer(Int8.self) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer(Int16.self) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer(Int32.self) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer(Int64.self) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try integer(UInt.self) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(UInt8.self) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(UInt16.self) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(UInt32.self) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(UInt64.self) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    mutating func decode(_ type: Int128.Type) throws -> Int128 { try integer(Int128.self) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { try integer(UInt128.self) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try checkNotAtEnd(T.self)
        let tag = try reader.peekByte()
        switch tag {
        case 1:
            let saved = reader
            try reader.skip(1)
            guard let value = try binaryDecodeInline(T.self, from: &reader) else {
                reader = saved
                throw tagMismatch(tag, expected: T.self)
            }
            currentIndex += 1
            return value
        case 2:
            let region = try nestedRegion()
            let value = try T(from: BinaryDecoderImpl.make(region, depth: decoder.depth))
            currentIndex += 1
            return value
        case 0:
            let value = try binaryNilValue(T.self, context: "at index \(currentIndex)")
            try reader.skip(1)
            currentIndex += 1
            return value
        default:
            throw tagMismatch(tag, expected: T.self)
        }
    }

    /// Consumes a tag-2 element header and returns its region.
    private mutating func nestedRegion() throws(BinaryCodingError) -> ArraySlice<UInt8> {
        let saved = reader
        let tag = try reader.readByte()
        guard tag == 2 else {
            reader = saved
            throw tagMismatch(tag, expected: Decoder.self)
        }
        let length = try reader.readFixed(UInt32.self)
        return try reader.readBytes(count: Int(length))
    }

    /// Consumes a nested element and returns a decoder for it.
    private mutating func nestedDecoder() throws(BinaryCodingError) -> BinaryDecoderImpl {
        try checkNotAtEnd(Decoder.self)
        let decoder = try BinaryDecoderImpl.make(nestedRegion(), depth: decoder.depth)
        currentIndex += 1
        return decoder
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try nestedDecoder().container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try nestedDecoder().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        try nestedDecoder()
    }
}

/// Single value container: a tag byte, then an inline body or a nested region that extends
/// to the end of the decoder's region.
struct BinarySingleValueDecodingContainer: SingleValueDecodingContainer {
    let decoder: BinaryDecoderImpl

    var codingPath: [any CodingKey] { [] }

    func decodeNil() -> Bool {
        decoder.bytes.first == 0
    }

    /// A reader positioned after a tag-1 byte; other tags throw.
    @inline(__always)
    private func inlineReader(_ type: Any.Type) throws(BinaryCodingError) -> ByteReader {
        var reader = ByteReader(decoder.bytes)
        let tag = try reader.readByte()
        guard tag == 1 else {
            switch tag {
            case 0: throw .typeMismatch("expected \(type), found nil")
            case 2: throw .typeMismatch("expected \(type), found a nested value")
            default: throw .invalidData("invalid single value tag \(tag)")
            }
        }
        return reader
    }

    @inline(__always)
    private func integer<I: FixedWidthInteger>(_: I.Type) throws -> I {
        var reader = try inlineReader(I.self)
        let value = try reader.readFixed(I.self)
        return try finish(value, reader)
    }

    func decode(_ type: Bool.Type) throws -> Bool {
        var reader = try inlineReader(Bool.self)
        let value = try readBool(&reader)
        return try finish(value, reader)
    }
    func decode(_ type: String.Type) throws -> String {
        var reader = try inlineReader(String.self)
        let value = try reader.readString()
        return try finish(value, reader)
    }
    func decode(_ type: Double.Type) throws -> Double { Double(bitPattern: try integer(UInt64.self)) }
    func decode(_ type: Float.Type) throws -> Float { Float(bitPattern: try integer(UInt32.self)) }
    func decode(_ type: Int.Type) throws -> Int { try integer(Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(UInt64.self) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    func decode(_ type: Int128.Type) throws -> Int128 { try integer(Int128.self) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    func decode(_ type: UInt128.Type) throws -> UInt128 { try integer(UInt128.self) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        var reader = ByteReader(decoder.bytes)
        let tag = try reader.readByte()
        switch tag {
        case 1:
            guard let value = try binaryDecodeInline(T.self, from: &reader) else {
                throw BinaryCodingError.typeMismatch("expected \(T.self), found an inline value")
            }
            return try finish(value, reader)
        case 2:
            let region = decoder.bytes[(decoder.bytes.startIndex + 1)...]
            return try T(from: BinaryDecoderImpl.make(region, depth: decoder.depth))
        case 0:
            return try binaryNilValue(T.self, context: "in single value container")
        default:
            throw BinaryCodingError.invalidData("invalid single value tag \(tag)")
        }
    }
}

// MARK: - Inline (primitive and fast-path) bodies

/// Reads the inline body of a `T` if `T` is one of the primitive / fast-path types written by
/// `binaryEncodeInline` (which must recognize exactly the same set), else returns nil
/// without consuming anything.
func binaryDecodeInline<T>(_: T.Type, from r: inout ByteReader) throws(BinaryCodingError) -> T? {
    let id = ObjectIdentifier(T.self)
    let ids = BinaryInlineTypeIDs.shared
    if T.self == String.self {
        return unsafeBitCast(try r.readString(), to: T.self)
    } else if T.self == Int.self {
        return unsafeBitCast(try r.readFixed(Int.self), to: T.self)
    } else if T.self == Double.self {
        return unsafeBitCast(Double(bitPattern: try r.readFixed(UInt64.self)), to: T.self)
    } else if T.self == Bool.self {
        return unsafeBitCast(try readBool(&r), to: T.self)
    } else if id == ids.uint8s {
        return unsafeBitCast(try readIntegerArray(UInt8.self, &r), to: T.self)
    } else if id == ids.ints {
        return unsafeBitCast(try readIntegerArray(Int.self, &r), to: T.self)
    } else if id == ids.doubles {
        return unsafeBitCast(try readDoubleArray(&r), to: T.self)
    } else if id == ids.strings {
        let count = try r.readCount(minimumElementSize: 1)
        var strings: [String] = []
        strings.reserveCapacity(count)
        for _ in 0..<count { strings.append(try r.readString()) }
        return unsafeBitCast(strings, to: T.self)
    } else if T.self == Float.self {
        return unsafeBitCast(Float(bitPattern: try r.readFixed(UInt32.self)), to: T.self)
    } else if T.self == Int64.self {
        return unsafeBitCast(try r.readFixed(Int64.self), to: T.self)
    } else if T.self == UInt64.self {
        return unsafeBitCast(try r.readFixed(UInt64.self), to: T.self)
    } else if T.self == Int32.self {
        return unsafeBitCast(try r.readFixed(Int32.self), to: T.self)
    } else if T.self == UInt32.self {
        return unsafeBitCast(try r.readFixed(UInt32.self), to: T.self)
    } else if T.self == UInt8.self {
        return unsafeBitCast(try r.readFixed(UInt8.self), to: T.self)
    } else if T.self == Int8.self {
        return unsafeBitCast(try r.readFixed(Int8.self), to: T.self)
    } else if T.self == Int16.self {
        return unsafeBitCast(try r.readFixed(Int16.self), to: T.self)
    } else if T.self == UInt16.self {
        return unsafeBitCast(try r.readFixed(UInt16.self), to: T.self)
    } else if T.self == UInt.self {
        return unsafeBitCast(try r.readFixed(UInt.self), to: T.self)
    } else if id == ids.floats {
        return unsafeBitCast(try readFloatArray(&r), to: T.self)
    } else if id == ids.int64s {
        return unsafeBitCast(try readIntegerArray(Int64.self, &r), to: T.self)
    } else if id == ids.uint64s {
        return unsafeBitCast(try readIntegerArray(UInt64.self, &r), to: T.self)
    } else if id == ids.int32s {
        return unsafeBitCast(try readIntegerArray(Int32.self, &r), to: T.self)
    } else if id == ids.uint32s {
        return unsafeBitCast(try readIntegerArray(UInt32.self, &r), to: T.self)
    } else if id == ids.int16s {
        return unsafeBitCast(try readIntegerArray(Int16.self, &r), to: T.self)
    } else if id == ids.uint16s {
        return unsafeBitCast(try readIntegerArray(UInt16.self, &r), to: T.self)
    } else if id == ids.int8s {
        return unsafeBitCast(try readIntegerArray(Int8.self, &r), to: T.self)
    } else if id == ids.uints {
        return unsafeBitCast(try readIntegerArray(UInt.self, &r), to: T.self)
    } else if id == ids.bools {
        return unsafeBitCast(try readBoolArray(&r), to: T.self)
    } else if #available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *),
        T.self == Int128.self
    {
        return unsafeBitCast(try r.readFixed(Int128.self), to: T.self)
    } else if #available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *),
        T.self == UInt128.self
    {
        return unsafeBitCast(try r.readFixed(UInt128.self), to: T.self)
    } else if let data = FoundationData.codec, id == data.typeID {
        return try data.readInline(T.self, from: &r)
    }
    return nil
}

/// Reads `count` raw elements of `size` bytes each with one copy into a new array; the count
/// is validated against the remaining bytes before anything is allocated.
@inline(__always)
private func readRawArray<E>(_: E.Type, _ r: inout ByteReader) throws(BinaryCodingError) -> [E] {
    let size = MemoryLayout<E>.stride
    let count = try r.readCount(minimumElementSize: size)
    let raw = try r.readBytes(count: count * size)
    return [E](unsafeUninitializedCapacity: count) { buffer, initialized in
        raw.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
        }
        initialized = count
    }
}

@inline(__always)
private func readIntegerArray<E: FixedWidthInteger>(_: E.Type, _ r: inout ByteReader) throws(BinaryCodingError) -> [E] {
    #if _endian(little)
    return try readRawArray(E.self, &r)
    #else
    let count = try r.readCount(minimumElementSize: MemoryLayout<E>.size)
    var result: [E] = []
    result.reserveCapacity(count)
    for _ in 0..<count { result.append(try r.readFixed(E.self)) }
    return result
    #endif
}

@inline(__always)
private func readDoubleArray(_ r: inout ByteReader) throws(BinaryCodingError) -> [Double] {
    #if _endian(little)
    return try readRawArray(Double.self, &r)
    #else
    return try readIntegerArray(UInt64.self, &r).map { Double(bitPattern: $0) }
    #endif
}

@inline(__always)
private func readFloatArray(_ r: inout ByteReader) throws(BinaryCodingError) -> [Float] {
    #if _endian(little)
    return try readRawArray(Float.self, &r)
    #else
    return try readIntegerArray(UInt32.self, &r).map { Float(bitPattern: $0) }
    #endif
}

/// `[Bool]` is copied raw after checking every byte is 0 or 1 (any other byte would be an
/// invalid `Bool` in memory).
private func readBoolArray(_ r: inout ByteReader) throws(BinaryCodingError) -> [Bool] {
    let count = try r.readCount(minimumElementSize: 1)
    let raw = try r.readBytes(count: count)
    let valid = raw.withUnsafeBufferPointer { bytes in
        var combined: UInt8 = 0
        for b in bytes { combined |= b }
        return combined <= 1
    }
    guard valid else { throw .invalidData("invalid Bool byte in [Bool]") }
    return [Bool](unsafeUninitializedCapacity: count) { buffer, initialized in
        raw.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
        }
        initialized = count
    }
}

extension BinaryDecoder {
    /// Decodes each element of an encoded `[Element]` on its own, so that one element whose
    /// `init(from:)` throws does not fail the others. Nil when the array cannot be walked
    /// element by element: its framing is broken, or it has a packed form (arrays of numbers,
    /// `Bool` or `String`, whose elements cannot fail alone).
    func decodeElements<Element: Decodable>(_: Element.Type, from bytes: ArraySlice<UInt8>) -> [Result<Element, any Error>]? {
        guard !BinaryInlineTypeIDs.shared.isPacked(ObjectIdentifier([Element].self)) else { return nil }
        do {
            var reader = ByteReader(bytes)
            let length = try reader.readFixed(UInt32.self)
            var elements = ByteReader(try reader.readBytes(count: Int(length)))
            guard reader.isAtEnd else { return nil }
            let count = Int(try elements.readFixed(UInt32.self))
            guard count <= elements.remaining else { return nil }
            var results: [Result<Element, any Error>] = []
            results.reserveCapacity(count)
            for index in 0..<count {
                switch try elements.readByte() {
                case 0:
                    results.append(Result { try binaryNilValue(Element.self, context: "at index \(index)") })
                case 1:
                    // Inline bodies have no length: one that cannot be read leaves the rest unplaceable.
                    guard let value = try binaryDecodeInline(Element.self, from: &elements) else { return nil }
                    results.append(.success(value))
                case 2:
                    let region = try elements.readBytes(count: Int(try elements.readFixed(UInt32.self)))
                    // One level below the array, as `Array.init(from:)` would decode it.
                    results.append(Result { try Element(from: BinaryDecoderImpl.make(region, depth: 1)) })
                default:
                    return nil
                }
            }
            return elements.isAtEnd ? results : nil
        } catch {
            return nil
        }
    }
}
