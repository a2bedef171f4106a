/// The inputs of a large chunk of fixed-width numbers (`[Int]`, `[Double]`, ...), sent from
/// the caller's array where it is instead of from an encoded copy.
///
/// The coder writes such an array as its count and then the elements' bytes as they are in
/// memory, so the chunk's frame is a small head (the value's length and count) followed by the
/// caller's storage itself: a `map` of millions of numbers holds no encoded copy of its input
/// while its chunks wait or run, and a chunk resent after a worker died is read from the same
/// place. Encoding such an array cannot fail, so the call reports nothing later than before.
enum InPlaceInputs {
    /// Chunks whose elements take more bytes than this go in place; smaller ones are copied into
    /// their frame, which then goes out in one piece, as before.
    static let smallestInPlaceBytes = 16 * 1024

    /// The encoded head of `items[range]` and its elements' bytes as a piece of their own, when
    /// the elements are numbers the coder writes raw and take more than ``smallestInPlaceBytes``;
    /// nil otherwise.
    static func split<Element: Sendable>(
        _ items: [Element], _ range: Range<Int>
    ) -> (head: EncodedItems, body: WireBytes)? {
        let byteCount = range.count * MemoryLayout<Element>.stride
        // The size first: the small chunks of `chunksize: 1` calls skip the type check.
        guard byteCount > smallestInPlaceBytes, byteCount < Int(UInt32.max) - 16, PackedArrayPlacement.isRaw(Element.self)
        else { return nil }
        var writer = ByteWriter(capacity: 16)
        let lengthOffset = writer.reserveFixed32()
        writer.writeVarint(UInt64(range.count))
        writer.patchFixed32(at: lengthOffset, UInt32(writer.count - 4 + byteCount))
        return (EncodedItems(bytes: writer.takeBytes()[...]), WireBytes(ElementBytes(items, range)))
    }
}

/// The bytes of some consecutive elements of an array of fixed-width numbers, read from the
/// array's own storage, which this holds (sharing it: the caller's array is not copied).
final class ElementBytes<Element: Sendable>: ByteCollectionBox {
    private let items: [Element]
    private let range: Range<Int>

    init(_ items: [Element], _ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= items.count)
        // Only numbers the coder writes raw may be sent as their memory: any other type's bytes
        // are not its encoding (and may be pointers).
        precondition(PackedArrayPlacement.isRaw(Element.self))
        self.items = items
        self.range = range
    }

    var count: Int { range.count * MemoryLayout<Element>.stride }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try items.withUnsafeBufferPointer { buffer in
            try body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[range])))
        }
    }
}
