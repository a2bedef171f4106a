// Wire format (schema-driven: both ends run the same binary and decode the same static type,
// so no type tags are stored; all fixed-width numbers are little endian):
//
//   top level      u32 length, then the value's body (so values can be concatenated)
//   inline bodies  Bool: 1 byte (0/1) · Int8…UInt64, Int, UInt, Int128, UInt128: their own width
//                  Float/Double: bit pattern · String: varint byte count + UTF-8
//                  [fixed-width number] / [Bool]: varint count + raw element bytes (one memcpy)
//                  Data (Foundation's): as [UInt8]
//                  [String]: varint count + strings
//   other values   whatever their encode(to:) produced in one of these containers:
//     keyed        entries until the end of the value's region, each:
//                  varint key length, key UTF-8 (the CodingKey's stringValue),
//                  u32 payload length (0xFFFF_FFFF = encodeNil) + payload (the entry's value body)
//     unkeyed      u32 element count, then per element a tag byte:
//                  0 = nil · 1 = inline body follows · 2 = u32 length + nested value region
//     single value tag byte 0 = nil · 1 = inline body · 2 = nested value region (rest of region)
//
// Every nested value sits in a region whose length is known (keyed entry length, unkeyed u32
// length, or the enclosing region), so a decoder may skip entries it does not read.

/// Encodes `Encodable` values into the compact binary format described at the top of this
/// file, several times faster than `JSONEncoder`.
///
/// Arrays of fixed-width numbers, `[Bool]`, `[String]`, `String` and Foundation's `Data` are
/// detected in the generic paths and written with one copy. Everything else goes through `Encodable`, writing
/// directly into one shared buffer; lengths are back-patched instead of building a tree.
struct BinaryEncoder: Sendable {
    init() {}

    /// Encodes `value` into a new byte array (`u32 length` + body).
    func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var out = ByteWriter(capacity: 256)
        try encode(value, into: &out)
        return out.takeBytes()
    }

    /// Appends the encoding of `value` (`u32 length` + body) to `writer`. On error the writer
    /// is restored to its previous contents.
    func encode<T: Encodable>(_ value: T, into writer: inout ByteWriter) throws {
        let originalCount = writer.count
        let slot = writer.reserveFixed32()
        if binaryEncodeInline(value, into: &writer) {
            do {
                try writer.patchRegionLength(slot: slot)
            } catch {
                writer.truncate(to: originalCount)
                throw error
            }
            return
        }
        // Move the buffer into the shared state (keeping it uniquely referenced) and back.
        let state = BinaryEncodingState(out: writer)
        writer = ByteWriter()
        defer {
            state.frames.removeAll()
            swap(&writer, &state.out)
        }
        do {
            try state.encodeTopLevel(value)
            try state.out.patchRegionLength(slot: slot)
        } catch {
            state.out.truncate(to: originalCount)
            throw error
        }
    }
}

extension ByteWriter {
    /// Writes a complete keyed entry with a fixed-width payload (key, u32 size, value) with a
    /// single capacity check and no back-patching: this is the hot path for struct fields.
    @inline(__always)
    mutating func writeFixedEntry<T: FixedWidthInteger>(key: String, _ v: T) {
        let size = MemoryLayout<T>.size
        let done: Void? = key.utf8.withContiguousStorageIfAvailable { keyBytes in
            let n = keyBytes.count
            if n >= 0x80 {
                writeVarint(UInt64(n))
                writeBytes(UnsafeRawBufferPointer(keyBytes))
                writeFixed(UInt32(size))
                writeFixed(v)
                return
            }
            write(byteCount: 1 &+ n &+ 4 &+ size) { base in
                base.storeBytes(of: UInt8(truncatingIfNeeded: n), as: UInt8.self)
                if n > 0 { (base + 1).copyMemory(from: keyBytes.baseAddress!, byteCount: n) }
                (base + 1 + n).storeBytes(of: UInt32(size).littleEndian, as: UInt32.self)
                (base + 5 + n).storeBytes(of: v.littleEndian, as: T.self)
            }
        }
        if done == nil {
            writeString(key)
            writeFixed(UInt32(size))
            writeFixed(v)
        }
    }

