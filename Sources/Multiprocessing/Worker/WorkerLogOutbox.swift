import Logging
import Synchronization

/// A worker's swift-log records waiting to go to the parent (``ProcessPool/WorkerLogs/parent``):
/// a bounded buffer the task's log calls append to without waiting, and the lock every write
/// to the answers line takes, so that a batch of records sent by the outbox's thread never cuts
/// into an answer.
///
/// `@unchecked Sendable`: `records` and `dropped` are guarded by `condition`'s mutex; writes
/// to the worker's answer descriptors by `writeLock`.
final class WorkerLogOutbox: @unchecked Sendable {
    /// Records held at most; the ones that find the buffer full are dropped and counted.
    let capacity: Int
    /// Taken around every frame written to the parent, so that frames never interleave.
    let writeLock = Mutex<Void>(())
    /// The longest message or metadata value sent, in bytes: a record must fit a frame the
    /// parent accepts (`maxMessageBytes`, 1 KiB at the least).
    let longestText: Int
    private let condition = Condition()
    private var records: [WorkerLogBatch.Record] = []
    private var dropped: UInt64 = 0
    private var senderWaits = false
    /// Whether records or a drop count wait: a lock-free look for the serve loop's every reply.
    private let waiting = Atomic<Bool>(false)

    init(capacity: Int, maxMessageBytes: Int) {
        self.capacity = capacity
        longestText = min(16 * 1024, maxMessageBytes / 8)
        records.reserveCapacity(min(capacity, 256))
    }

    /// Adds `record`, or counts it as dropped when the buffer is full; never waits for the
    /// parent.
    func append(_ record: WorkerLogBatch.Record) {
        condition.withLock {
            if records.count < capacity {
                records.append(record)
            } else {
                dropped += 1
            }
            waiting.store(true, ordering: .releasing)
            if senderWaits { condition.signal() }
        }
    }

    /// Whether anything waits to be sent.
    var hasWaiting: Bool { waiting.load(ordering: .acquiring) }

    /// Takes everything waiting, as a batch; nil when nothing does.
    func take() -> WorkerLogBatch? {
        condition.withLock {
            guard !records.isEmpty || dropped > 0 else { return nil }
            let batch = WorkerLogBatch(records: records, dropped: dropped)
            records.removeAll(keepingCapacity: true)
            dropped = 0
            waiting.store(false, ordering: .releasing)
            return batch
        }
    }

    /// Blocks the calling thread until something waits to be sent.
    func waitForRecords() {
        condition.withLock {
            while records.isEmpty && dropped == 0 {
                senderWaits = true
                condition.wait()
                senderWaits = false
            }
        }
    }

    /// `text` cut to `longestText` bytes (on a character boundary), marked as cut.
    func bounded(_ text: String) -> String {
        guard text.utf8.count > longestText else { return text }
        var cut = ""
        for character in text {
            if cut.utf8.count + character.utf8.count > longestText - 16 { break }
            cut.append(character)
        }
        return cut + " [truncated]"
    }
}

/// The log handler a worker installs when its records go to the parent: it flattens each
/// record and leaves it in the worker's ``WorkerLogOutbox``.
struct ParentForwardingLogHandler: LogHandler {
    let label: String
    let outbox: WorkerLogOutbox
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        if let error = event.error { merged["error"] = "\(error)" }
        let flattened = merged.sorted { $0.key < $1.key }.map { (key: $0.key, value: outbox.bounded("\($0.value)")) }
        outbox.append(
            WorkerLogBatch.Record(
                level: event.level.rawValue, message: outbox.bounded(event.message.description), metadata: flattened,
                label: label, source: event.source, file: event.file, function: event.function, line: UInt64(event.line)))
    }
}
