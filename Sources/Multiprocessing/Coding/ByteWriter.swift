/// The append-only byte buffer that `BinaryEncoder` encodes into and the wire messages and
/// frames are built in; `ByteReader` reads what it writes.
///
/// All multi-byte integers are written little endian, so the format does not depend on the
/// host; a length that is only known after its content has been written is reserved as 4 fixed
/// bytes and patched.
///
/// `Array.append` costs about as much as encoding a small field itself, even for a few bytes
/// (uniqueness, capacity and iterator checks on every call), and it dominated small-struct
/// encoding. So the writer keeps slack at the end of `storage` and stores straight into it:
/// `count` is the number of bytes written, `storage.count` what is allocated. Slack is not
/// cleared when the storage grows: every byte of it is written before it is read, and clearing
/// it would be one more pass over each large payload. `takeBytes()` hands the bytes over
/// trimmed, without a copy; a plain struct over `[UInt8]`, the writer is `Sendable`.
struct ByteWriter: Sendable {
    /// The bytes written (`count` of them), then the slack.
    private var storage: [UInt8]
    /// Number of bytes written so far.
    private(set) var count: Int

    /// Creates an empty writer with room for `capacity` bytes, so that writing a value of
    /// known approximate size does not regrow it.
    init(capacity: Int = 0) {
        storage = capacity > 0 ? Self.uninitializedStorage(count: capacity) : []
        count = 0
    }

    /// The bytes written, in an array: the writer's own when it has no slack, else a copy.
    /// `takeBytes()` hands them over without one.
    var bytes: [UInt8] {
        count == storage.count ? storage : Array(storage[..<count])
    }