    /// Back-patches the u32 at `slot` with the number of bytes written after it. Lengths of
    /// 0xFFFF_FFFF and above cannot be represented (that value marks nil in keyed entries).
    @inline(__always)
    mutating func patchRegionLength(slot: Int) throws(BinaryCodingError) {
        let length = count &- slot &- 4
        guard length < Int(UInt32.max) else {
            throw .unsupported("a single encoded value region is larger than 4 GiB (\(length) bytes)")
        }
        patchFixed32(at: slot, UInt32(truncatingIfNeeded: length))
    }
}

/// Bookkeeping for one open encoder region (see `BinaryEncoderFrame`).
struct BinaryFrameRecord {
    enum ContainerKind { case none, keyed, unkeyed, single }

    /// Unique per frame within one encode call, so stale handles can be recognized.
    var id: Int
    var kind: ContainerKind = .none
    /// u32 to patch with the frame's byte length when it closes, or -1 (caller patches).
    var lengthSlot: Int
    /// Offset of the u32 element count when this frame holds an unkeyed container, or -1.
    var countSlot = -1
    /// Number of unkeyed elements written so far.
    var count = 0

    init(id: Int, lengthSlot: Int) {
        self.id = id
        self.lengthSlot = lengthSlot
    }
}

/// Mutable state shared by every encoder and container of one top-level `encode` call: the
/// output buffer and the stack of open frames.
///
/// Values are written in place, in call order. A frame (an encoder region) stays "open" while
/// it may still grow; writing to a container closes every frame opened above it (patching
/// their lengths/counts). Writing to a container whose frame was already closed - i.e. using
/// a nested container or superEncoder after its parent container moved on - would need a
/// tree-building encoder and throws `.unsupported` instead of producing wrong bytes.
final class BinaryEncodingState {
    /// Maximum nesting of encoders/containers; matches `BinaryDecoderImpl.maxDepth` so that
    /// anything encodable is decodable, and bounds stack use on the decoding side.
    static let maxDepth = 512

    // `@exclusivity(unchecked)`: these class properties are touched on every write, and
    // dynamic exclusivity checks were a large part of encoding time. Skipping them is safe because
    // every access is a short, non-reentrant access inside this file: no access to `out` or
    // `frames` is ever open while user code (an `encode(to:)`) runs or while another access
    // to the same property is made.
    @exclusivity(unchecked) var out: ByteWriter
    /// Open frames, innermost last; the frame with handle (depth, id) is open iff
    /// `frames[depth].id == id`.
    @exclusivity(unchecked) var frames: [BinaryFrameRecord] = []
    @exclusivity(unchecked) private var nextID = 0
    /// First error raised in a non-throwing Encoder API (container requests); rethrown at the end.
    private(set) var deferredError: BinaryCodingError?

    init(out: ByteWriter) {
        self.out = out
        frames.reserveCapacity(8)
    }

    /// Records an error that happened where the `Encoder` API cannot throw.
    func fail(_ error: any Error) {
        if deferredError == nil {
            deferredError = error as? BinaryCodingError ?? .unsupported("\(error)")
        }
    }

    /// Encodes the top-level non-inline value into a region delimited by the caller.
    func encodeTopLevel<T: Encodable>(_ value: T) throws {
        let frame = try push(lengthSlot: -1)
        try value.encode(to: frame)
        closeThrough(frame.depth)
        if let error = deferredError { throw error }
    }

    @inline(__always)
    func isOpen(_ frame: BinaryEncoderFrame) -> Bool {
        frame.depth >= 0 && frame.depth < frames.count && frames[frame.depth].id == frame.id
    }

