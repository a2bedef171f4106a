/// Decodes an encoded array of fixed-width numbers (`[Int]`, `[Double]`, ...: a count, then the
/// elements' bytes as they are in memory) straight into memory the caller owns, with one copy
/// and no array in between: how `map` places a chunk's outputs in its result array.
enum PackedArrayPlacement {
    /// Copies the elements encoded in `bytes` (one value, as `BinaryEncoder` writes an
    /// `[Element]`) into `destination`. Returns false, having written nothing, for an element
    /// type not encoded that way, or bytes that are not exactly `destination.count` elements:
    /// the caller then decodes the usual way, which says what is wrong.
    static func place<Element>(_ bytes: ArraySlice<UInt8>, into destination: UnsafeMutableBufferPointer<Element>) -> Bool {
        #if _endian(little)
        guard isRaw(Element.self) else { return false }
        guard let (count, raw) = elementBytes(bytes, stride: MemoryLayout<Element>.stride),
            count == destination.count
        else { return false }
        raw.withUnsafeBytes { UnsafeMutableRawBufferPointer(destination).copyMemory(from: $0) }
        return true
        #else
        return false
        #endif
    }

    /// `items[range]` (all of `items` by default) encoded as `BinaryEncoder` writes the array
    /// (its head, then the elements' bytes as they are in memory), copied from `items` without
    /// making the array or walking it generically; nil for an element type not encoded that way.
    /// The small chunks of a call and the outputs of a chunk of numbers each paid for both.
    static func encoded<Element>(_ items: [Element], _ range: Range<Int>? = nil) -> EncodedItems? {
        // The commonest element types go through code specialised for them: the callers are
        // generic and unspecialised, and each runtime lookup of an array type they would make
        // costs more than copying a small chunk's items.
        guard isRaw(Element.self) else { return nil }
        if Element.self == Int.self { return encodedRaw(unsafeBitCast(items, to: [Int].self), range) }
        if Element.self == Double.self { return encodedRaw(unsafeBitCast(items, to: [Double].self), range) }
        return encodedRaw(items, range)
    }

    private static func encodedRaw<Element>(_ items: [Element], _ range: Range<Int>?) -> EncodedItems? {
        let range = range ?? 0..<items.count
        let byteCount = range.count * MemoryLayout<Element>.stride
        guard byteCount < Int(UInt32.max) - 16 else { return nil }
        var writer = ByteWriter(capacity: 16 + byteCount)
        let lengthOffset = writer.reserveFixed32()
        writer.writeVarint(UInt64(range.count))
        items.withUnsafeBufferPointer { buffer in
            writer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[range])))
        }
        writer.patchFixed32(at: lengthOffset, UInt32(writer.count - 4))
        return EncodedItems(bytes: writer.takeBytes()[...])
    }

    /// The array encoded in `bytes` (one value, as `BinaryEncoder` writes an `[Element]`), copied
    /// out without a generic decoder; nil for an element type not encoded that way or bytes that
    /// are not exactly such an array (the caller then decodes the usual way, which says what is
    /// wrong).
    static func decoded<Element>(_ bytes: ArraySlice<UInt8>, as _: Element.Type) -> [Element]? {
        // As in `encoded`: the commonest types by code specialised for them.
        guard isRaw(Element.self) else { return nil }
        if Element.self == Int.self {
            guard let values = decodedRaw(bytes, as: Int.self) else { return nil }
            return unsafeBitCast(values, to: [Element].self)
        }
        if Element.self == Double.self {
            guard let values = decodedRaw(bytes, as: Double.self) else { return nil }
            return unsafeBitCast(values, to: [Element].self)
        }
        return decodedRaw(bytes, as: Element.self)
    }

    private static func decodedRaw<Element>(_ bytes: ArraySlice<UInt8>, as _: Element.Type) -> [Element]? {
        #if _endian(little)
        guard let (count, raw) = elementBytes(bytes, stride: MemoryLayout<Element>.stride) else { return nil }
        return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            raw.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
            initialized = count
        }
        #else
        return nil
        #endif
    }

    /// The count and the elements' bytes of an array encoded in `bytes` (its length, its count,
    /// then exactly `count * stride` bytes); nil for bytes that are not exactly that.
    private static func elementBytes(_ bytes: ArraySlice<UInt8>, stride: Int) -> (Int, ArraySlice<UInt8>)? {
        var reader = ByteReader(bytes)
        guard let length = try? reader.readFixed(UInt32.self), Int(length) == reader.remaining,
            let count = try? reader.readCount(minimumElementSize: stride), reader.remaining == count * stride,
            let raw = try? reader.readBytes(count: count * stride)
        else { return nil }
        return (count, raw)
    }

    /// The element types whose arrays the coder writes as raw bytes (on a little-endian machine).
    static func isRaw<Element>(_: Element.Type) -> Bool {
        #if _endian(little)
        return Element.self == Int.self || Element.self == Double.self || Element.self == UInt.self
            || Element.self == Int64.self || Element.self == UInt64.self || Element.self == Int32.self
            || Element.self == UInt32.self || Element.self == Int16.self || Element.self == UInt16.self
        #else
        return false
        #endif
    }
}
