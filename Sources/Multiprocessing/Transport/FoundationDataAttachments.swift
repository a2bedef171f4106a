// The transport's handling of Foundation's `Data` (found at run time by `FoundationData`; why
// at run time: see FoundationData.swift): a large `Data` item of a chunk travels as an attachment,
// as a large `[UInt8]` does, sent from its own storage and received straight into a new `Data`.

extension FoundationData {
    /// How the attachment path and the frame reader handle `Data`, or nil in a process without
    /// Foundation.
    static let attachments: (any ByteCollectionAttachments)? = type.map { attachments(for: $0) }

    private static func attachments<C: RangeReplaceableCollection<UInt8>>(for _: C.Type) -> any ByteCollectionAttachments {
        CollectionAttachments<C>()
    }
}

/// How the attachment path and the frame reader handle one byte collection type known only at run
/// time (`FoundationData`'s). A `Values` must be an array of it: callers compare type identities
/// first.
protocol ByteCollectionAttachments: Sendable {
    /// The identity of an array of the collection type.
    var arrayTypeID: ObjectIdentifier { get }
    /// `values` with its large elements as attachments, or nil when none is large.
    func attachingLargeBuffers<Values>(_ values: Values) -> EncodedItems?
    /// The array encoded items with attachments holds.
    func decodeItems<Values>(_ items: EncodedItems, as type: Values.Type) throws -> Values
    /// A new collection of `count` bytes that `fill` writes straight into its storage: called
    /// once or twice, for consecutive parts, in order.
    func receive(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> WireBytes
}

/// `ByteCollectionAttachments` for a collection of bytes that can be built from a sequence of
/// bytes.
struct CollectionAttachments<C: RangeReplaceableCollection<UInt8>>: ByteCollectionAttachments {
    let arrayTypeID = ObjectIdentifier([C].self)

    func attachingLargeBuffers<Values>(_ values: Values) -> EncodedItems? {
        EncodedItems.attachingLargeBuffers(identityCast(values, to: [C].self), as: CollectionBuffers<C>.self)
    }

    func decodeItems<Values>(_ items: EncodedItems, as _: Values.Type) throws -> Values {
        identityCast(try items.decodeByteBuffers(as: CollectionBuffers<C>.self), to: Values.self)
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

/// The attachment path's handling of a collection type's buffers.
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