    /// Makes `frame` the innermost open frame before a container writes into it, closing the
    /// frames of nested containers it opened earlier. Cheap when `frame` is already on top.
    @inline(__always)
    func willWrite(_ frame: BinaryEncoderFrame) throws(BinaryCodingError) {
        if frame.depth != frames.count &- 1 || frames[frame.depth].id != frame.id {
            try activate(frame)
        }
    }

    private func activate(_ frame: BinaryEncoderFrame) throws(BinaryCodingError) {
        guard isOpen(frame) else {
            if let error = deferredError { throw error }
            throw .unsupported(
                "write to a nested container or superEncoder after its parent container was "
                    + "written to again (or after encode(to:) returned); finish nested containers first")
        }
        closeThrough(frame.depth + 1)
    }

    /// Opens a new frame starting at the current end of the buffer. `lengthSlot` is the u32
    /// to patch with the frame's byte length when it closes, or -1 if the caller does that.
    func push(lengthSlot: Int) throws(BinaryCodingError) -> BinaryEncoderFrame {
        guard frames.count < BinaryEncodingState.maxDepth else {
            throw .unsupported("nesting deeper than \(BinaryEncodingState.maxDepth) levels")
        }
        nextID &+= 1
        let frame = BinaryEncoderFrame(state: self, depth: frames.count, id: nextID)
        frames.append(BinaryFrameRecord(id: nextID, lengthSlot: lengthSlot))
        return frame
    }

    /// Closes the frames at `depth` and above: patches unkeyed element counts and lengths.
    func closeThrough(_ depth: Int) {
        while frames.count > depth {
            let record = frames.removeLast()
            if record.countSlot >= 0 {
                if let count = UInt32(exactly: record.count) {
                    out.patchFixed32(at: record.countSlot, count)
                } else {
                    fail(BinaryCodingError.unsupported("unkeyed container with more than 2^32-1 elements"))
                }
            }
            if record.lengthSlot >= 0 {
                do {
                    try out.patchRegionLength(slot: record.lengthSlot)
                } catch {
                    fail(error)
                }
            }
        }
    }

    /// Writes a value body: inline for primitive/fast types, otherwise through the value's
    /// own `encode(to:)` in a nested frame. The caller delimits the region.
    @inline(__always)
    func encodeValue<T: Encodable>(_ value: T) throws {
        if !binaryEncodeInline(value, into: &out) {
            try encodeNested(value)
        }
    }

    /// Runs `value.encode(to:)` in a fresh frame and closes it (and anything it left open).
    func encodeNested<T: Encodable>(_ value: T) throws {
        let frame = try push(lengthSlot: -1)
        try value.encode(to: frame)
        closeThrough(frame.depth)
    }

    /// Writes a keyed entry header (key + reserved length) and returns the length slot.
    @inline(__always)
    func beginEntry(_ frame: BinaryEncoderFrame, key: String) throws(BinaryCodingError) -> Int {
        try willWrite(frame)
        out.writeString(key)
        return out.reserveFixed32()
    }

    /// A handle that is never open, returned by non-throwing Encoder APIs that failed; its
    /// containers throw on every write and the error is reported at the end of `encode`.
    func deadFrame(_ error: any Error) -> BinaryEncoderFrame {
        fail(error)
        return BinaryEncoderFrame(state: self, depth: -1, id: -1)
    }

    /// Bumps the unkeyed element count of an open frame.
    @inline(__always)
    func countElement(_ frame: BinaryEncoderFrame) {
        frames[frame.depth].count &+= 1
    }
}

/// The `Encoder` for one region: a cheap handle (fits an existential inline, so nested values
/// allocate nothing) into `BinaryEncodingState.frames`, where the per-region container state
/// lives. Repeated `container(keyedBy:)` calls on one encoder (as subclasses do after
/// `super.encode(to:)`) therefore share one container and its element count.
struct BinaryEncoderFrame: Encoder {
    let state: BinaryEncodingState
    let depth: Int
    let id: Int

