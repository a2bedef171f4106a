// The messages between a pool and its workers, as bytes. The format knows nothing of the
// channel that carries it: a socket adds a length prefix (`makeFrame`), a cluster transport
// would carry the same bytes in its own envelopes.

/// Worker to parent.
enum WorkerMessage: Sendable, Equatable {
    /// The worker is configured and runs the pool's initializer now (sent only when there is
    /// one): from here the initializer's time limit applies, not the start-up's.
    case initializing
    /// The worker is configured and its initializer ran: it takes chunks from now on.
    case ready(pid: Int32)
    /// The pool's initializer threw this; the worker exits after sending it.
    case initializerFailed(RemoteFailure)
    /// `runNanoseconds` is the time the worker spent in the chunk (the scheduler's estimate).
    case result(chunkID: UInt64, runNanoseconds: UInt64, outcome: ChunkOutcome)
    /// In the answers pipe: the worker's next message is a large one, sent on the requests
    /// socket instead (see `WorkerReplies.send`).
    case followsOnSocket
    /// The worker has passed every chunk of group `id` (run, or claimed by another worker); the
    /// answers it still held follow at once.
    case groupDone(id: UInt64)
    /// swift-log records logged in the worker, for the parent's handlers.
    case logs(WorkerLogBatch)
    /// The worker's resident memory was over the pool's `maxMemoryPerChild` after a chunk: it
    /// runs what it was sent, then exits when the parent closes its channel.
    case retiring(residentBytes: UInt64)

    private enum Kind: UInt8 {
        case ready = 1, initializerFailed = 2, result = 3, followsOnSocket = 4, groupDone = 5, initializing = 6
        case logs = 7, retiring = 8
    }
    private enum OutcomeKind: UInt8 { case allSucceeded = 0, mixed = 1, rejected = 2 }

    /// A successful result frame as pieces to send in order; large outputs are not copied into
    /// the frame. Same bytes as `.result(..., .allSucceeded(outputs))`.
    static func encodeSuccessFrame(chunkID: UInt64, runNanoseconds: UInt64, outputs: EncodedItems) -> [WireBytes] {
        framePieces(headerCapacity: 32, tail: outputs) { writer in
            // `writeSuccessFrame` writes this same header by hand: a change here goes there too
            // (WireMessageTests checks that both make the same bytes).
            writer.writeByte(Kind.result.rawValue)
            writer.writeVarint(chunkID)
            writer.writeVarint(runNanoseconds)
            writer.writeByte(OutcomeKind.allSucceeded.rawValue)
        }
    }

    /// Writes a successful result frame whose outputs are all in `outputs` (no attachments) into
    /// `writer`: the same bytes as `encodeSuccessFrame`, built where the worker keeps its next
    /// frame instead of in new arrays.
    static func writeSuccessFrame(
        chunkID: UInt64, runNanoseconds: UInt64, outputs: ArraySlice<UInt8>, into writer: inout ByteWriter
    ) {
        let lengthOffset = writer.reserveFixed32()
        let messageStart = writer.count
        writer.writeByte(Kind.result.rawValue)
        writer.writeVarint(chunkID)
        writer.writeVarint(runNanoseconds)
        writer.writeByte(OutcomeKind.allSucceeded.rawValue)
        writer.writeVarint(UInt64(outputs.count))
        writer.writeBytes(outputs)
        writer.patchFixed32(at: lengthOffset, UInt32(truncatingIfNeeded: writer.count - messageStart))
    }

