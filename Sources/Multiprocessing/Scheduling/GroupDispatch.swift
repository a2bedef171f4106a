/// Chunk groups: a call's chunks offered to every worker at once, claimed on the wake board
/// (see ``ChunkGroup``).
extension PoolCore {
    /// The shortest estimated chunk for which a call runs as a ``ChunkGroup``. Below it the
    /// pipelined dispatch already hides the round trips.
    static let groupChunkNanoseconds = 500_000.0
    /// The most bytes of chunks a group sends each worker.
    static let groupBytes = 256 * 1024

    /// Whether these chunks, all of one call, may run as a group: enough of them, small
    /// enough, of one task type measured to take long enough per chunk, without time limits.
    static func isGroupable(_ chunks: [ChunkWork], perItemNanoseconds: Double?) -> Bool {
        guard chunks.count >= 2, chunks.count <= ChunkGroup.capacity, let first = chunks.first,
            let perItemNanoseconds,
            chunks.allSatisfy({ $0.timeLimit == nil && $0.taskType == first.taskType && $0.sink === first.sink })
        else { return false }
        let items = chunks.reduce(0) { $0 + $1.itemCount }
        return perItemNanoseconds * Double(items) / Double(chunks.count) >= groupChunkNanoseconds
            && chunks.reduce(0, { $0 + $1.frameBytes }) <= groupBytes
    }

    /// Sends every ready worker all the chunks as a group, if the call and the pool allow it.
    /// Returns the workers to send to, or nil to dispatch the usual way.
    func offerAsGroup(_ chunks: [ChunkWork], _ state: inout SchedulerState) -> [any PoolWorker]? {
        // The group before may still have members passing its last chunks: this one takes the
        // other half of the claim words, which the one before that has left.
        if let current = state.group, !current.isDrained || state.drainedGroup != nil { return nil }
        guard let board = wakeBoard, state.pending.isEmpty, state.phase == .running, !settings.retiresWorkers,
            Self.isGroupable(chunks, perItemNanoseconds: chunks.first.flatMap { state.itemNanoseconds[$0.taskType] })
        else { return nil }
        let members = Array(state.workers.values)
        guard members.count >= 2,
            members.allSatisfy({
                $0.isReady && $0.inFlight.isEmpty && $0.killReason == nil && $0.worker.groupClaimant != nil
            })
        else { return nil }
        state.nextGroupID += 1
        let group = ChunkGroup(id: state.nextGroupID, chunks: chunks, members: Set(members.map(\.worker.key)), board: board)
        state.drainedGroup = state.group
        state.group = group
        let header = ParentMessage.group(id: group.id, firstClaim: group.firstClaim, count: chunks.count).encodeFrame()
        for slot in members {
            slot.worker.enqueue([WireBytes(header)])
            for chunk in chunks { slot.worker.enqueue(chunk.frame) }
        }
        recordGauges(state)
        return members.map(\.worker)
    }

    /// An answer to a chunk of the group, from the worker that claimed it. The answer that
    /// settles the last chunk, after every member's `.groupDone`, ends the group, before the
    /// call learns it is complete: the caller's next call finds the workers free.
    func groupAnswer(
        _ chunkID: UInt64, nanoseconds: UInt64, from worker: any PoolWorker,
        _ state: inout SchedulerState
    ) -> AnswerMatch {
        guard let group = state.group, let position = group.position(of: chunkID), let claimant = worker.groupClaimant,
            group.isClaimed(position, by: claimant)
        else {
            // After terminate() every chunk has failed already and the workers are dying.
            return state.phase == .terminating ? .ignored : .unknown
        }
        guard group.settle(position) else { return .ignored }
        let chunk = group.chunks[position]
        state.record(nanoseconds, of: chunk)
        if !group.isDrained { recordGauges(state) }
        let end = afterSettling(group, &state)
        return .chunk(AnsweredChunk(chunk: chunk, toSend: end.toSend, toShutDown: end.toShutDown))
    }

    /// Once the group is drained its workers may take other work; once over it is gone, and
    /// its claim words are free.
    func afterSettling(_ group: ChunkGroup, _ state: inout SchedulerState) -> GroupEnd {
        guard group.isDrained else { return GroupEnd() }
        if group.isOver { state.group = nil }
        return GroupEnd(toSend: schedule(&state), toShutDown: state.shutdownIfIdle())
    }

    /// A worker passed every chunk of the group; the answers it held follow. With the last
    /// member gone, chunks nobody claimed (a worker that could not) go back to the queue.
    func groupDone(_ id: UInt64, from worker: any PoolWorker) throws {
        let end: GroupEnd? = state.withLock { state in
            if let drained = state.drainedGroup, drained.id == id {
                guard drained.leave(worker.key) else { return nil }
                if drained.members.isEmpty { state.drainedGroup = nil }
                return GroupEnd()
            }
            guard let group = state.group, group.id == id, group.leave(worker.key) else { return nil }
            return lastMemberLeft(group, &state)
        }
        guard let end else {
            throw ProtocolViolation(description: "\(worker.label.name) ended group \(id), which it was not in")
        }
        end.carryOut(self)
    }

    /// After a member left: if it was the last, chunks nobody claimed go back to the queue, and
    /// the group ends if nothing is left to answer.
    func lastMemberLeft(_ group: ChunkGroup, _ state: inout SchedulerState) -> GroupEnd {
        guard group.members.isEmpty else { return GroupEnd() }
        state.pending.prepend(group.withdrawUnclaimed())
        return afterSettling(group, &state)
    }
}

/// What ending a group under the lock leaves to do after it.
struct GroupEnd {
    var toSend: [any PoolWorker] = []
    var toShutDown: [any PoolWorker] = []

    /// Sends and shutdowns, outside the lock.
    func carryOut(_ core: PoolCore) {
        core.send(to: toSend)
        for worker in toShutDown { worker.shutdownAfterQueued() }
    }
}