    /// The format does not depend on coding paths, so none are tracked (saves allocations).
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Claims this region for a container of `kind`; a conflicting kind is recorded as an error.
    private func claim(_ kind: BinaryFrameRecord.ContainerKind) -> Bool {
        guard state.isOpen(self) else { return false }
        let current = state.frames[depth].kind
        if current == kind { return false }
        if current != .none {
            state.fail(BinaryCodingError.unsupported("\(kind) container requested from an encoder that already has a \(current) container"))
            return false
        }
        state.frames[depth].kind = kind
        return true
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        _ = claim(.keyed)
        return KeyedEncodingContainer(BinaryKeyedEncodingContainer<Key>(frame: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if claim(.unkeyed) {
            do {
                try state.willWrite(self)
                state.frames[depth].countSlot = state.out.reserveFixed32()
            } catch {
                state.fail(error)
            }
        }
        return BinaryUnkeyedEncodingContainer(frame: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        _ = claim(.single)
        return BinarySingleValueEncodingContainer(frame: self)
    }
}

/// Keyed container: appends `key, u32 length, payload` entries to its frame.
struct BinaryKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let frame: BinaryEncoderFrame

    var codingPath: [any CodingKey] { [] }

    /// Writes one entry whose payload is produced by `body` (inline primitive bodies).
    @inline(__always)
    private func put(_ key: Key, _ body: (inout ByteWriter) -> Void) throws {
        let state = frame.state
        let slot = try state.beginEntry(frame, key: key.stringValue)
        body(&state.out)
        try state.out.patchRegionLength(slot: slot)
    }

    @inline(__always)
    private func putInteger<I: FixedWidthInteger>(_ v: I, _ key: Key) throws {
        let state = frame.state
        try state.willWrite(frame)
        state.out.writeFixedEntry(key: key.stringValue, v)
    }

    mutating func encodeNil(forKey key: Key) throws {
        let state = frame.state
        try state.willWrite(frame)
        state.out.writeString(key.stringValue)
        state.out.writeFixed(UInt32.max)
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws { try put(key) { $0.writeByte(value ? 1 : 0) } }
    mutating func encode(_ value: String, forKey key: Key) throws { try put(key) { $0.writeString(value) } }
    mutating func encode(_ value: Double, forKey key: Key) throws { try putInteger(value.bitPattern, key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try putInteger(value.bitPattern, key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try putInteger(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try putInteger(value, key) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    mutating func encode(_ value: Int128, forKey key: Key) throws { try putInteger(value, key) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    mutating func encode(_ value: UInt128, forKey key: Key) throws { try putInteger(value, key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let state = frame.state
        let slot = try state.beginEntry(frame, key: key.stringValue)
        try state.encodeValue(value)
        try state.out.patchRegionLength(slot: slot)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        openChild(key: key.stringValue).container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        openChild(key: key.stringValue).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        openChild(key: "super")
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        openChild(key: key.stringValue)
    }

    /// Starts an entry whose payload is a frame that stays open until the parent writes
    /// again; its length is patched when it closes.
    private func openChild(key: String) -> BinaryEncoderFrame {
        let state = frame.state
        do {
            let slot = try state.beginEntry(frame, key: key)
            return try state.push(lengthSlot: slot)
        } catch {
            return state.deadFrame(error)
        }
    }
}

/// Unkeyed container: `u32 count` then tagged elements (see the format notes above).
struct BinaryUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let frame: BinaryEncoderFrame

    var codingPath: [any CodingKey] { [] }
    var count: Int { frame.state.isOpen(frame) ? frame.state.frames[frame.depth].count : 0 }

    /// Writes an element with tag 1 and an inline body produced by `body`.
    @inline(__always)
    private func put(_ body: (inout ByteWriter) -> Void) throws {
        let state = frame.state
        try state.willWrite(frame)
        state.out.writeByte(1)
        body(&state.out)
        state.countElement(frame)
    }

    @inline(__always)
    private func putInteger<I: FixedWidthInteger>(_ v: I) throws {
        try put { $0.writeFixed(v) }
    }

    mutating func encodeNil() throws {
        let state = frame.state
        try state.willWrite(frame)
        state.out.writeByte(0)
        state.countElement(frame)
    }

    mutating func encode(_ value: Bool) throws { try put { $0.writeByte(value ? 1 : 0) } }
    mutating func encode(_ value: String) throws { try put { $0.writeString(value) } }
    mutating func encode(_ value: Double) throws { try putInteger(value.bitPattern) }
    mutating func encode(_ value: Float) throws { try putInteger(value.bitPattern) }
    mutating func encode(_ value: Int) throws { try putInteger(value) }
    mutating func encode(_ value: Int8) throws { try putInteger(value) }
    mutating func encode(_ value: Int16) throws { try putInteger(value) }
    mutating func encode(_ value: Int32) throws { try putInteger(value) }
    mutating func encode(_ value: Int64) throws { try putInteger(value) }
    mutating func encode(_ value: UInt) throws { try putInteger(value) }
    mutating func encode(_ value: UInt8) throws { try putInteger(value) }
    mutating func encode(_ value: UInt16) throws { try putInteger(value) }
    mutating func encode(_ value: UInt32) throws { try putInteger(value) }
    mutating func encode(_ value: UInt64) throws { try putInteger(value) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    mutating func encode(_ value: Int128) throws { try putInteger(value) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    mutating func encode(_ value: UInt128) throws { try putInteger(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let state = frame.state
        try state.willWrite(frame)
        let tagOffset = state.out.count
        state.out.writeByte(1)
        if !binaryEncodeInline(value, into: &state.out) {
            state.out.setByte(2, at: tagOffset)
            let slot = state.out.reserveFixed32()
            try state.encodeNested(value)
            try state.out.patchRegionLength(slot: slot)
        }
        state.countElement(frame)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        openChild().container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        openChild().unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        openChild()
    }

    /// Starts a tag-2 element whose region is a frame that stays open until the parent
    /// writes again.
    private func openChild() -> BinaryEncoderFrame {
        let state = frame.state
        do {
            try state.willWrite(frame)
            state.out.writeByte(2)
            let slot = state.out.reserveFixed32()
            state.countElement(frame)
            return try state.push(lengthSlot: slot)
        } catch {
            return state.deadFrame(error)
        }
    }
}

/// Single value container: a tag byte, then an inline body or a nested region extending to
/// the end of the enclosing region.
struct BinarySingleValueEncodingContainer: SingleValueEncodingContainer {
    let frame: BinaryEncoderFrame

    var codingPath: [any CodingKey] { [] }

    @inline(__always)
    private func put(_ body: (inout ByteWriter) -> Void) throws {
        let state = frame.state
        try state.willWrite(frame)
        state.out.writeByte(1)
        body(&state.out)
    }

    @inline(__always)
    private func putInteger<I: FixedWidthInteger>(_ v: I) throws {
        try put { $0.writeFixed(v) }
    }

    mutating func encodeNil() throws {
        let state = frame.state
        try state.willWrite(frame)
        state.out.writeByte(0)
    }

    mutating func encode(_ value: Bool) throws { try put { $0.writeByte(value ? 1 : 0) } }
    mutating func encode(_ value: String) throws { try put { $0.writeString(value) } }
    mutating func encode(_ value: Double) throws { try putInteger(value.bitPattern) }
    mutating func encode(_ value: Float) throws { try putInteger(value.bitPattern) }
    mutating func encode(_ value: Int) throws { try putInteger(value) }
    mutating func encode(_ value: Int8) throws { try putInteger(value) }
    mutating func encode(_ value: Int16) throws { try putInteger(value) }
    mutating func encode(_ value: Int32) throws { try putInteger(value) }
    mutating func encode(_ value: Int64) throws { try putInteger(value) }
    mutating func encode(_ value: UInt) throws { try putInteger(value) }
    mutating func encode(_ value: UInt8) throws { try putInteger(value) }
    mutating func encode(_ value: UInt16) throws { try putInteger(value) }
    mutating func encode(_ value: UInt32) throws { try putInteger(value) }
    mutating func encode(_ value: UInt64) throws { try putInteger(value) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    mutating func encode(_ value: Int128) throws { try putInteger(value) }
    @available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
    mutating func encode(_ value: UInt128) throws { try putInteger(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let state = frame.state
        try state.willWrite(frame)
        let tagOffset = state.out.count
        state.out.writeByte(1)
        if !binaryEncodeInline(value, into: &state.out) {
            state.out.setByte(2, at: tagOffset)
            try state.encodeNested(value)
        }
    }
}

// MARK: - Inline (primitive and fast-path) bodies

/// Writes the inline body of `value` and returns true if `T` is a primitive or fast-path type
/// (scalars, `String`, arrays of fixed-width numbers / `Bool` / `String`, Foundation's `Data`,
/// found at run time by `FoundationData`); otherwise writes
/// nothing and returns false. Types are compared by metatype (a pointer compare each), which
/// is much cheaper than dynamic casts when this runs unspecialized inside a container.
/// `binaryDecodeInline` must recognize exactly the same set of types.
func binaryEncodeInline<T>(_ value: T, into w: inout ByteWriter) -> Bool {
    let id = ObjectIdentifier(T.self)
    let ids = BinaryInlineTypeIDs.shared
    if T.self == String.self {
        w.writeString(unsafeBitCast(value, to: String.self))
    } else if T.self == Int.self {
        w.writeFixed(unsafeBitCast(value, to: Int.self))
    } else if T.self == Double.self {
        w.writeFixed(unsafeBitCast(value, to: Double.self).bitPattern)
    } else if T.self == Bool.self {
        w.writeByte(unsafeBitCast(value, to: Bool.self) ? 1 : 0)
    } else if id == ids.uint8s {
        writeIntegerArray(unsafeBitCast(value, to: [UInt8].self), &w)
    } else if id == ids.ints {
        writeIntegerArray(unsafeBitCast(value, to: [Int].self), &w)
    } else if id == ids.doubles {
        writeDoubleArray(unsafeBitCast(value, to: [Double].self), &w)
    } else if id == ids.strings {
        let strings = unsafeBitCast(value, to: [String].self)
        w.writeVarint(UInt64(strings.count))
        for s in strings { w.writeString(s) }
    } else if T.self == Float.self {
        w.writeFixed(unsafeBitCast(value, to: Float.self).bitPattern)
    } else if T.self == Int64.self {
        w.writeFixed(unsafeBitCast(value, to: Int64.self))
    } else if T.self == UInt64.self {
        w.writeFixed(unsafeBitCast(value, to: UInt64.self))
    } else if T.self == Int32.self {
        w.writeFixed(unsafeBitCast(value, to: Int32.self))
    } else if T.self == UInt32.self {
        w.writeFixed(unsafeBitCast(value, to: UInt32.self))
    } else if T.self == UInt8.self {
        w.writeFixed(unsafeBitCast(value, to: UInt8.self))
    } else if T.self == Int8.self {
        w.writeFixed(unsafeBitCast(value, to: Int8.self))
    } else if T.self == Int16.self {
        w.writeFixed(unsafeBitCast(value, to: Int16.self))
    } else if T.self == UInt16.self {
        w.writeFixed(unsafeBitCast(value, to: UInt16.self))
    } else if T.self == UInt.self {
        w.writeFixed(unsafeBitCast(value, to: UInt.self))
    } else if id == ids.floats {
        writeFloatArray(unsafeBitCast(value, to: [Float].self), &w)
    } else if id == ids.int64s {
        writeIntegerArray(unsafeBitCast(value, to: [Int64].self), &w)
    } else if id == ids.uint64s {
        writeIntegerArray(unsafeBitCast(value, to: [UInt64].self), &w)
    } else if id == ids.int32s {
        writeIntegerArray(unsafeBitCast(value, to: [Int32].self), &w)
    } else if id == ids.uint32s {
        writeIntegerArray(unsafeBitCast(value, to: [UInt32].self), &w)
    } else if id == ids.int16s {
        writeIntegerArray(unsafeBitCast(value, to: [Int16].self), &w)
    } else if id == ids.uint16s {
        writeIntegerArray(unsafeBitCast(value, to: [UInt16].self), &w)
    } else if id == ids.int8s {
        writeIntegerArray(unsafeBitCast(value, to: [Int8].self), &w)
    } else if id == ids.uints {
        writeIntegerArray(unsafeBitCast(value, to: [UInt].self), &w)
    } else if id == ids.bools {
        let bools = unsafeBitCast(value, to: [Bool].self)
        w.writeVarint(UInt64(bools.count))
        bools.withUnsafeBytes { w.writeBytes($0) }  // Bool is stored as one 0/1 byte
    } else if #available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *),
        T.self == Int128.self
    {
        w.writeFixed(unsafeBitCast(value, to: Int128.self))
    } else if #available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *),
        T.self == UInt128.self
    {
        w.writeFixed(unsafeBitCast(value, to: UInt128.self))
    } else if let data = FoundationData.codec, id == data.typeID {
        data.writeInline(value, into: &w)  // the same body as a [UInt8] of its bytes
    } else {
        return false
    }
    return true
}

/// Identities of the inline array types, computed once. In unspecialized generic code,
/// evaluating `[Int].self` goes through the runtime's generic-metadata cache on every call
/// (~20 ns each), which made the type checks cost more than the encoding itself.
struct BinaryInlineTypeIDs: Sendable {
    static let shared = BinaryInlineTypeIDs()

    let uint8s = ObjectIdentifier([UInt8].self)
    let ints = ObjectIdentifier([Int].self)
    let doubles = ObjectIdentifier([Double].self)
    let strings = ObjectIdentifier([String].self)
    let floats = ObjectIdentifier([Float].self)
    let int64s = ObjectIdentifier([Int64].self)
    let uint64s = ObjectIdentifier([UInt64].self)
    let int32s = ObjectIdentifier([Int32].self)
    let uint32s = ObjectIdentifier([UInt32].self)
    let int16s = ObjectIdentifier([Int16].self)
    let uint16s = ObjectIdentifier([UInt16].self)
    let int8s = ObjectIdentifier([Int8].self)
    let uints = ObjectIdentifier([UInt].self)
    let bools = ObjectIdentifier([Bool].self)

    /// Whether arrays of this type are written packed (a count and the elements' bytes).
    func isPacked(_ id: ObjectIdentifier) -> Bool {
        [uint8s, ints, doubles, strings, floats, int64s, uint64s, int32s, uint32s, int16s, uint16s, int8s, uints, bools]
            .contains(id)
    }
}

/// varint count + the elements' little-endian bytes; a single memcpy on little-endian hosts.
@inline(__always)
private func writeIntegerArray<E: FixedWidthInteger>(_ array: [E], _ w: inout ByteWriter) {
    w.writeVarint(UInt64(array.count))
    #if _endian(little)
    array.withUnsafeBytes { w.writeBytes($0) }
    #else
    for e in array { w.writeFixed(e) }
    #endif
}

@inline(__always)
private func writeDoubleArray(_ array: [Double], _ w: inout ByteWriter) {
    w.writeVarint(UInt64(array.count))
    #if _endian(little)
    array.withUnsafeBytes { w.writeBytes($0) }
    #else
    for e in array { w.writeFixed(e.bitPattern) }
    #endif
}

@inline(__always)
private func writeFloatArray(_ array: [Float], _ w: inout ByteWriter) {
    w.writeVarint(UInt64(array.count))
    #if _endian(little)
    array.withUnsafeBytes { w.writeBytes($0) }
    #else
    for e in array { w.writeFixed(e.bitPattern) }
    #endif
}
