/// An encoded `[Value]` (a chunk's inputs or outputs) as it crosses the wire.
///
/// A byte buffer (a `[UInt8]` or Foundation `Data` value) of `attachmentThreshold` bytes or more
/// is not copied into `bytes`: it is only marked there, and travels after the frame as an
/// attachment (see `FrameReader`), sent from its own storage and read by the receiver straight
/// into a buffer of its own type. A 1 MiB argument is then copied once per hop, by the kernel,
/// as over a raw socket.
///
/// Without attachments `bytes` is exactly `BinaryEncoder`'s encoding of the array. With them it
/// is that layout (`u32` value length, `u32` element count, then per element a tag) with one
/// more element tag: 1 = inline body (varint byte count + the bytes), 3 = the next attachment.
@usableFromInline
struct EncodedItems: Sendable, Equatable {
    /// The encoding, attachments marked rather than included.
    var bytes: ArraySlice<UInt8>
    /// The large buffers, in the order their marks appear in `bytes`.
    var attachments: [WireBytes]

    init(bytes: ArraySlice<UInt8>, attachments: [WireBytes] = []) {
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
    static func encode<Values: Encodable>(_ values: Values) throws -> EncodedItems {
        if Values.self == [[UInt8]].self,
            let items = attachingLargeBuffers(unsafeBitCast(values, to: [[UInt8]].self), as: ArrayBuffers.self)
        {
            return items
        }
        if let data = FoundationData.attachments, ObjectIdentifier(Values.self) == data.arrayTypeID,
            let items = data.attachingLargeBuffers(values)
        {
            return items
        }
        return EncodedItems(bytes: try BinaryEncoder().encode(values)[...])
    }

    /// Byte buffers encoded with the large ones as attachments, or nil when none is large.
    static func attachingLargeBuffers<Kind: ByteBufferKind>(_ buffers: [Kind.Buffer], as _: Kind.Type) -> EncodedItems? {
        guard buffers.contains(where: { Kind.count(of: $0) >= attachmentThreshold }), buffers.count <= Int(UInt32.max) else { return nil }
        var attachments: [WireBytes] = []
        var writer = ByteWriter(capacity: 64)
        let lengthOffset = writer.reserveFixed32()
        writer.writeFixed(UInt32(buffers.count))
        for buffer in buffers {
            let count = Kind.count(of: buffer)
            if count >= attachmentThreshold {
                writer.writeByte(attachmentTag)
                attachments.append(Kind.attachment(buffer))
            } else {
                writer.writeByte(inlineTag)
                writer.writeVarint(UInt64(count))
                Kind.write(buffer, to: &writer)
            }
        }
        guard writer.count - 4 <= Int(UInt32.max) else { return nil }
        writer.patchFixed32(at: lengthOffset, UInt32(writer.count - 4))
        return EncodedItems(bytes: writer.takeBytes()[...], attachments: attachments)
    }

    /// Decodes the values (`Values` is the array type); the attachments become the large
    /// buffers without being copied.
    @usableFromInline
    func decode<Values: Decodable>(_: Values.Type) throws -> Values {
        if attachments.isEmpty {
            return try BinaryDecoder().decode(Values.self, from: bytes)
        }
        if Values.self == [[UInt8]].self {
            return unsafeBitCast(try decodeByteBuffers(as: ArrayBuffers.self), to: Values.self)
        }
        if let data = FoundationData.attachments, ObjectIdentifier(Values.self) == data.arrayTypeID {
            return try data.decodeItems(self, as: Values.self)
        }
        throw BinaryCodingError.invalidData("attachments sent for a \(Values.self), which cannot hold them")
    }

    /// Decodes the values one by one (`Element` is the array's element type), so that one that
    /// cannot be decoded fails alone; nil when they cannot be told apart (see
    /// `BinaryDecoder.decodeElements`). Byte buffers with attachments decode whole or not at all.
    func decodeEach<Element: Decodable>(_: Element.Type) -> [Result<Element, any Error>]? {
        guard attachments.isEmpty else { return nil }
        return BinaryDecoder().decodeElements(Element.self, from: bytes)
    }

    /// The buffers of encoded items with attachments.
    func decodeByteBuffers<Kind: ByteBufferKind>(as _: Kind.Type) throws -> [Kind.Buffer] {
        var reader = ByteReader(bytes)
        let length = Int(try reader.readFixed(UInt32.self))
        guard length == reader.remaining else {
            throw BinaryCodingError.invalidData("a value of \(length) bytes in a region of \(reader.remaining)")
        }
        let count = Int(try reader.readFixed(UInt32.self))
        guard count <= reader.remaining else {
            throw BinaryCodingError.invalidData("\(count) buffers in \(reader.remaining) bytes")
        }
        var buffers: [Kind.Buffer] = []
        buffers.reserveCapacity(count)
        var nextAttachment = 0
        for _ in 0..<count {
            switch try reader.readByte() {
            case Self.inlineTag:
                buffers.append(Kind.make(inline: try reader.readLengthPrefixed()))
            case Self.attachmentTag:
                guard nextAttachment < attachments.count else {
                    throw BinaryCodingError.invalidData("more attachment marks than the \(attachments.count) attachments")
                }
                buffers.append(Kind.make(attachment: attachments[nextAttachment]))
                nextAttachment += 1
            case let tag:
                throw BinaryCodingError.invalidData("element tag \(tag) in encoded byte buffers")
            }
        }
        guard reader.isAtEnd, nextAttachment == attachments.count else {
            throw BinaryCodingError.invalidData("\(attachments.count - nextAttachment) attachments or \(reader.remaining) bytes left over")
        }
        return buffers
    }
}

/// How the attachment path reads and makes one type of byte buffer.
protocol ByteBufferKind {
    associatedtype Buffer
    /// The buffer's size in bytes.
    static func count(of buffer: Buffer) -> Int
    /// Appends the buffer's bytes.
    static func write(_ buffer: Buffer, to writer: inout ByteWriter)
    /// The buffer as an attachment, sharing its storage.
    static func attachment(_ buffer: Buffer) -> WireBytes
    /// A buffer of the bytes of an inline element.
    static func make(inline bytes: ArraySlice<UInt8>) -> Buffer
    /// A buffer of an attachment's bytes, sharing its storage when it is of this type.
    static func make(attachment: WireBytes) -> Buffer
}

/// The attachment path's handling of `[UInt8]` buffers.
enum ArrayBuffers: ByteBufferKind {
    static func count(of buffer: [UInt8]) -> Int { buffer.count }

    static func write(_ buffer: [UInt8], to writer: inout ByteWriter) { writer.writeBytes(buffer) }

    static func attachment(_ buffer: [UInt8]) -> WireBytes { WireBytes(buffer) }

    static func make(inline bytes: ArraySlice<UInt8>) -> [UInt8] { Array(bytes) }

    static func make(attachment: WireBytes) -> [UInt8] { attachment.bytes }
}