    /// Calls `body` with the bytes written, where they are: a writer kept and reused for one
    /// frame after another hands each one out without an allocation.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[..<count])) }
    }

    /// Moves the bytes written out, trimmed (the allocation is kept, not copied), and leaves
    /// the writer empty.
    mutating func takeBytes() -> [UInt8] {
        if storage.count > count { storage.removeLast(storage.count &- count) }
        var bytes: [UInt8] = []
        swap(&bytes, &storage)
        count = 0
        return bytes
    }

    /// Drops the bytes written after the first `count` (an encoder that failed restores the
    /// writer so). A `count` beyond what was written is a programming error and traps.
    mutating func truncate(to count: Int) {
        precondition(count >= 0 && count <= self.count, "truncate beyond the bytes written")
        self.count = count
    }

    /// Ensures at least `n` bytes of slack.
    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if storage.count &- count < n { grow(n) }
    }

    @inline(never)
    private mutating func grow(_ n: Int) {
        let target = Swift.max(storage.count &* 2, count + n, storage.capacity, 64)
        // Copy only the bytes written; the slack is overwritten before it is read, so it is not
        // zero-filled (a 1 MiB payload would otherwise be written twice more).
        let used = count
        storage = storage.withUnsafeBufferPointer { old in
            [UInt8](unsafeUninitializedCapacity: target) { buffer, initialized in
                if used > 0 { buffer.baseAddress!.initialize(from: old.baseAddress!, count: used) }
                initialized = target
            }
        }
    }

    /// An array of `count` bytes to be overwritten before they are read.
    ///
    /// `Array(unsafeUninitializedCapacity:)` and `Array(repeating:count:)` allocate through
    /// the standard library's unspecialised code, whose generic metadata lookup costs more
    /// instructions than the rest of a small frame's writes. Copying a prefix of `zeroes`
    /// allocates through code specialised for `[UInt8]`, and for a small writer the copy is
    /// cheaper than that lookup; a large one is left uninitialised, not cleared.
    private static func uninitializedStorage(count: Int) -> [UInt8] {
        if count <= zeroes.count { return Array(zeroes[..<count]) }
        return [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// The source of a small writer's first storage (see `uninitializedStorage(count:)`).
    private static let zeroes = [UInt8](repeating: 0, count: 4096)

    @inline(__always)
    mutating func writeByte(_ v: UInt8) {
        reserve(1)
        storage[count] = v
        count &+= 1
    }

    /// Overwrites a byte already written (the coder fixes up an element's tag so).
    @inline(__always)
    mutating func setByte(_ v: UInt8, at offset: Int) {
        storage[offset] = v
    }

    /// Writes `v` as `MemoryLayout<T>.size` little-endian bytes.
    @inline(__always)
    mutating func writeFixed<T: FixedWidthInteger>(_ v: T) {
        let size = MemoryLayout<T>.size
        reserve(size)
        let offset = count
        storage.withUnsafeMutableBytes { $0.storeBytes(of: v.littleEndian, toByteOffset: offset, as: T.self) }
        count &+= size
    }

    /// Writes `v` as an unsigned LEB128 varint (1 byte below 128, at most 10 bytes), used for
    /// counts and lengths, which are usually small.
    @inline(__always)
    mutating func writeVarint(_ v: UInt64) {
        if v < 0x80 {
            writeByte(UInt8(truncatingIfNeeded: v))
            return
        }
        reserve(10)
        let offset = count
        let written = storage.withUnsafeMutableBytes { raw -> Int in
            var v = v
            var i = offset
            while v >= 0x80 {
                raw[i] = UInt8(truncatingIfNeeded: v) | 0x80
                v >>= 7
                i &+= 1
            }
            raw[i] = UInt8(truncatingIfNeeded: v)
            return i &+ 1 &- offset
        }
        count &+= written
    }

    /// Appends `n` bytes that `store` writes at the address it is given, with one capacity
    /// check: for several fields of a fixed layout at once (the coder's keyed entries).
    @inline(__always)
    mutating func write(byteCount n: Int, _ store: (UnsafeMutableRawPointer) -> Void) {
        reserve(n)
        let offset = count
        storage.withUnsafeMutableBytes { store($0.baseAddress!.advanced(by: offset)) }
        count &+= n
    }

    /// Appends raw bytes with one copy. A large block goes through `Array.append` after the
    /// slack is trimmed, which grows the storage to fit it without copying through the slack.
    @inline(__always)
    mutating func writeBytes(_ source: UnsafeRawBufferPointer) {
        let n = source.count
        if n == 0 { return }
        if n > 4096 {
            if storage.count > count { storage.removeLast(storage.count - count) }
            storage.append(contentsOf: source)
            count = storage.count
            return
        }
        reserve(n)
        let offset = count
        storage.withUnsafeMutableBytes { raw in
            raw.baseAddress!.advanced(by: offset).copyMemory(from: source.baseAddress!, byteCount: n)
        }
        count &+= n
    }

    /// Appends raw bytes; `[UInt8]`, `ArraySlice<UInt8>` and other contiguous collections take
    /// a single copy, anything else goes through an array first.
    @inline(__always)
    mutating func writeBytes<C: Collection>(_ b: C) where C.Element == UInt8 {
        let done: Void? = b.withContiguousStorageIfAvailable { buffer in
            writeBytes(UnsafeRawBufferPointer(buffer))
        }
        if done == nil { Array(b).withUnsafeBytes { writeBytes($0) } }
    }

    /// Writes a varint UTF-8 byte count followed by the UTF-8 bytes of `s`.
    @inline(__always)
    mutating func writeString(_ s: String) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { buffer in
            writeVarint(UInt64(buffer.count))
            writeBytes(UnsafeRawBufferPointer(buffer))
        }
        if done == nil {
            // Bridged or otherwise non-contiguous string: make a native copy first.
            var copy = s
            copy.withUTF8 { buffer in
                writeVarint(UInt64(buffer.count))
                writeBytes(UnsafeRawBufferPointer(buffer))
            }
        }
    }

    /// Writes a varint byte count followed by the bytes of `b` (one copy).
    @inline(__always)
    mutating func writeLengthPrefixed(_ b: [UInt8]) {
        writeVarint(UInt64(b.count))
        b.withUnsafeBytes { writeBytes($0) }
    }

    /// Reserves 4 bytes and returns their offset, so that a length or count that is only
    /// known after the following content has been written can be filled in with
    /// `patchFixed32(at:_:)`.
    @inline(__always)
    mutating func reserveFixed32() -> Int {
        let offset = count
        writeFixed(UInt32(0))
        return offset
    }

    /// Overwrites the 4 bytes at `offset` (previously returned by `reserveFixed32()`) with `v`
    /// in little endian. An `offset` that was not returned by `reserveFixed32()` is a
    /// programming error and traps.
    @inline(__always)
    mutating func patchFixed32(at offset: Int, _ v: UInt32) {
        precondition(offset >= 0 && offset &+ 4 <= count, "patchFixed32 offset out of range")
        storage.withUnsafeMutableBytes { $0.storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt32.self) }
    }
}
