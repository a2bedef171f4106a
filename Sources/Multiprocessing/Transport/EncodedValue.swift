/// A value of a `Codable` type as it crosses the wire: the type's mangled name and its bytes.
@usableFromInline
struct EncodedValue: Sendable, Equatable {
    /// The type's mangled name, by which the receiving process finds it (`_typeByName`).
    var typeName: String
    /// The value's `BinaryEncoder` encoding.
    var payload: [UInt8]

    /// Writes the name, then the length-prefixed payload.
    func write(to writer: inout ByteWriter) {
        writer.writeString(typeName)
        writer.writeLengthPrefixed(payload)
    }

    /// Reads what `write(to:)` wrote.
    static func read(from reader: inout ByteReader) throws -> EncodedValue {
        EncodedValue(typeName: try reader.readString(), payload: Array(try reader.readLengthPrefixed()))
    }
}