    /// The message as one frame, length prefix included.
    func encodeFrame() -> [UInt8] {
        switch self {
        case .ready(let pid):
            return makeFrame { writer in
                writer.writeByte(Kind.ready.rawValue)
                writer.writeFixed(pid)
            }
        case .initializerFailed(let failure):
            return makeFrame { writer in
                writer.writeByte(Kind.initializerFailed.rawValue)
                failure.write(to: &writer)
            }
        case .followsOnSocket:
            return makeFrame { writer in writer.writeByte(Kind.followsOnSocket.rawValue) }
        case .initializing:
            return makeFrame { writer in writer.writeByte(Kind.initializing.rawValue) }
        case .groupDone(let id):
            return makeFrame { writer in
                writer.writeByte(Kind.groupDone.rawValue)
                writer.writeVarint(id)
            }
        case .logs(let batch):
            return makeFrame(capacity: 16 + batch.records.count * 96) { writer in
                writer.writeByte(Kind.logs.rawValue)
                batch.write(to: &writer)
            }
        case .retiring(let residentBytes):
            return makeFrame { writer in
                writer.writeByte(Kind.retiring.rawValue)
                writer.writeVarint(residentBytes)
            }
        case .result(let chunkID, let nanoseconds, .allSucceeded(let outputs)):
            return Array(
                WorkerMessage.encodeSuccessFrame(
                    chunkID: chunkID, runNanoseconds: nanoseconds,
                    outputs: outputs
                ).joined())
        case .result(let chunkID, let nanoseconds, let outcome):
            return makeFrame(capacity: 32 + outcome.approximateSize) { writer in
                writer.writeByte(Kind.result.rawValue)
                writer.writeVarint(chunkID)
                writer.writeVarint(nanoseconds)
                switch outcome {
                case .allSucceeded:
                    preconditionFailure("encoded by encodeSuccessFrame above")
                case .mixed(let items):
                    writer.writeByte(OutcomeKind.mixed.rawValue)
                    writer.writeVarint(UInt64(items.count))
                    for item in items {
                        switch item {
                        case .success(let bytes):
                            writer.writeByte(0)
                            writer.writeVarint(UInt64(bytes.count))
                            writer.writeBytes(bytes)
                        case .failure(let failure):
                            writer.writeByte(1)
                            failure.write(to: &writer)
                        }
                    }
                case .rejected(let failure):
                    writer.writeByte(OutcomeKind.rejected.rawValue)
                    failure.write(to: &writer)
                }
            }
        }
    }

    /// Decodes a frame's message; only a result frame may come with attachments, and only for
    /// an all-succeeded outcome.
    static func decode(_ bytes: ArraySlice<UInt8>, attachments: [WireBytes] = []) throws -> WorkerMessage {
        var reader = ByteReader(bytes)
        let kind = Kind(rawValue: try reader.readByte())
        guard attachments.isEmpty || kind == .result else {
            throw BinaryCodingError.invalidData("attachments on a message that cannot have them")
        }
        switch kind {
        case .ready:
            return .ready(pid: try reader.readFixed(Int32.self))
        case .initializerFailed:
            return .initializerFailed(try RemoteFailure.read(from: &reader))
        case .followsOnSocket:
            return .followsOnSocket
        case .initializing:
            return .initializing
        case .groupDone:
            return .groupDone(id: try reader.readVarint())
        case .logs:
            return .logs(try WorkerLogBatch.read(from: &reader))
        case .retiring:
            return .retiring(residentBytes: try reader.readVarint())
        case .result:
            let chunkID = try reader.readVarint()
            let nanoseconds = try reader.readVarint()
            let outcomeKind = OutcomeKind(rawValue: try reader.readByte())
            guard attachments.isEmpty || outcomeKind == .allSucceeded else {
                throw BinaryCodingError.invalidData("attachments on a result that cannot have them")
            }
            switch outcomeKind {
            case .allSucceeded:
                let outputs = EncodedItems(bytes: try reader.readLengthPrefixed(), attachments: attachments)
                return .result(chunkID: chunkID, runNanoseconds: nanoseconds, outcome: .allSucceeded(outputs: outputs))
            case .mixed:
                let count = Int(clamping: try reader.readVarint())
                guard count <= reader.remaining else {
                    throw BinaryCodingError.invalidData("item count \(count) exceeds the frame")
                }
                var items: [ItemOutcome] = []
                items.reserveCapacity(count)
                for _ in 0..<count {
                    if try reader.readByte() == 0 {
                        items.append(.success(try reader.readLengthPrefixed()))
                    } else {
                        items.append(.failure(try RemoteFailure.read(from: &reader)))
                    }
                }
                return .result(chunkID: chunkID, runNanoseconds: nanoseconds, outcome: .mixed(items))
            case .rejected:
                return .result(
                    chunkID: chunkID, runNanoseconds: nanoseconds,
                    outcome: .rejected(try RemoteFailure.read(from: &reader)))
            case nil:
                throw BinaryCodingError.invalidData("unknown chunk outcome kind")
            }
        case nil:
            throw BinaryCodingError.invalidData("unknown message kind from a worker")
        }
    }
}

extension ChunkOutcome {
    fileprivate var approximateSize: Int {
        switch self {
        case .allSucceeded: return 0
        case .mixed(let items): return items.count * 16
        case .rejected: return 128
        }
    }
}
