import CMultiprocessing

// Foundation's `Data` takes the paths `[UInt8]` takes (one copy of its bytes in the coder, an
// attachment for a large item of a chunk) without this library importing Foundation: a program that
// links FoundationEssentials starts each worker measurably slower, and a pool's start-up is
// mostly its workers'. The type is found at run time instead, once per process, and handled
// through the standard library's collection protocols. The coder's handling is here; the
// transport's (attachments, receiving into a `Data`) is in FoundationDataAttachments.swift.

/// Foundation's `Data`, found at run time.
enum FoundationData {
    /// How the coder writes and reads `Data`, or nil in a process without Foundation.
    static let codec: (any ByteCollectionCodec)? = find().map { codec(for: $0) }

    /// `Data`'s type, or nil in a process without Foundation. Kept by `codec`: a metatype is
    /// not `Sendable`, so it cannot be a global of its own.
    static var type: (any RangeReplaceableCollection<UInt8>.Type)? { codec?.collectionType }

    /// `Data`'s mangled name (it lives in FoundationEssentials, which Foundation re-exports).
    static let mangledName = "20FoundationEssentials4DataV"

    private static func find() -> (any RangeReplaceableCollection<UInt8>.Type)? {
        // `_typeByName` reads every type record in the process when the name is missing (tens of
        // microseconds). With the Swift runtime in shared libraries Foundation is one too, so a
        // failed symbol lookup (a few microseconds) settles that Foundation is absent.
        if cmp_swift_runtime_is_static() == 0 && cmp_symbol_is_defined("$s\(mangledName)Mn") == 0 {
            return nil
        }
        return _typeByName(mangledName) as? any RangeReplaceableCollection<UInt8>.Type
    }

    private static func codec<C: RangeReplaceableCollection<UInt8>>(for _: C.Type) -> any ByteCollectionCodec {
        CollectionCodec<C>()
    }
}

/// How the coder handles one byte collection type known only at run time (`FoundationData`'s).
/// Every method that takes or returns a `T` requires it to be that type: callers compare type
/// identities first.
protocol ByteCollectionCodec: Sendable {
    /// The collection type.
    var collectionType: any RangeReplaceableCollection<UInt8>.Type { get }
    /// The collection type's identity.
    var typeID: ObjectIdentifier { get }
    /// Writes `value` as the coder writes a `[UInt8]`: varint count, then the bytes.
    func writeInline<T>(_ value: T, into output: inout ByteWriter)
    /// Reads what `writeInline` wrote.
    func readInline<T>(_ type: T.Type, from reader: inout ByteReader) throws(BinaryCodingError) -> T
}

/// `value` as `U`, which must be its own type: for code that compared the types already.
@inline(__always)
func identityCast<T, U>(_ value: T, to _: U.Type) -> U {
    precondition(T.self == U.self, "\(T.self) is not \(U.self)")
    return unsafeBitCast(value, to: U.self)
}

/// `ByteCollectionCodec` for a collection of bytes that can be built from a sequence of bytes.
struct CollectionCodec<C: RangeReplaceableCollection<UInt8>>: ByteCollectionCodec {
    var collectionType: any RangeReplaceableCollection<UInt8>.Type { C.self }
    let typeID = ObjectIdentifier(C.self)

    func writeInline<T>(_ value: T, into output: inout ByteWriter) {
        let collection = identityCast(value, to: C.self)
        let written: Void? = collection.withContiguousStorageIfAvailable { buffer in
            output.writeVarint(UInt64(buffer.count))
            output.writeBytes(UnsafeRawBufferPointer(buffer))
        }
        if written == nil {
            let bytes = Array(collection)
            output.writeVarint(UInt64(bytes.count))
            bytes.withUnsafeBytes { output.writeBytes($0) }
        }
    }

    func readInline<T>(_: T.Type, from reader: inout ByteReader) throws(BinaryCodingError) -> T {
        let count = try reader.readCount(minimumElementSize: 1)
        return identityCast(C(try reader.readBytes(count: count)), to: T.self)
    }
}
