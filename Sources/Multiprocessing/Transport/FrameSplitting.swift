/// A whole frame held in memory, split into its message and attachments: what `FrameReader`
/// does on a stream, for a carrier that delivers frames whole (an MPI message).
enum FrameSplitting {
    /// The message and the attachments of `frame`, laid out as `framePieces` and `makeFrame`
    /// write them (see `FrameReader`). Attachments become arrays: a `Data` result decodes from
    /// one as from an array.
    static func split(_ frame: ArraySlice<UInt8>) throws -> (message: ArraySlice<UInt8>, attachments: [WireBytes]) {
        var reader = ByteReader(frame)
        let first = try reader.readFixed(UInt32.self)
        guard first == FrameReader.attachmentMarker else {
            let message = try reader.readBytes(count: Int(first))
            guard reader.isAtEnd else { throw BinaryCodingError.invalidData("\(reader.remaining) bytes after a frame") }
            return (message, [])
        }
        let length = Int(try reader.readFixed(UInt32.self))
        let count = Int(try reader.readFixed(UInt32.self))
        guard count <= reader.remaining / 8 else { throw BinaryCodingError.invalidData("\(count) attachments announced") }
        var sizes: [Int] = []
        sizes.reserveCapacity(count)
        for _ in 0..<count {
            let size = try reader.readFixed(UInt64.self) & ~FrameReader.collectionFlag
            guard size <= UInt64(reader.remaining) else {
                throw BinaryCodingError.truncated(needed: Int(clamping: size), available: reader.remaining)
            }
            sizes.append(Int(size))
        }
        let message = try reader.readBytes(count: length)
        var attachments: [WireBytes] = []
        attachments.reserveCapacity(count)
        for size in sizes { attachments.append(WireBytes(Array(try reader.readBytes(count: size)))) }
        guard reader.isAtEnd else { throw BinaryCodingError.invalidData("\(reader.remaining) bytes after a frame") }
        return (message, attachments)
    }
}
