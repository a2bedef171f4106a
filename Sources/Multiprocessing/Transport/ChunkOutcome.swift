/// How one chunk went in the worker.
enum ChunkOutcome: Sendable, Equatable {
    /// Every item succeeded: `outputs` is an encoded `[Output]` in item order.
    case allSucceeded(outputs: EncodedItems)
    /// Some items failed: one entry per item, in order.
    case mixed([ItemOutcome])
    /// The chunk could not run at all (unknown task type, undecodable input, ...).
    case rejected(RemoteFailure)
}

/// One item's result inside a `.mixed` chunk outcome.
enum ItemOutcome: Sendable, Equatable {
    /// An encoded `Output`.
    case success(ArraySlice<UInt8>)
    /// The item's error.
    case failure(RemoteFailure)
}
