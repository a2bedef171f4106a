/// Encodes a chunk of byte buffers (`[[UInt8]]`) with the same bytes as `BinaryEncoder`, but as
/// pieces to send in order that reference each large buffer instead of copying it: a 1 MiB
/// argument or result reaches the socket without passing through an encoding buffer.
///
/// The layout it reproduces (see `BinaryEncoder.swift`): `u32` value length, `u32` element count,
/// then per element the tag 1 (inline body), a varint byte count and the bytes.
enum ByteArrayPieces {
    /// Buffers from this size on are sent as pieces of their own.
    static let threshold = 64 * 1024

    /// The pieces, or nil when no buffer is large enough to be worth it.
    static func encodeByReference(_ buffers: [[UInt8]]) -> [[UInt8]]? {
        guard buffers.contains(where: { $0.count >= threshold }), buffers.count <= Int(UInt32.max) else { return nil }
        var pieces: [[UInt8]] = []
        var writer = ByteWriter(capacity: 64)
        let lengthOffset = writer.reserveFixed32()
        writer.writeFixed(UInt32(buffers.count))
        var total = 4  // the element count
        for buffer in buffers {
            let before = writer.bytes.count
            writer.writeByte(1)
            writer.writeVarint(UInt64(buffer.count))
            total += writer.bytes.count - before + buffer.count
            if buffer.count >= threshold {
                pieces.append(writer.bytes)
                pieces.append(buffer)
                writer = ByteWriter(capacity: 64)
            } else {
                writer.writeBytes(buffer)
            }
        }
        if !writer.bytes.isEmpty { pieces.append(writer.bytes) }
        guard total <= Int(UInt32.max) else { return nil }
        pieces[0].withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(total).littleEndian, toByteOffset: lengthOffset, as: UInt32.self)
        }
        return pieces
    }

    /// `values` encoded as pieces: by reference when they are byte buffers with a large one
    /// among them, else by `BinaryEncoder` in one piece.
    static func encode<Value: Encodable>(_ values: [Value]) throws -> [[UInt8]] {
        if Value.self == [UInt8].self, let pieces = encodeByReference(unsafeBitCast(values, to: [[UInt8]].self)) {
            return pieces
        }
        return [try BinaryEncoder().encode(values)]
    }
}
