import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The answers of quick chunks a worker holds back while it runs the next ones, kept in memory
/// its parent shares (the worker's slot on the wake board), then written to the pipe together.
///
/// Every answer written wakes the parent's reader thread, and with every CPU busy that wake-up
/// costs the worker as much as a tiny chunk's run. A worker that answers a quick chunk puts the
/// answer on its shelf instead, and writes the whole shelf in one write (at most `PIPE_BUF`
/// bytes, so all or nothing of it reaches the pipe) when it holds ``maximumAnswers``, before it
/// runs a chunk whose answer may not wait (one with a time limit, a traced one, one of a group),
/// before its serve loop sends any other answer or message (log records sent by the log thread
/// may overtake held answers: they are not matched to chunks), and before it waits for work.
/// An answer is held only with runs queued behind it, or answers before it on the shelf.
///
/// A chunk that runs long after quick ones must not keep their answers from the caller: a
/// thread of the worker's own writes a shelf that has held the same burst of answers for
/// ``maximumHoldNanoseconds`` (up to twice that when bursts follow each other). It sleeps while
/// the shelf is empty.
///
/// Because the shelf is shared, answers held when the worker dies are not lost: the parent
/// reads the shelf of a worker that ended and settles the answers it had not had (a worker that
/// died after writing its shelf and before emptying it leaves answers the parent already read;
/// one that died while copying an answer onto it loses that answer, whose chunk fails with it).
///
/// `@unchecked Sendable`: the shelf's memory and every stored property are only touched with
/// `condition` locked, in this process; the parent touches the memory only while no worker uses
/// the slot (``takeLeftovers(_:)`` after the worker's end, `cmp_wake_board_reset` before the next).
final class AnswerShelf: @unchecked Sendable {
    /// The shelf's bytes past its length word.
    static let capacity = Int(CMP_WAKE_BOARD_SHELF_BYTES) - 8
    /// Answers held at most, so that the parent hears of finished chunks in bursts of this many.
    static let maximumAnswers = 16
    /// Only the answer of a chunk that ran less than this waits.
    static let quickNanoseconds: UInt64 = 50_000
    /// How long the same answers may wait on the shelf before the shelf's thread writes them.
    static let maximumHoldNanoseconds: Int64 = 1_000_000

    /// The length word; the bytes follow from byte 8.
    private let shelf: UnsafeMutableRawPointer
    /// The pipe answers go up.
    private let answers: Int32
    /// The worker's log records, whose lock is taken around every frame written, if any.
    private let logs: WorkerLogOutbox?
    /// ``maximumHoldNanoseconds``, unless a test asks for another.
    private let maximumHold: Int64
    private let condition = Condition()
    private var length = 0
    private var held = 0
    /// Counts the times the shelf went from empty to holding: the thread writes a shelf whose
    /// burst has not changed for a whole wait.
    private var burst: UInt64 = 0
    private var threadStarted = false
    private var threadAsleep = false
    /// Set if the thread could not start: nothing waits then.
    private var disabled = false

    init(
        _ shelf: UnsafeMutableRawPointer, answers: Int32, logs: WorkerLogOutbox?, maximumHold: Int64 = maximumHoldNanoseconds
    ) {
        self.shelf = shelf
        self.answers = answers
        self.logs = logs
        self.maximumHold = maximumHold
    }

    /// Holds an answer frame if it fits beside what is held (writing the shelf first if it
    /// does not); writes the shelf once it is full. Returns false for a frame too large to
    /// hold, which the caller writes itself.
    func hold(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard let source = frame.baseAddress, frame.count <= Self.capacity else { return false }
        condition.lock()
        defer { condition.unlock() }
        guard !disabled else { return false }
        if length + frame.count > Self.capacity { writeLocked() }
        if length == 0 {
            burst &+= 1
            if !threadStarted {
                guard startThread() else { return false }
            } else if threadAsleep {
                condition.signal()
            }
        }
        (shelf + 8 + length).copyMemory(from: source, byteCount: frame.count)
        length += frame.count
        held += 1
        cmp_shelf_set_length(shelf, UInt32(length))
        if held >= Self.maximumAnswers { writeLocked() }
        return true
    }

    /// Whether the shelf holds nothing.
    var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return length == 0
    }

    /// Writes what the shelf holds, if anything, in one write, and empties it.
    func write() {
        condition.lock()
        writeLocked()
        condition.unlock()
    }

    private func writeLocked() {
        guard length > 0 else { return }
        let frames = UnsafeRawBufferPointer(start: shelf + 8, count: length)
        if let logs {
            logs.writeLock.withLock { _ in WorkerReplies.writeWhole(frames, to: answers, isSocket: false) }
        } else {
            WorkerReplies.writeWhole(frames, to: answers, isSocket: false)
        }
        length = 0
        held = 0
        cmp_shelf_set_length(shelf, 0)
    }

    /// Starts the shelf's thread, which writes answers that waited ``maximumHoldNanoseconds``;
    /// whether it started.
    private func startThread() -> Bool {
        do {
            try NativeThread.detach(name: "mp-shelf") { [self] in
                condition.lock()
                while true {
                    if length == 0 {
                        threadAsleep = true
                        condition.wait()
                        threadAsleep = false
                        continue
                    }
                    let seen = burst
                    condition.wait(nanoseconds: maximumHold)
                    if burst == seen { writeLocked() }
                }
            }
            threadStarted = true
            return true
        } catch {
            // Without the thread nothing may wait: answers are written at once from now on.
            disabled = true
            return false
        }
    }

    /// What a worker that ended left on shelf `shelf`, for its parent; the shelf is emptied.
    static func takeLeftovers(_ shelf: UnsafeMutableRawPointer) -> [UInt8] {
        let length = min(Int(cmp_shelf_length(shelf)), capacity)
        guard length > 0 else { return [] }
        let bytes = [UInt8](UnsafeRawBufferPointer(start: shelf + 8, count: length))
        cmp_shelf_set_length(shelf, 0)
        return bytes
    }
}
