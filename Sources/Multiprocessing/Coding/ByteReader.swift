/// A cursor over a contiguous byte region that reads the encodings produced by `ByteWriter`.
///
/// It never copies the underlying storage (`readBytes` returns slices sharing it) and every
/// read is bounds-checked and throws `BinaryCodingError` instead of trapping: the bytes may
/// come from a worker process that crashed half-way through writing them.
struct ByteReader: Sendable {
    /// The whole region this reader covers; indices are those of the original slice.
    let base: ArraySlice<UInt8>
    /// Absolute index (in `base`'s index space) of the next byte to read.
    private(set) var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        base = bytes
        position = bytes.startIndex
    }

    init(_ bytes: [UInt8]) {
        self.init(bytes[...])
    }

    /// Bytes left to read.
    @inline(__always)
    var remaining: Int { base.endIndex &- position }

    @inline(__always)
    var isAtEnd: Bool { position >= base.endIndex }

    /// Moves the cursor to an absolute index inside the region (used by keyed lookups that
    /// scan entries out of order). Throws if `index` lies outside the region.
    @inline(__always)
    mutating func seek(to index: Int) throws(BinaryCodingError) {
        guard index >= base.startIndex && index <= base.endIndex else {
            throw .invalidData("seek to \(index) outside region \(base.startIndex)..<\(base.endIndex)")
        }
        position = index
    }

    /// Skips `count` bytes, throwing if fewer remain.
    @inline(__always)
    mutating func skip(_ count: Int) throws(BinaryCodingError) {
        guard count >= 0 && count <= remaining else {
            throw .truncated(needed: count, available: remaining)
        }
        position &+= count
    }

    /// Returns the next byte without consuming it.
    @inline(__always)
    func peekByte() throws(BinaryCodingError) -> UInt8 {
        guard position < base.endIndex else { throw .truncated(needed: 1, available: 0) }
        return base[position]
    }

    @inline(__always)
    mutating func readByte() throws(BinaryCodingError) -> UInt8 {
        guard position < base.endIndex else { throw .truncated(needed: 1, available: 0) }
        let b = base[position]
        position &+= 1
        return b
    }

    /// Reads a little-endian `T` of `MemoryLayout<T>.size` bytes.
    @inline(__always)
    mutating func readFixed<T: FixedWidthInteger>(_: T.Type) throws(BinaryCodingError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw .truncated(needed: size, available: remaining) }
        let offset = position &- base.startIndex
        var v = T.zero
        withUnsafeMutableBytes(of: &v) { dst in
            base.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<offset &+ size]))
            }
        }
        position &+= size
        return T(littleEndian: v)
    }

    /// Reads an unsigned LEB128 varint. Rejects encodings longer than 10 bytes and values that
    /// do not fit in 64 bits, so garbage cannot loop or silently wrap.
    @inline(__always)
    mutating func readVarint() throws(BinaryCodingError) -> UInt64 {
        guard position < base.endIndex else { throw .truncated(needed: 1, available: 0) }
        let first = base[position]
        if first < 0x80 {
            position &+= 1
            return UInt64(first)
        }
        return try readVarintSlow()
    }

    private mutating func readVarintSlow() throws(BinaryCodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var p = position
        while true {
            guard p < base.endIndex else {
                throw .truncated(needed: p - position + 1, available: remaining)
            }
            let byte = base[p]
            p += 1
            if shift == 63 && byte > 1 {
                throw .invalidData("varint overflows 64 bits")
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { break }
            shift += 7
            if shift > 63 { throw .invalidData("varint longer than 10 bytes") }
        }
        position = p
        return result
    }

    /// Reads a varint count of items that each occupy at least `minimumElementSize` bytes and
    /// checks it against the bytes actually left, so a corrupt count can never make the caller
    /// reserve an absurd amount of memory.
    @inline(__always)
    mutating func readCount(minimumElementSize: Int) throws(BinaryCodingError) -> Int {
        let raw = try readVarint()
        let limit = minimumElementSize > 0 ? remaining / minimumElementSize : remaining
        guard raw <= UInt64(limit) else {
            throw .invalidData("count \(raw) exceeds what the remaining \(remaining) bytes can hold")
        }
        return Int(raw)
    }

    /// Returns the next `count` bytes as a slice sharing the underlying storage.
    @inline(__always)
    mutating func readBytes(count: Int) throws(BinaryCodingError) -> ArraySlice<UInt8> {
        guard count >= 0 else { throw .invalidData("negative byte count \(count)") }
        guard count <= remaining else { throw .truncated(needed: count, available: remaining) }
        let start = position
        position &+= count
        return base[start..<position]
    }

    /// Reads a varint byte count followed by that many bytes of UTF-8; invalid UTF-8 throws.
    @inline(__always)
    mutating func readString() throws(BinaryCodingError) -> String {
        let length = try readCount(minimumElementSize: 1)
        if length == 0 { return "" }
        let start = position
        let offset = start &- base.startIndex
        let decoded: String? = base.withUnsafeBufferPointer { buffer in
            let utf8 = UnsafeBufferPointer(rebasing: buffer[offset..<offset &+ length])
            // ASCII (the common case) is valid UTF-8 and takes the fast non-generic
            // `String(decoding:)` path; anything else gets full validation, because
            // `String(decoding:)` would silently repair invalid bytes.
            var high: UInt8 = 0
            for byte in utf8 { high |= byte }
            if high < 0x80 { return String(decoding: utf8, as: UTF8.self) }
            return String(validating: utf8, as: UTF8.self)
        }
        guard let s = decoded else {
            throw .invalidData("invalid UTF-8 in string of \(length) bytes")
        }
        position = start &+ length
        return s
    }

    /// Reads a varint byte count followed by that many bytes, returned without copying.
    @inline(__always)
    mutating func readLengthPrefixed() throws(BinaryCodingError) -> ArraySlice<UInt8> {
        let length = try readCount(minimumElementSize: 1)
        return try readBytes(count: length)
    }
}
