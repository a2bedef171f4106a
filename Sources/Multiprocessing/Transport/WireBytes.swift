/// Bytes that go on the wire as one piece: a frame's head, or an attachment (see `EncodedItems`).
///
/// Usually an array. A large Foundation `Data` stays a `Data` (boxed, see `FoundationData`): it
/// is written from its own storage and received straight into a new one, so it is copied once
/// per hop, by the kernel, as an array is; turning it into an array would copy it again.
struct WireBytes: Sendable, Sequence, Equatable {
    private enum Storage: Sendable {
        case array([UInt8])
        case collection(any ByteCollectionBox)
    }

    private let storage: Storage
    /// The number of bytes.
    let count: Int

    init(_ array: [UInt8]) {
        storage = .array(array)
        count = array.count
    }

    init(_ box: any ByteCollectionBox) {
        storage = .collection(box)
        count = box.count
    }

    /// The array, when these bytes are one (not a boxed collection).
    var array: [UInt8]? {
        if case .array(let array) = storage { return array }
        return nil
    }

    /// The boxed collection, when these bytes are one.
    var box: (any ByteCollectionBox)? {
        if case .collection(let box) = storage { return box }
        return nil
    }

    /// Calls `body` with the bytes where they are stored.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .array(let array): return try array.withUnsafeBytes(body)
        case .collection(let box): return try box.withUnsafeBytes(body)
        }
    }

    /// The bytes in an array of their own (a copy for a boxed collection).
    var bytes: [UInt8] {
        array ?? withUnsafeBytes { Array($0) }
    }

    var underestimatedCount: Int { count }

    func makeIterator() -> IndexingIterator<[UInt8]> {
        bytes.makeIterator()
    }

    static func == (lhs: WireBytes, rhs: WireBytes) -> Bool {
        lhs.count == rhs.count && lhs.withUnsafeBytes { l in rhs.withUnsafeBytes { r in l.elementsEqual(r) } }
    }
}

extension Array where Element == WireBytes {
    /// The number of bytes in all the pieces.
    var byteCount: Int { reduce(0) { $0 + $1.count } }
}

/// A byte collection held as a piece of `WireBytes`.
protocol ByteCollectionBox: AnyObject, Sendable {
    /// The number of bytes.
    var count: Int { get }
    /// Calls `body` with the bytes where they are stored.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}
