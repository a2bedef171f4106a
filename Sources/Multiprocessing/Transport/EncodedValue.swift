#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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

    /// Reads what `write(to:)` wrote, returning `last` itself when these are its bytes: the
    /// chunks of a call all carry the same task, which a worker would otherwise copy into a new
    /// name and payload for each one.
    static func read(from reader: inout ByteReader, reusing last: EncodedValue?) throws -> EncodedValue {
        if let last {
            var ahead = reader
            if let name = try? ahead.readLengthPrefixed(), let payload = try? ahead.readLengthPrefixed(),
                last.payload.withUnsafeBufferPointer({ Self.same(payload, $0) }),
                last.typeName.utf8.withContiguousStorageIfAvailable({ Self.same(name, $0) }) == true
            {
                reader = ahead
                return last
            }
        }
        return try read(from: &reader)
    }

    private static func same(_ bytes: ArraySlice<UInt8>, _ stored: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.count == stored.count
            && bytes.withUnsafeBytes { raw in stored.isEmpty || memcmp(raw.baseAddress!, stored.baseAddress!, stored.count) == 0 }
    }
}
