// Frames as `FrameReader` reads them: a little-endian `UInt32` byte count, then the message;
// with attachments, the attachment layout described there.

/// Builds a frame: reserves the length prefix, lets `body` write the message, then patches it.
func makeFrame(capacity: Int = 64, _ body: (inout ByteWriter) throws -> Void) rethrows -> [UInt8] {
    var writer = ByteWriter(capacity: capacity)
    let lengthOffset = writer.reserveFixed32()
    try body(&writer)
    writer.patchFixed32(at: lengthOffset, UInt32(writer.count - 4))
    return writer.takeBytes()
}

/// A frame whose last field is `tail` (length-prefixed), as pieces to send in order: the head
/// in one array (with the tail inline when it is small), then a large tail and the attachments
/// as pieces of their own, so a large payload is never copied again. With attachments the frame
/// takes `FrameReader`'s attachment layout. A `tailBody` continues the tail's bytes and is sent
/// as a piece of its own, from where it is (see ``InPlaceInputs``).
func framePieces(
    headerCapacity: Int, tail: EncodedItems, tailBody: WireBytes? = nil, _ header: (inout ByteWriter) -> Void
) -> [WireBytes] {
    let tailCount = tail.bytes.count + (tailBody?.count ?? 0)
    let inline = tailBody == nil && tailCount <= 16 * 1024
    var writer = ByteWriter(capacity: headerCapacity + 28 + 8 * tail.attachments.count + (inline ? tailCount : 0))
    let lengthOffset: Int
    if tail.attachments.isEmpty {
        lengthOffset = writer.reserveFixed32()
    } else {
        writer.writeFixed(FrameReader.attachmentMarker)
        lengthOffset = writer.reserveFixed32()
        writer.writeFixed(UInt32(tail.attachments.count))
        for attachment in tail.attachments {
            writer.writeFixed(UInt64(attachment.count) | (attachment.box != nil ? FrameReader.collectionFlag : 0))
        }
    }
    let messageStart = writer.count
    header(&writer)
    writer.writeVarint(UInt64(tailCount))
    writer.patchFixed32(at: lengthOffset, UInt32(truncatingIfNeeded: writer.count - messageStart + tailCount))
    if inline {
        writer.writeBytes(tail.bytes)
        return [WireBytes(writer.takeBytes())] + tail.attachments
    }
    if let tailBody {
        writer.writeBytes(tail.bytes)
        return [WireBytes(writer.takeBytes()), tailBody] + tail.attachments
    }
    return [WireBytes(writer.takeBytes()), WireBytes(Array(tail.bytes))] + tail.attachments
}
