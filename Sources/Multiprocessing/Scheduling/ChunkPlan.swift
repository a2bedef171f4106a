/// How a `map` call cuts its items into chunks.
///
/// With a `chunksize`, every chunk has that many items, as in Python. Without one, Python cuts
/// four equal chunks per worker; when the workers do not run at the same speed (another process
/// on one CPU, a slower vCPU) one of them ends a whole chunk after the other and the pool waits
/// for it. The default here is *factoring* (Hummel, Schonberg and Flynn, 1992): chunks are cut
/// in rounds of one per worker, each chunk of a round half an even share of what is left, so
/// the chunks shrink as the call goes on and the last ones are small enough for the workers to
/// finish together. A floor of an eighth of Python's chunk keeps cheap items in large chunks:
/// the call makes at most about twice Python's number of chunks. A ceiling,
/// ``largestDefaultChunk`` items, bounds what one chunk costs the parent while it is in flight
/// (its input encoded unless it goes in place, see ``InPlaceInputs``; its answer read and
/// placed), so that a call of millions of items holds little more than its results; such a
/// call has more chunks than Python's.
struct ChunkPlan {
    /// The most items a default chunk has.
    static let largestDefaultChunk = 65_536

    /// Item ranges of the chunks, in input order.
    let ranges: [Range<Int>]

    /// `itemCount` items in chunks of `size` (the last one may be shorter).
    init(itemCount: Int, size: Int) {
        precondition(size >= 1)
        ranges = stride(from: 0, to: itemCount, by: size).map { $0..<min($0 + size, itemCount) }
    }

    /// The default: factoring for `processes` workers.
    init(itemCount: Int, processes: Int) {
        let workers = max(1, processes)
        let pythonSize = Self.ceilingDivision(itemCount, 4 * workers)
        let floor = max(1, Self.ceilingDivision(pythonSize, 8))
        var ranges: [Range<Int>] = []
        var start = 0
        while start < itemCount {
            let size = min(max(floor, Self.ceilingDivision(itemCount - start, 2 * workers)), Self.largestDefaultChunk)
            for _ in 0..<workers where start < itemCount {
                let end = min(start + size, itemCount)
                ranges.append(start..<end)
                start = end
            }
        }
        self.ranges = ranges
    }

    private static func ceilingDivision(_ a: Int, _ b: Int) -> Int {
        let (quotient, remainder) = a.quotientAndRemainder(dividingBy: b)
        return quotient + (remainder > 0 ? 1 : 0)
    }
}
