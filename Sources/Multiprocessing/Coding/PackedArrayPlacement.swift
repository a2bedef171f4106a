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
        let stride = MemoryLayout<Element>.stride
        var reader = ByteReader(bytes)
        guard let length = try? reader.readFixed(UInt32.self), Int(length) == reader.remaining,
            let count = try? reader.readCount(minimumElementSize: stride), count == destination.count,
            reader.remaining == count * stride, let raw = try? reader.readBytes(count: count * stride)
        else { return false }
        raw.withUnsafeBytes { UnsafeMutableRawBufferPointer(destination).copyMemory(from: $0) }
        return true
        #else
        return false
        #endif
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
