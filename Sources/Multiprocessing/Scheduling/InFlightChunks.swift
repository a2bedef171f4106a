/// The chunks sent to a worker and not yet answered, in send order: an array whose front can be
/// removed in constant time.
///
/// Answers come in send order, so nearly every removal is of the first chunk; in an array
/// each one moved every chunk behind it, a pipeline's worth on every answer. A removed chunk
/// leaves its slot empty at once, so that its encoded frame is not kept until the storage is
/// compacted.
struct InFlightChunks: RandomAccessCollection, ExpressibleByArrayLiteral {
    private var storage: [ChunkWork?] = []
    private var head = 0

    init() {}

    init(arrayLiteral chunks: ChunkWork...) {
        storage = chunks.map { Optional($0) }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { storage.count - head }

    subscript(position: Int) -> ChunkWork {
        storage[head + position]!
    }

    /// Adds a chunk sent after the others.
    mutating func append(_ chunk: ChunkWork) {
        storage.append(chunk)
    }

    /// Removes and returns the chunk at `position`; the first in constant time.
    @discardableResult
    mutating func remove(at position: Int) -> ChunkWork {
        guard position == 0 else { return storage.remove(at: head + position)! }
        let chunk = storage[head].take()!
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 32 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return chunk
    }
}
