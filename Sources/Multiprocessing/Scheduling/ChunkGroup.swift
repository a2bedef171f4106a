/// The chunks of one `map` offered to every worker at once: each worker goes through them in
/// order and runs those it claims first on the wake board, so the workers share one queue, as
/// Python's pool does, and take their next chunk without the parent in between.
///
/// Handed out by the parent one at a time, each chunk of a call costs a round trip through
/// the parent: the worker's answer wakes the reader thread, which sends the next chunk. With
/// every CPU running a worker, that thread runs on the answering worker's CPU, and every chunk
/// boundary costs the worker that wake-up. In a group the workers claim chunks themselves and
/// hold their answers back (``HeldAnswers``), so a call wakes the parent about once per worker.
///
/// A pool makes a group only where it pays and cannot hurt: a call whose chunks are all
/// submitted at once, a few hundred kilobytes at most (each worker receives every chunk),
/// whose task is known to take long enough per chunk (``PoolCore/groupChunkNanoseconds``),
/// with no time limit and no `maxTasksPerChild`, on an idle pool of ready workers.
///
/// A group is *drained* once every chunk is answered (or failed): its call may be complete
/// while a worker is still passing the last chunks, claimed by others, that it has not read
/// yet. Those claim words must stay taken until it has, so consecutive groups use the two
/// halves of the board's claim words in turn, and a group can start while the one before is
/// drained.
///
/// Only touched with the pool's state locked.
final class ChunkGroup {
    let id: UInt64
    let chunks: [ChunkWork]
    /// The claim word of the first chunk.
    let firstClaim: Int
    private let board: WakeBoard
    private let positions: [UInt64: Int]
    /// Workers (keys) that have not yet passed every chunk. Until the group is drained the
    /// scheduler gives them nothing else.
    private(set) var members: Set<Int>
    /// Chunks answered, failed or taken back.
    private var settled: [Bool]
    private var unsettled: Int

    /// The most chunks a group can have: half the board's claim words.
    static let capacity = WakeBoard.claimCapacity / 2

    init(id: UInt64, chunks: [ChunkWork], members: Set<Int>, board: WakeBoard) {
        precondition(chunks.count <= Self.capacity)
        self.id = id
        self.chunks = chunks
        firstClaim = Int(id % 2) * Self.capacity
        self.board = board
        self.members = members
        var positions: [UInt64: Int] = [:]
        for (position, chunk) in chunks.enumerated() { positions[chunk.chunkID] = position }
        self.positions = positions
        settled = Array(repeating: false, count: chunks.count)
        unsettled = chunks.count
        board.freeClaims(firstClaim..<firstClaim + chunks.count)
    }

    /// Every chunk is answered, failed or taken back: workers have nothing left to claim.
    var isDrained: Bool { unsettled == 0 }

    /// Chunks not yet answered (running or waiting for a member).
    var unsettledCount: Int { unsettled }

    /// Drained, and every member has passed every chunk: the claim words are free.
    var isOver: Bool { members.isEmpty && isDrained }

    /// Where chunk `chunkID` is in the group, if it is one of its chunks.
    func position(of chunkID: UInt64) -> Int? { positions[chunkID] }

    /// Whether the worker that writes `claimant` holds the chunk at `position`.
    func isClaimed(_ position: Int, by claimant: UInt32) -> Bool { board.claimant(firstClaim + position) == claimant }

    /// Marks a chunk settled; false if it was already.
    func settle(_ position: Int) -> Bool {
        guard !settled[position] else { return false }
        settled[position] = true
        unsettled -= 1
        return true
    }

    /// A worker passed every chunk (or died). False if it was not a member.
    func leave(_ key: Int) -> Bool { members.remove(key) != nil }

    /// Settles and returns, in order, the unsettled chunks for which `take` returns true.
    private func settleAll(where take: (_ claimWord: Int) -> Bool) -> [ChunkWork] {
        var taken: [ChunkWork] = []
        for position in chunks.indices where !settled[position] && take(firstClaim + position) {
            _ = settle(position)
            taken.append(chunks[position])
        }
        return taken
    }

    /// Settles and returns the unsettled chunks the worker writing `claimant` holds: chunks it
    /// ran or was running when it died, whose answers will never come.
    func takeClaimed(by claimant: UInt32) -> [ChunkWork] {
        settleAll { board.claimant($0) == claimant }
    }

    /// Claims every chunk no worker has claimed yet for the parent, so none will start it, and
    /// settles and returns them.
    func withdrawUnclaimed() -> [ChunkWork] {
        settleAll { board.withdraw($0) }
    }

    /// Settles and returns every unsettled chunk, withdrawing those not claimed: the pool gives
    /// up on the group. Answers that still come for them are ignored.
    func abandon() -> [ChunkWork] {
        settleAll { word in
            _ = board.withdraw(word)
            return true
        }
    }

    /// Workers holding a claimed chunk that is not settled yet: running it, or holding its answer.
    func claimants() -> Set<UInt32> {
        var holders: Set<UInt32> = []
        for position in chunks.indices where !settled[position] {
            let claimant = board.claimant(firstClaim + position)
            if claimant != 0 && claimant != WakeBoard.parentClaimant { holders.insert(claimant) }
        }
        return holders
    }
}
