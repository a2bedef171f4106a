import CMultiprocessing

// Foundation's `Data` takes the paths `[UInt8]` takes (one copy of its bytes in the coder, an
// attachment for a large batch item) without this library importing Foundation: a program that
// links FoundationEssentials starts each worker measurably slower, and a pool's start-up is
// mostly its workers'. The type is found at run time instead, once per process, and handled
// through the standard library's collection protocols.

/// Foundation's `Data`, found at run time.
enum FoundationData {
    /// How to handle `Data`, or nil in a process without Foundation.
    static let codec: (any ByteCollectionCodec)? = find()

    /// `Data`'s mangled name (it lives in FoundationEssentials, which Foundation re-exports).
    static let mangledName = "20FoundationEssentials4DataV"

    private static func find() -> (any ByteCollectionCodec)? {
        // `_typeByName` reads every type record in the process when the name is missing (tens of
        // microseconds). With the Swift runtime in shared libraries Foundation is one too, so a
        // failed symbol lookup (a few microseconds) settles that Foundation is absent.
        if cmp_swift_runtime_is_static() == 0 && cmp_symbol_is_defined("$s\(mangledName)Mn") == 0 {
            return nil
        }
        guard let type = _typeByName(mangledName) as? any RangeReplaceableCollection<UInt8>.Type else { return nil }
        return codec(for: type)
    }

    private static func codec<C: RangeReplaceableCollection<UInt8>>(for _: C.Type) -> any ByteCollectionCodec {
        CollectionCodec<C>()
    }
}

/// How the coder and the batch path handle one byte collection type known only at run time
/// (`FoundationData`'s). Every method that takes or returns a `T` requires it to be that type,
/// and a `Values` an array of it: callers compare type identities first.
protocol ByteCollectionCodec: Sendable {
    /// The collection type's identity.
    var typeID: ObjectIdentifier { get }
    /// The identity of an array of the collection type.
    var arrayTypeID: ObjectIdentifier { get }
    /// Writes `value` as the coder writes a `[UInt8]`: varint count, then the bytes.
    func writeInline<T>(_ value: T, into output: inout ByteWriter)
    /// Reads what `writeInline` wrote.
    func readInline<T>(_ type: T.Type, from reader: inout ByteReader) throws(BinaryCodingError) -> T
    /// `values` with its large elements as attachments, or nil when none is large.
    func attachingLargeBuffers<Values>(_ values: Values) -> EncodedBatch?
    /// The array a batch with attachments holds.
    func decodeBatch<Values>(_ batch: EncodedBatch, as type: Values.Type) throws -> Values
    /// A new collection of `count` bytes that `fill` writes straight into its storage: called
    /// once or twice, for consecutive parts, in order.
    func receive(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> WireBytes
}

/// A byte collection held as a piece of `WireBytes`.
protocol ByteCollectionBox: AnyObject, Sendable {
    /// The number of bytes.
    var count: Int { get }
    /// Calls `body` with the bytes where they are stored.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

/// `value` as `U`, which must be its own type: for code that compared the types already.
@inline(__always)
func identityCast<T, U>(_ value: T, to _: U.Type) -> U {
    precondition(T.self == U.self, "\(T.self) is not \(U.self)")
    return unsafeBitCast(value, to: U.self)
}

/// `ByteCollectionCodec` for a collection of bytes that can be built from a sequence of bytes.
struct CollectionCodec<C: RangeReplaceableCollection<UInt8>>: ByteCollectionCodec {
    let typeID = ObjectIdentifier(C.self)
    let arrayTypeID = ObjectIdentifier([C].self)

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

    func attachingLargeBuffers<Values>(_ values: Values) -> EncodedBatch? {
        EncodedBatch.attachingLargeBuffers(identityCast(values, to: [C].self), as: CollectionBuffers<C>.self)
    }

    func decodeBatch<Values>(_ batch: EncodedBatch, as _: Values.Type) throws -> Values {
        identityCast(try batch.decodeByteBuffers(as: CollectionBuffers<C>.self), to: Values.self)
    }

    func receive(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> WireBytes {
        try withoutActuallyEscaping(fill) { fill in
            let source = FilledBytes(count: count, fill: fill)
            // Reserved, then appended to: the storage is allocated once and not zero-filled first
            // (`Data(count:)` would clear it, a pass over the memory the read then overwrites).
            var collection = C()
            collection.reserveCapacity(count)
            collection.append(contentsOf: source)
            if let error = source.progress.error { throw error }
            return WireBytes(CollectionBox(collection))
        }
    }
}

/// A collection of bytes in `WireBytes`. `@unchecked Sendable`: the one type boxed is
/// `FoundationData`'s, and `Data` is `Sendable`.
final class CollectionBox<C: RangeReplaceableCollection<UInt8>>: ByteCollectionBox, @unchecked Sendable {
    let value: C
    let count: Int

    init(_ value: C) {
        self.value = value
        count = value.count
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let result = try value.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(value).withUnsafeBytes(body)
    }
}

/// The batch path's handling of a collection type's buffers.
enum CollectionBuffers<C: RangeReplaceableCollection<UInt8>>: ByteBufferKind {
    static func count(of buffer: C) -> Int { buffer.count }

    static func write(_ buffer: C, to writer: inout ByteWriter) { writer.writeBytes(buffer) }

    static func attachment(_ buffer: C) -> WireBytes { WireBytes(CollectionBox(buffer)) }

    static func make(inline bytes: ArraySlice<UInt8>) -> C { C(bytes) }

    static func make(attachment: WireBytes) -> C {
        if let box = attachment.box as? CollectionBox<C> { return box.value }
        return C(attachment.bytes)
    }
}

/// `count` bytes that `fill` supplies as they are read. A collection that appends them hands its
/// own storage to `_copyContents` (`Data` does), so the bytes land there directly; any other
/// consumer gets them through an array.
private struct FilledBytes: Sequence {
    /// How far `fill` got, and how it failed.
    final class Progress {
        var filled = 0
        var error: (any Error)?
    }

    let count: Int
    let fill: (UnsafeMutableRawBufferPointer) throws -> Void
    let progress = Progress()

    var underestimatedCount: Int { count }

    func makeIterator() -> IndexingIterator<[UInt8]> {
        remainder().makeIterator()
    }

    func _copyContents(initializing buffer: UnsafeMutableBufferPointer<UInt8>) -> (IndexingIterator<[UInt8]>, Int) {
        let direct = Swift.min(buffer.count, count - progress.filled)
        if direct > 0 && progress.error == nil {
            do {
                try fill(UnsafeMutableRawBufferPointer(start: buffer.baseAddress, count: direct))
                progress.filled += direct
            } catch {
                progress.error = error
                return ([UInt8]().makeIterator(), 0)
            }
        }
        return (remainder().makeIterator(), direct)
    }

    /// The bytes not read yet, read into an array.
    private func remainder() -> [UInt8] {
        let rest = count - progress.filled
        guard rest > 0, progress.error == nil else { return [] }
        do {
            let bytes = try [UInt8](unsafeUninitializedCapacity: rest) { buffer, initialized in
                try fill(UnsafeMutableRawBufferPointer(buffer))
                initialized = rest
            }
            progress.filled = count
            return bytes
        } catch {
            progress.error = error
            return []
        }
    }
}
