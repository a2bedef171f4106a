/// An encoded `[Value]` (a chunk's inputs or outputs) as it crosses the wire.
///
/// A byte buffer (`[UInt8]` value) of `attachmentThreshold` bytes or more is not copied into
/// `bytes`: it is only marked there, and travels after the frame as an attachment (see
/// `FrameReader`), sent from its own storage and read by the receiver straight into an array of
/// its own. A 1 MiB argument is then copied once per hop, by the kernel, as over a raw socket.
///
/// Without attachments `bytes` is exactly `BinaryEncoder`'s encoding of the array. With them it
/// is that layout (`u32` value length, `u32` element count, then per element a tag) with one
/// more element tag: 1 = inline body (varint byte count + the bytes), 3 = the next attachment.
@usableFromInline
struct EncodedBatch: Sendable, Equatable {
    /// The encoding, attachments marked rather than included.
    var bytes: ArraySlice<UInt8>
    /// The large buffers, in the order their marks appear in `bytes`.
    var attachments: [[UInt8]]

    init(bytes: ArraySlice<UInt8>, attachments: [[UInt8]] = []) {
        self.bytes = bytes
        self.attachments = attachments
    }

    /// Buffers from this size on travel as attachments.
    static let attachmentThreshold = 64 * 1024

    private static let inlineTag: UInt8 = 1
    private static let attachmentTag: UInt8 = 3

    /// `values` (an array) encoded: byte buffers with a large one among them as attachments,
    /// anything else by `BinaryEncoder`. Generic over the array type rather than its element, so
    /// a caller that knows the concrete type spares the runtime a metadata lookup for `[Value]`.
    @usableFromInline
    static func encode<Values: Encodable>(_ values: Values) throws -> EncodedBatch {
        if Values.self == [[UInt8]].self, let batch = attachingLargeBuffers(unsafeBitCast(values, to: [[UInt8]].self)) {
            return batch
        }
        return EncodedBatch(bytes: try BinaryEncoder().encode(values)[...])
    }

    /// Byte buffers encoded with the large ones as attachments, or nil when none is large.
    static func attachingLargeBuffers(_ buffers: [[UInt8]]) -> EncodedBatch? {
        guard buffers.contains(where: { $0.count >= attachmentThreshold }), buffers.count <= Int(UInt32.max) else { return nil }
        var attachments: [[UInt8]] = []
        var writer = ByteWriter(capacity: 64)
        let lengthOffset = writer.reserveFixed32()
        writer.writeFixed(UInt32(buffers.count))
        for buffer in buffers {
            if buffer.count >= attachmentThreshold {
                writer.writeByte(attachmentTag)
                attachments.append(buffer)
            } else {
                writer.writeByte(inlineTag)
                writer.writeVarint(UInt64(buffer.count))
                writer.writeBytes(buffer)
            }
        }
        guard writer.bytes.count - 4 <= Int(UInt32.max) else { return nil }
        writer.patchFixed32(at: lengthOffset, UInt32(writer.bytes.count - 4))
        return EncodedBatch(bytes: writer.bytes[...], attachments: attachments)
    }

    /// Decodes the values (`Values` is the array type); the attachments become the large
    /// buffers without being copied.
    @usableFromInline
    func decode<Values: Decodable>(_: Values.Type) throws -> Values {
        if attachments.isEmpty {
            return try BinaryDecoder().decode(Values.self, from: bytes)
        }
        guard Values.self == [[UInt8]].self else {
            throw BinaryCodingError.invalidData("attachments sent for a \(Values.self), which cannot hold them")
        }
        return unsafeBitCast(try decodeByteBuffers(), to: Values.self)
    }

    /// Decodes the values one by one (`Element` is the array's element type), so that one that
    /// cannot be decoded fails alone; nil when they cannot be told apart (see
    /// `BinaryDecoder.decodeElements`). Byte buffers with attachments decode whole or not at all.
    func decodeEach<Element: Decodable>(_: Element.Type) -> [Result<Element, any Error>]? {
        guard attachments.isEmpty else { return nil }
        return BinaryDecoder().decodeElements(Element.self, from: bytes)
    }

    private func decodeByteBuffers() throws -> [[UInt8]] {
        var reader = ByteReader(bytes)
        let length = Int(try reader.readFixed(UInt32.self))
        guard length == reader.remaining else {
            throw BinaryCodingError.invalidData("a value of \(length) bytes in a region of \(reader.remaining)")
        }
        let count = Int(try reader.readFixed(UInt32.self))
        guard count <= reader.remaining else {
            throw BinaryCodingError.invalidData("\(count) buffers in \(reader.remaining) bytes")
        }
        var buffers: [[UInt8]] = []
        buffers.reserveCapacity(count)
        var nextAttachment = 0
        for _ in 0..<count {
            switch try reader.readByte() {
            case Self.inlineTag:
                buffers.append(Array(try reader.readLengthPrefixed()))
            case Self.attachmentTag:
                guard nextAttachment < attachments.count else {
                    throw BinaryCodingError.invalidData("more attachment marks than the \(attachments.count) attachments")
                }
                buffers.append(attachments[nextAttachment])
                nextAttachment += 1
            case let tag:
                throw BinaryCodingError.invalidData("element tag \(tag) in a batch of byte buffers")
            }
        }
        guard reader.isAtEnd, nextAttachment == attachments.count else {
            throw BinaryCodingError.invalidData("\(attachments.count - nextAttachment) attachments or \(reader.remaining) bytes left over")
        }
        return buffers
    }
}
