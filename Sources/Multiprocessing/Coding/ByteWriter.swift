/// An append-only byte buffer that `BinaryEncoder` (and the transport framing) writes into.
///
/// It is a plain struct over `[UInt8]`, so the finished bytes can be handed on without a
/// copy and the type is `Sendable`. All multi-byte integers are written little endian so the
/// format does not depend on the host; lengths that are only known after their content has
/// been written are reserved as 4 fixed bytes and back-patched.
struct ByteWriter: Sendable {
    /// The bytes written so far.
    var bytes: [UInt8]

    /// Creates an empty writer, optionally reserving `capacity` bytes up front to avoid
    /// regrowing while encoding a value of known approximate size.
    init(capacity: Int = 0) {
        bytes = []
        if capacity > 0 { bytes.reserveCapacity(capacity) }
    }

    /// Number of bytes written so far.
    @inline(__always)
    var count: Int { bytes.count }

    @inline(__always)
    mutating func writeByte(_ v: UInt8) {
        bytes.append(v)
    }

    /// Writes `v` as `MemoryLayout<T>.size` little-endian bytes.
    @inline(__always)
    mutating func writeFixed<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Writes `v` as an unsigned LEB128 varint (1 byte below 128, at most 10 bytes), used for
    /// counts and lengths, which are usually small.
    @inline(__always)
    mutating func writeVarint(_ v: UInt64) {
        if v < 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v))
            return
        }
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    /// Appends raw bytes with a single copy.
    @inline(__always)
    mutating func writeBytes(_ b: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: b)
    }

    /// Appends raw bytes; `[UInt8]`, `ArraySlice<UInt8>` and other contiguous collections take
    /// a single `memcpy`, anything else is appended element by element.
    @inline(__always)
    mutating func writeBytes<C: Collection>(_ b: C) where C.Element == UInt8 {
        let done: Void? = b.withContiguousStorageIfAvailable { buffer in
            bytes.append(contentsOf: UnsafeRawBufferPointer(buffer))
        }
        if done == nil { bytes.append(contentsOf: b) }
    }

    /// Writes a varint UTF-8 byte count followed by the UTF-8 bytes of `s`.
    @inline(__always)
    mutating func writeString(_ s: String) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { buffer in
            writeVarint(UInt64(buffer.count))
            bytes.append(contentsOf: UnsafeRawBufferPointer(buffer))
        }
        if done == nil {
            // Bridged or otherwise non-contiguous string: make a native copy first.
            var copy = s
            copy.withUTF8 { buffer in
                writeVarint(UInt64(buffer.count))
                bytes.append(contentsOf: UnsafeRawBufferPointer(buffer))
            }
        }
    }

    /// Writes a varint byte count followed by the bytes of `b` (one `memcpy`).
    @inline(__always)
    mutating func writeLengthPrefixed(_ b: [UInt8]) {
        writeVarint(UInt64(b.count))
        b.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// Reserves 4 zero bytes and returns their offset, so that a length or count that is only
    /// known after the following content has been written can be filled in with
    /// `patchFixed32(at:_:)`.
    @inline(__always)
    mutating func reserveFixed32() -> Int {
        let offset = bytes.count
        writeFixed(UInt32(0))
        return offset
    }

    /// Overwrites the 4 bytes at `offset` (previously returned by `reserveFixed32()`) with `v`
    /// in little endian. An `offset` that was not returned by `reserveFixed32()` is a
    /// programming error and traps.
    @inline(__always)
    mutating func patchFixed32(at offset: Int, _ v: UInt32) {
        precondition(offset >= 0 && offset + 4 <= bytes.count, "patchFixed32 offset out of range")
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt32.self)
        }
    }
}
