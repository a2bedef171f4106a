import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Memory shared by a pool and its workers (five pages of a memfd, then a shelf per slot), where
/// idle workers sleep on a Linux futex and keep the answers they hold back (``AnswerShelf``).
///
/// A worker with nothing to do used to sleep in `poll` on its socket, so each chunk sent to an
/// idle worker woke it then and there. At the start of a `map` the thread handing out chunks
/// wakes one worker after another; the kernel often put the first one on that thread's own CPU
/// and preempted the thread for it on its way out of `send`, and the next worker got its chunk
/// only after the kernel's next tick, milliseconds late. Sleeping on the board instead, a
/// worker is not woken by the data: the sender writes to every worker first, then wakes all
/// the sleeping ones with one system call (``ring(_:)``), so there is nothing left to do when
/// the preemption comes. A futex wake-up is also not the "sync" kind a socket's is, which had
/// the kernel place the worker on the sender's CPU; that counts most when other processes keep
/// the CPUs busy.
///
/// Each worker has a slot (at most `CMP_WAKE_BOARD_SLOTS` at a time; past that a worker waits
/// in `poll` as before, as a serving rank's workers always do: `WorkerIdleWait.waitsOnSocket`)
/// and a wake-up bit, its slot modulo 32: workers sharing a bit only wake
/// each other for nothing. See `cmp_wake_board_sleep_until_readable` for the protocol.
///
/// The board also holds the claim words of a ``ChunkGroup``: chunks offered to every worker at
/// once, each run by the first worker to claim it.
///
/// `@unchecked Sendable`: the page is only touched through the C functions' atomic operations;
/// the descriptor and the free slots are behind mutexes.
final class WakeBoard: @unchecked Sendable {
    /// The memfd (-1 once closed): a worker gets a copy as descriptor
    /// `WorkerEnvironment.wakeBoardDescriptor`.
    private let descriptor: Mutex<Int32>
    private let page: UnsafeMutableRawPointer
    private let freeSlots: Mutex<[Int32]>

    /// A new board, or nil where memfd or mmap fail (workers then wait in `poll`).
    static func make() -> WakeBoard? {
        let descriptor = cmp_wake_board_create()
        guard descriptor >= 0 else { return nil }
        guard let page = cmp_wake_board_map(descriptor) else {
            close(descriptor)
            return nil
        }
        return WakeBoard(descriptor: descriptor, page: page)
    }

    private init(descriptor: Int32, page: UnsafeMutableRawPointer) {
        self.descriptor = Mutex(descriptor)
        self.page = page
        freeSlots = Mutex((0..<Int32(CMP_WAKE_BOARD_SLOTS)).reversed())
    }

    deinit {
        cmp_wake_board_unmap(page)
        closeDescriptor()
    }

    /// A close-on-exec copy of the memfd for a worker about to be spawned (the caller closes
    /// it), or nil once the pool has ended: a copy cannot be closed under the spawn's feet.
    func descriptorCopy() -> Int32? {
        descriptor.withLock { descriptor in
            guard descriptor >= 0 else { return nil }
            let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
            return copy >= 0 ? copy : nil
        }
    }

    /// Closes the memfd once the pool's last worker is gone and none will be spawned: a pool
    /// that was joined holds no descriptor. The page stays mapped until the board is freed.
    func closeDescriptor() {
        descriptor.withLock { descriptor in
            if descriptor >= 0 { close(descriptor) }
            descriptor = -1
        }
    }

    /// A free slot, marked awake; nil if all are taken.
    func takeSlot() -> WakeTarget? {
        guard let slot = freeSlots.withLock({ $0.popLast() }) else { return nil }
        cmp_wake_board_reset(page, slot)
        return WakeTarget(board: self, slot: slot)
    }

    /// Gives back a slot whose worker has exited.
    func returnSlot(_ target: WakeTarget) {
        freeSlots.withLock { $0.append(target.slot) }
    }

    fileprivate func isAsleep(_ slot: Int32) -> Bool {
        cmp_wake_board_is_asleep(page, slot) != 0
    }

    /// How many rings a slot has had (for tests).
    func ringCount(_ target: WakeTarget) -> UInt32 {
        cmp_wake_board_rings(page, target.slot)
    }

    /// Wakes the workers of these slots with one system call.
    func ring(_ slots: [Int32]) {
        guard !slots.isEmpty else { return }
        slots.withUnsafeBufferPointer { cmp_wake_board_ring(page, $0.baseAddress, Int32($0.count)) }
    }

    fileprivate func chunksTaken(_ slot: Int32) -> UInt32 {
        cmp_wake_board_taken(page, slot)
    }

    fileprivate func shelfLeftovers(_ slot: Int32) -> [UInt8] {
        AnswerShelf.takeLeftovers(cmp_wake_board_shelf(page, slot))
    }

