/// A chunk received and not yet run.
struct QueuedRun {
    /// The chunk's id, which its answer carries.
    let chunkID: UInt64
    /// The task to run, as it came.
    let task: EncodedValue
    /// The chunk's items, encoded.
    let inputs: EncodedItems
    /// The caller's trace context, to run the chunk in.
    var traceCarrier: [String: String]? = nil
    /// Its answer may wait on the worker's shelf while the next chunks run (no time limit).
    var mayHoldAnswer = false
    /// The parent asked to skip it (its call was cancelled).
    var skip = false
    /// In a ``ChunkGroup``: the claim word to take before running it.
    var claim: Int32?
    /// The last chunk of group `endsGroup`: once past it, the worker sends `.groupDone`.
    var endsGroup: UInt64?
}

/// A group whose run frames are still arriving.
private struct ArrivingGroup {
    let id: UInt64
    var nextClaim: Int32
    var remaining: Int
}

/// Chunks received and not yet run, and the ids the parent asked to skip.
///
/// Named structs, not tuples: the serve loop's profile showed the runtime's generic tuple
/// copy and destroy functions on every chunk.
struct RunQueue {
    /// Optional so that a run is moved out when taken, not copied (and its parts retained).
    private var runs: [QueuedRun?] = []
    private var head = 0
    private var cancelled: Set<UInt64> = []
    private var arriving: ArrivingGroup?

    /// No run is queued.
    var isEmpty: Bool { head == runs.count }

    /// Queues what `message` asks for: a run (with its claim word, in a group), chunks to
    /// skip, or the group the next runs belong to.
    mutating func receive(_ message: ParentMessage) {
        switch message {
        case .run(let chunkID, let task, let inputs, let traceCarrier, let mayHoldAnswer):
            var run = QueuedRun(
                chunkID: chunkID, task: task, inputs: inputs, traceCarrier: traceCarrier, mayHoldAnswer: mayHoldAnswer)
            if var group = arriving {
                run.claim = group.nextClaim
                group.nextClaim += 1
                group.remaining -= 1
                if group.remaining == 0 {
                    run.endsGroup = group.id
                    arriving = nil
                } else {
                    arriving = group
                }
            }
            runs.append(run)
        case .cancel(let chunkIDs): cancelled.formUnion(chunkIDs)
        case .group(let id, let firstClaim, let count):
            if count > 0 { arriving = ArrivingGroup(id: id, nextClaim: Int32(firstClaim), remaining: count) }
        case .configure: break
        }
    }

    /// The next chunk, marked to be skipped if its call was cancelled.
    mutating func next() -> QueuedRun? {
        guard head < runs.count else { return nil }
        var run = runs[head].take()!
        head += 1
        if head == runs.count {
            runs.removeAll(keepingCapacity: true)
            head = 0
        }
        run.skip = !cancelled.isEmpty && cancelled.remove(run.chunkID) != nil
        return run
    }
}
