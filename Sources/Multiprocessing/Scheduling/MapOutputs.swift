import Synchronization

/// The outputs of one `map` call, kept where its result array will be: each chunk's outputs are
/// moved to their place as the chunk comes in, so the call never holds its outputs twice (once
/// per chunk, and again joined).
///
/// For trivial outputs (`Int`, `Double`, structs of them) the storage is the result array
/// itself, made with its full count at the start and filled in place: it is returned without a
/// copy, and its pages are touched only as outputs arrive. For the others it is a buffer that
/// is moved into the result array at the end, and whose initialized ranges are deinitialized
/// here if the call fails.
///
/// `@unchecked Sendable`: each chunk's range is written once, by the thread that finished the
/// chunk, before that thread records the chunk under ``MapJob``'s lock; ``take()`` reads the
/// whole after every chunk was recorded under that lock; `deinit` runs when no writer is left.
final class MapOutputs<Output>: @unchecked Sendable {
    let count: Int
    private let isTrivial: Bool
    /// The result array, for trivial outputs.
    private var array: [Output] = []
    /// Element 0 (nil when `count` is 0): in `array`'s storage for trivial outputs, else a
    /// buffer of our own.
    private let base: UnsafeMutablePointer<Output>?
    /// The ranges initialized in the buffer (non-trivial outputs), to deinitialize if the
    /// outputs are never taken.
    private let written = Mutex<[Range<Int>]>([])
    private var isTaken = false

    init(count: Int) {
        self.count = count
        isTrivial = _isPOD(Output.self)
        guard count > 0 else {
            base = nil
            return
        }
        if isTrivial {
            var start: UnsafeMutablePointer<Output>?
            // A trivial type has no initialization to make: every element is written (through
            // `base`) before the array is read, and dropping it reads none.
            array = [Output](unsafeUninitializedCapacity: count) { buffer, initialized in
                start = buffer.baseAddress
                initialized = count
            }
            base = start
        } else {
            base = .allocate(capacity: count)
        }
    }

    deinit {
        guard let base, !isTrivial else { return }
        if !isTaken {
            for range in written.withLock({ $0 }) { (base + range.lowerBound).deinitialize(count: range.count) }
        }
        base.deallocate()
    }

    /// Places a chunk's `outputs` from `offset` on; each range is stored at most once.
    func store(_ outputs: [Output], at offset: Int) {
        guard let base, !outputs.isEmpty else { return }
        precondition(offset >= 0 && offset + outputs.count <= count, "outputs \(offset)..<\(offset + outputs.count) of \(count)")
        outputs.withUnsafeBufferPointer { source in
            (base + offset).initialize(from: source.baseAddress!, count: source.count)
        }
        if !isTrivial { written.withLock { $0.append(offset..<(offset + outputs.count)) } }
    }

    /// Places the `count` encoded outputs of a chunk (every item succeeded) from `offset` on,
    /// copied straight from the answer's bytes: for trivial outputs that the coder writes as raw
    /// bytes. Returns false, having stored nothing, for any other (decode and ``store(_:at:)``).
    func place(_ items: EncodedItems, at offset: Int, count itemCount: Int) -> Bool {
        guard isTrivial, items.attachments.isEmpty, let base, offset >= 0, offset + itemCount <= count else { return false }
        return PackedArrayPlacement.place(items.bytes, into: UnsafeMutableBufferPointer(start: base + offset, count: itemCount))
    }

    /// Every output, in order: called once, after every range was stored.
    func take() -> [Output] {
        precondition(!isTaken, "the outputs of a map call were taken twice")
        isTaken = true
        if isTrivial || count == 0 {
            defer { array = [] }
            return array
        }
        return [Output](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.baseAddress!.moveInitialize(from: base!, count: count)
            initialized = count
        }
    }
}
