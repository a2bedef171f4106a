/// A snapshot of a mapping call's progress: how many items are done and failed, out of how
/// many, how fast, and about how long the rest will take. The items of ``AsyncResult/progress``
/// and ``IMapSequence/progress``, and what `map`'s and `starmap`'s `progress` handler receives.
///
/// ```swift
/// let handle = try pool.mapAsync(Render(), frames)
/// for await p in handle.progress {
///     print(p.completed, p.total ?? 0, p.fractionCompleted ?? 0, p.estimatedTimeRemaining ?? .zero)
/// }
/// let images = try await handle.get()
/// ```
/// Snapshots are coalesced: a consumer slower than the workers gets the latest one, never a
/// backlog. Counts never go down from one snapshot to the next, and the last one, with
/// ``isFinished`` set, comes when the call ends.
public struct CallProgress: Sendable, Hashable, CustomStringConvertible {
    /// Items that succeeded.
    public let done: Int
    /// Items that failed: the task threw, or the item was lost with its worker or ran over its
    /// time limit.
    public let failed: Int
    /// Every item of the call; nil while an `imap`'s lazy input is still being read.
    public let total: Int?
    /// Time since the call started.
    public let elapsed: Duration
    /// True in the last snapshot, sent when the call ends (every item is in, or it failed or was
    /// cancelled early).
    public let isFinished: Bool

    init(done: Int, failed: Int, total: Int?, elapsed: Duration, isFinished: Bool) {
        self.done = done
        self.failed = failed
        self.total = total
        self.elapsed = elapsed
        self.isFinished = isFinished
    }

    /// Items that are in, done or failed.
    public var completed: Int { done + failed }

    /// `completed / total`, from 0 to 1; nil while the total is unknown. A call of no items
    /// is complete.
    public var fractionCompleted: Double? {
        guard let total else { return nil }
        return total == 0 ? 1 : Double(completed) / Double(total)
    }

    /// Items completed per second since the call started (tqdm's average rate); nil until the
    /// first item is in.
    public var itemsPerSecond: Double? {
        let seconds = Self.seconds(elapsed)
        guard completed > 0, seconds > 0 else { return nil }
        return Double(completed) / seconds
    }

    /// The items left at the average rate so far; nil while the total or the rate is unknown.
    /// Zero once every item is in.
    public var estimatedTimeRemaining: Duration? {
        guard let total else { return nil }
        let left = max(0, total - completed)
        if left == 0 { return .zero }
        guard let rate = itemsPerSecond else { return nil }
        return .nanoseconds(Int64((Double(left) / rate * 1e9).rounded()))
    }

    /// "37/100 items, 2 failed, 12.5 items/s, 5 s left": a progress line.
    public var description: String {
        var text = "\(completed)/\(total.map(String.init) ?? "?") items"
        if failed > 0 { text += ", \(failed) failed" }
        if let rate = itemsPerSecond { text += ", \(Self.oneDecimal(rate)) items/s" }
        if isFinished {
            text += ", finished in \(Self.oneDecimal(Self.seconds(elapsed))) s"
        } else if let left = estimatedTimeRemaining {
            text += ", \(Self.oneDecimal(Self.seconds(left))) s left"
        }
        return text
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// `value` with one decimal, without Foundation's formatting.
    private static func oneDecimal(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }
}