    /// How many claim words the board has.
    static let claimCapacity = Int(CMP_WAKE_BOARD_CLAIMS)
    /// What the parent writes in a claim word it withdraws.
    static let parentClaimant = UInt32(CMP_WAKE_BOARD_PARENT_CLAIM)
    /// What the worker of `slot` writes in the claim words it takes (0 means free).
    static func claimant(slot: Int32) -> UInt32 { UInt32(slot) + 1 }

    /// Frees claim words `words` for a new group; no worker may be using them.
    func freeClaims(_ words: Range<Int>) {
        cmp_wake_board_free_claims(page, Int32(words.lowerBound), Int32(words.count))
    }

    /// Takes claim word `index` for the parent if it is free, so that no worker starts its chunk.
    func withdraw(_ index: Int) -> Bool {
        cmp_wake_board_claim(page, Int32(index), CMP_WAKE_BOARD_PARENT_CLAIM) != 0
    }

    /// Who holds claim word `index`: 0 for nobody, a slot + 1 for a worker
    /// (``WakeTarget/claimant``), ``parentClaimant`` for the parent.
    func claimant(_ index: Int) -> UInt32 {
        cmp_wake_board_claimant(page, Int32(index))
    }
}

/// A worker's slot on its pool's board: what a sender checks after writing to the worker.
struct WakeTarget: Sendable {
    let board: WakeBoard
    let slot: Int32

    /// Whether the worker sleeps on the board, so that what was sent to it needs a ring.
    var isAsleep: Bool { board.isAsleep(slot) }

    /// Rings for this worker alone if it is asleep.
    func wakeIfAsleep() {
        if isAsleep { board.ring([slot]) }
    }

    /// What this worker writes in the claim words it takes.
    var claimant: UInt32 { WakeBoard.claimant(slot: slot) }

    /// How many chunks (of groups excepted) the worker has taken to run; final once it is gone.
    var chunksTaken: UInt32 { board.chunksTaken(slot) }

    /// The answers the worker held back on its shelf (``AnswerShelf``) and had not written when
    /// it ended: its frames, back to back. Read once the worker is gone, before the slot goes back.
    func shelfLeftovers() -> [UInt8] { board.shelfLeftovers(slot) }
}

/// The worker's side of the board: its mapping of the page and its slot.
///
/// `@unchecked Sendable`: the page is only touched through the C functions' atomic operations,
/// and `unrung` only by the serve loop, the one caller of ``sleep(untilReadable:)``.
final class WorkerWakeBoard: @unchecked Sendable {
    private let page: UnsafeMutableRawPointer
    private let slot: Int32
    /// The slot's ring count when the last sleep ended by timeout with data waiting, or -1.
    private var unrung: Int64 = -1

    /// How long a sleep lasts before the worker looks at its socket anyway. Only a missed ring
    /// (a bug), or a sender not run for that long between its send and its ring, would make a
    /// worker wait that long; shorter, the second happened in tests beside busy processes, and
    /// an idle worker looks four times a second.
    static let timeoutMilliseconds: Int32 = 250
    /// Sleeps on the board in this process, and how many ended by timeout with data waiting
    /// and no ring for it even later: for tests, which expect the second to stay 0.
    static let sleeps = Atomic<Int>(0)
    static let missedRings = Atomic<Int>(0)

    /// Maps the board passed as `descriptor` and closes the descriptor; nil if it cannot be
    /// mapped (the worker then waits in `poll`).
    init?(descriptor: Int32, slot: Int32) {
        defer { close(descriptor) }
        guard slot >= 0 && slot < CMP_WAKE_BOARD_SLOTS, let page = cmp_wake_board_map(descriptor) else { return nil }
        self.page = page
        self.slot = slot
    }

    /// Takes claim word `index` for this worker if it is free: whether it got it.
    func claim(_ index: Int32) -> Bool {
        cmp_wake_board_claim(page, index, WakeBoard.claimant(slot: slot)) != 0
    }

    /// The worker's shelf, where it holds back answers to write up `answers` (see ``AnswerShelf``).
    func shelf(answers: Int32, logs: WorkerLogOutbox?) -> AnswerShelf {
        AnswerShelf(cmp_wake_board_shelf(page, slot), answers: answers, logs: logs)
    }

    /// Counts a chunk taken to run or skip, before it starts: if the worker dies, the parent
    /// knows the chunks behind it were never read.
    func countTaken() {
        cmp_wake_board_count_taken(page, slot)
    }

    /// Returns once `descriptor` is readable, asleep on the board meanwhile.
    func sleep(untilReadable descriptor: Int32) {
        Self.sleeps.add(1, ordering: .relaxed)
        let missed = cmp_wake_board_sleep_until_readable(page, slot, descriptor, Self.timeoutMilliseconds, &unrung)
        if missed > 0 { Self.missedRings.add(Int(missed), ordering: .relaxed) }
    }
}
