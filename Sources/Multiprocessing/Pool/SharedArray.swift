/// An array in memory shared by the processes of a pool: a task receives it by handle and reads
/// or writes it in place, with no copy of its elements either way.
///
/// The memory is an anonymous memfd (no file in `/dev/shm`), so nothing is left behind whoever
/// dies; it is freed when the last process holding it lets go. Encoding a shared array (as a
/// task's input, output or stored property) sends a handle; the receiving process reopens the
/// memfd through `/proc` and maps it once, and keeps the mapping for the tasks that follow.
///
/// ```swift
/// struct AddOne: PoolTask {
///     func run(_ tile: SharedArray<UInt8>.Slice) async throws -> Int {
///         try tile.withUnsafeMutableBufferPointer { bytes in
///             for i in bytes.indices { bytes[i] &+= 1 }
///         }
///         return tile.count
///     }
/// }
/// let image = try SharedArray<UInt8>(count: 64 << 20)
/// _ = try await pool.map(AddOne(), image.slices(of: 1 << 20))   // image's bytes are now 1
/// ```
///
/// It is a reference: copies of the value, here or in other processes, are views of the same
/// memory, and concurrent writes to the same elements race as they would through any
/// `UnsafeMutableBufferPointer`. ``freeze()`` makes it read-only for every process.
///
/// A worker killed in the middle of a write leaves the writes it made (the mapping is
/// `MAP_SHARED`); the array stays usable in the caller.
///
/// The process that makes an array must hold it until the receivers have it: one made in a
/// task and returned is released when the task ends, and the caller gets
/// ``SharedArrayError/unavailable(_:)``.
///
/// It is shared between processes of one machine. On a cluster pool (the `MPI` trait), a rank on
/// another host gets a copy of the elements a chunk's handles refer to, and the bytes its tasks
/// changed come back into this array before the results are delivered, when every item of the
/// chunk succeeded: the same code works, at the cost of a copy each way (see
/// <doc:RunningOnACluster>, "Shared arrays across hosts").
public struct SharedArray<Element: BitwiseCopyable>: Sendable, Codable {
    let memory: SharedMemory
    /// The number of elements.
    public let count: Int

    /// An array of `count` elements whose bytes are all zero.
    public init(count: Int) throws(SharedArrayError) {
        guard count >= 0 else { throw .invalidArgument("a negative count (\(count))") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        guard !overflow else { throw .invalidArgument("\(count) elements overflow the address space") }
        memory = try SharedMemory(byteCount: bytes)
        self.count = count
    }

    /// An array with a copy of `elements`.
    public init(_ elements: [Element]) throws(SharedArrayError) {
        try self.init(count: elements.count)
        let target = UnsafeMutableRawPointer(memory.base)
        elements.withUnsafeBytes { source in
            if let start = source.baseAddress { target.copyMemory(from: start, byteCount: source.count) }
        }
    }

    /// Whether the array is frozen: it can be read, not written, by any process.
    public var isReadOnly: Bool { memory.isReadOnly }

    /// Makes the array read-only for good, in every process: this process's mapping becomes
    /// read-only and the memfd is sealed against writes (`F_SEAL_WRITE`), so a task that tries
    /// to write gets ``SharedArrayError/readOnly`` from
    /// ``withUnsafeMutableBufferPointer(_:)``. Freeze it before it is shared: it throws
    /// ``SharedArrayError/systemCallFailed(_:)`` while a worker still maps it writable, and in
    /// any process but the one that made it.
    public func freeze() throws(SharedArrayError) {
        try memory.freeze()
    }

    /// Calls `body` with the elements, read-only.
    public func withUnsafeBufferPointer<R, E: Error>(_ body: (UnsafeBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
        try body(UnsafeBufferPointer(start: memory.base.assumingMemoryBound(to: Element.self), count: count))
    }

    /// Calls `body` with the elements to write in place; throws ``SharedArrayError/readOnly``
    /// without calling it when the array is frozen.
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) throws -> R {
        guard !isReadOnly else { throw SharedArrayError.readOnly }
        return try body(UnsafeMutableBufferPointer(start: memory.base.assumingMemoryBound(to: Element.self), count: count))
    }

    /// The element at `index`. Setting one in a frozen array stops the program with a message
    /// (``withUnsafeMutableBufferPointer(_:)`` throws instead).
    public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "SharedArray index \(index) out of range 0..<\(count)")
            return memory.base.assumingMemoryBound(to: Element.self)[index]
        }
        nonmutating set {
            precondition(index >= 0 && index < count, "SharedArray index \(index) out of range 0..<\(count)")
            precondition(!isReadOnly, "SharedArray is read-only (frozen): it cannot be written")
            memory.base.assumingMemoryBound(to: Element.self)[index] = newValue
        }
    }

    /// A copy of the elements in an ordinary array.
    public func toArray() -> [Element] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// A view of the elements in `bounds`, which a task can receive instead of the whole array.
    public subscript(bounds: Range<Int>) -> Slice {
        precondition(bounds.lowerBound >= 0 && bounds.upperBound <= count, "SharedArray slice \(bounds) out of range 0..<\(count)")
        return Slice(base: self, range: bounds)
    }

    /// The array cut into consecutive slices of `size` elements (the last may be shorter): the
    /// inputs of a `map` that works on it in place.
    public func slices(of size: Int) -> [Slice] {
        precondition(size > 0, "SharedArray.slices(of:) needs a positive size, not \(size)")
        return stride(from: 0, to: count, by: size).map { Slice(base: self, range: $0..<Swift.min($0 + size, count)) }
    }

    /// Encodes the handle (where the memory is) and the count, not the elements.
    public func encode(to encoder: any Encoder) throws {
        try encode(to: encoder, referring: 0..<count)
    }

    /// Encodes the handle as referring to the elements in `elements` only (what a slice uses):
    /// where the memory cannot be shared, only those are copied.
    func encode(to encoder: any Encoder, referring elements: Range<Int>) throws {
        var handle = memory.currentHandle
        let stride = MemoryLayout<Element>.stride
        handle.referencedStart = elements.lowerBound * stride
        handle.referencedCount = elements.count * stride
        var container = encoder.unkeyedContainer()
        try container.encode(handle)
        try container.encode(count)
    }

    /// Maps the memory the handle names (once per process: later arrivals reuse the mapping).
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let handle = try container.decode(SharedMemoryHandle.self)
        let count = try container.decode(Int.self)
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        guard count >= 0, !overflow, bytes <= handle.byteCount else {
            throw SharedArrayError.invalidArgument("\(count) elements of \(Element.self) do not fit in \(handle.byteCount) bytes")
        }
        memory = try SharedMemoryRegistry.memory(for: handle)
        self.count = count
    }
}
