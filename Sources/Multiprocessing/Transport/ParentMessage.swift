// The messages between a pool and its workers, as bytes. The format knows nothing of the
// channel that carries it: a socket adds a length prefix (`makeFrame`), a cluster transport
// would carry the same bytes in its own envelopes.

/// What a worker needs to know before it runs anything.
struct WorkerConfiguration: Sendable, Equatable {
    /// The process name the worker takes (Python's "SpawnPoolWorker-1").
    var workerName: String
    /// `Logger.Level` raw value for the process-named log handler, or nil when not installed;
    /// when logs go to the parent, the level records are sent from.
    var logLevel: String?
    /// The pool's initializer, run once before the first chunk.
    var initializer: EncodedValue?
    /// Chunks to run before exiting (Python's `maxtasksperchild`); 0 means no limit.
    var maxTasksPerChild: Int
    /// The largest message the parent accepts; a bigger result is reported as an error.
    var maxMessageBytes: Int
    /// Records the worker holds for the parent (``ProcessPool/WorkerLogs/parent``); 0 when
    /// it logs by itself.
    var forwardedLogRecords: Int = 0
    /// Resident bytes over which the worker retires after a chunk; 0 means no limit.
    var maxMemoryPerChild: Int = 0
}

/// Parent to worker.
enum ParentMessage: Sendable, Equatable {
    /// The first message a worker reads: who it is and what it runs first.
    case configure(WorkerConfiguration)
    /// Run `task` over the items encoded in `inputs` (an encoded `[Input]`), in order.
    /// `traceCarrier` is the caller's trace context, when a tracer injected one. With
    /// `mayHoldAnswer` (a chunk without a time limit) the worker may hold its answer back on its
    /// shelf while it runs the next chunks (see ``AnswerShelf``).
    case run(
        chunkID: UInt64, task: EncodedValue, inputs: EncodedItems, traceCarrier: [String: String]? = nil,
        mayHoldAnswer: Bool = false)
    /// Skip these chunks if they have not started: their call was cancelled. The worker still
    /// answers each one (as cancelled), so answers stay in send order.
    case cancel(chunkIDs: [UInt64])
    /// The next `count` run frames are a ``ChunkGroup``, offered to every worker: the worker
    /// runs the i-th only if it takes claim word `firstClaim + i` of the wake board first, and
    /// once past them all sends `.groupDone(id)`, then the answers it still holds.
    case group(id: UInt64, firstClaim: Int, count: Int)

    /// `runTraced` is `run` with a trace carrier before the task: a chunk without one is framed
    /// as before, byte for byte.
    private enum Kind: UInt8 { case configure = 1, run = 2, cancel = 3, group = 4, runTraced = 5, runMayHold = 6 }

    /// The message as one frame, length prefix included.
    func encodeFrame() -> [UInt8] {
        switch self {
        case .configure(let configuration):
            return makeFrame { writer in
                writer.writeByte(Kind.configure.rawValue)
                writer.writeString(configuration.workerName)
                writeOptionalString(configuration.logLevel, to: &writer)
                if let initializer = configuration.initializer {
                    writer.writeByte(1)
                    initializer.write(to: &writer)
                } else {
                    writer.writeByte(0)
                }
                writer.writeVarint(UInt64(configuration.maxTasksPerChild))
                writer.writeVarint(UInt64(configuration.maxMessageBytes))
                writer.writeVarint(UInt64(configuration.forwardedLogRecords))
                writer.writeVarint(UInt64(configuration.maxMemoryPerChild))
            }
        case .run(let chunkID, let task, let inputs, let traceCarrier, let mayHoldAnswer):
            return Array(
                ParentMessage.encodeRunFrame(
                    chunkID: chunkID, task: task, inputs: inputs, traceCarrier: traceCarrier, mayHoldAnswer: mayHoldAnswer
                ).joined())
        case .cancel(let chunkIDs):
            return makeFrame { writer in
                writer.writeByte(Kind.cancel.rawValue)
                writer.writeVarint(UInt64(chunkIDs.count))
                for chunkID in chunkIDs { writer.writeVarint(chunkID) }
            }
        case .group(let id, let firstClaim, let count):
            return makeFrame { writer in
                writer.writeByte(Kind.group.rawValue)
                writer.writeVarint(id)
                writer.writeVarint(UInt64(firstClaim))
                writer.writeVarint(UInt64(count))
            }
        }
    }

    /// The run frame built straight from its parts (the hot path: no intermediate enum), as
    /// the pieces to send in order: large inputs go as pieces of their own, not copied. An
    /// `inputsBody` continues the bytes of `inputs` (see ``InPlaceInputs``). A traced run's answer
    /// is never held.
    static func encodeRunFrame(
        chunkID: UInt64, task: EncodedValue, inputs: EncodedItems, inputsBody: WireBytes? = nil,
        traceCarrier: [String: String]? = nil, mayHoldAnswer: Bool = false
    ) -> [WireBytes] {
        guard let traceCarrier else {
            return framePieces(
                headerCapacity: 32 + task.typeName.utf8.count + task.payload.count, tail: inputs, tailBody: inputsBody
            ) { writer in
                writer.writeByte(mayHoldAnswer ? Kind.runMayHold.rawValue : Kind.run.rawValue)
                writer.writeVarint(chunkID)
                task.write(to: &writer)
            }
        }
        let carrierBytes = traceCarrier.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 10 }
        return framePieces(
            headerCapacity: 48 + carrierBytes + task.typeName.utf8.count + task.payload.count, tail: inputs,
            tailBody: inputsBody
        ) { writer in
            writer.writeByte(Kind.runTraced.rawValue)
            writer.writeVarint(chunkID)
            writer.writeVarint(UInt64(traceCarrier.count))
            for (key, value) in traceCarrier.sorted(by: { $0.key < $1.key }) {
                writer.writeString(key)
                writer.writeString(value)
            }
            task.write(to: &writer)
        }
    }

    /// Decodes a frame's message; only a run frame may come with attachments.
    static func decode(
        _ bytes: ArraySlice<UInt8>, attachments: [WireBytes] = [], lastTask: EncodedValue? = nil
    ) throws -> ParentMessage {
        var reader = ByteReader(bytes)
        let kind = Kind(rawValue: try reader.readByte())
        guard attachments.isEmpty || kind == .run || kind == .runMayHold || kind == .runTraced else {
            throw BinaryCodingError.invalidData("attachments on a message that cannot have them")
        }
        switch kind {
        case .configure:
            let name = try reader.readString()
            let level = try readOptionalString(from: &reader)
            let initializer = try reader.readByte() == 1 ? try EncodedValue.read(from: &reader) : nil
            let maxTasksPerChild = Int(clamping: try reader.readVarint())
            let maxMessageBytes = Int(clamping: try reader.readVarint())
            let forwardedLogRecords = Int(clamping: try reader.readVarint())
            let maxMemoryPerChild = Int(clamping: try reader.readVarint())
            return .configure(
                WorkerConfiguration(
                    workerName: name, logLevel: level, initializer: initializer, maxTasksPerChild: maxTasksPerChild,
                    maxMessageBytes: maxMessageBytes, forwardedLogRecords: forwardedLogRecords,
                    maxMemoryPerChild: maxMemoryPerChild))
        case .run, .runMayHold:
            let chunkID = try reader.readVarint()
            let task = try EncodedValue.read(from: &reader, reusing: lastTask)
            let inputs = try reader.readLengthPrefixed()
            return .run(
                chunkID: chunkID, task: task, inputs: EncodedItems(bytes: inputs, attachments: attachments),
                mayHoldAnswer: kind == .runMayHold)
        case .runTraced:
            let chunkID = try reader.readVarint()
            let count = Int(clamping: try reader.readVarint())
            guard count <= reader.remaining else {
                throw BinaryCodingError.invalidData("trace carrier count \(count) exceeds the frame")
            }
            var carrier: [String: String] = [:]
            for _ in 0..<count {
                let key = try reader.readString()
                carrier[key] = try reader.readString()
            }
            let task = try EncodedValue.read(from: &reader, reusing: lastTask)
            let inputs = try reader.readLengthPrefixed()
            return .run(
                chunkID: chunkID, task: task, inputs: EncodedItems(bytes: inputs, attachments: attachments), traceCarrier: carrier)
        case .cancel:
            let count = Int(clamping: try reader.readVarint())
            guard count <= reader.remaining else {
                throw BinaryCodingError.invalidData("cancel count \(count) exceeds the frame")
            }
            var chunkIDs: [UInt64] = []
            for _ in 0..<count { chunkIDs.append(try reader.readVarint()) }
            return .cancel(chunkIDs: chunkIDs)
        case .group:
            let id = try reader.readVarint()
            let firstClaim = Int(clamping: try reader.readVarint())
            let count = Int(clamping: try reader.readVarint())
            guard firstClaim <= WakeBoard.claimCapacity && count <= WakeBoard.claimCapacity - firstClaim else {
                throw BinaryCodingError.invalidData(
                    "claim words \(firstClaim)..<\(firstClaim)+\(count) exceed the board's \(WakeBoard.claimCapacity)")
            }
            return .group(id: id, firstClaim: firstClaim, count: count)
        case nil:
            throw BinaryCodingError.invalidData("unknown message kind from the parent")
        }
    }
}

private func writeOptionalString(_ value: String?, to writer: inout ByteWriter) {
    if let value {
        writer.writeByte(1)
        writer.writeString(value)
    } else {
        writer.writeByte(0)
    }
}

private func readOptionalString(from reader: inout ByteReader) throws -> String? {
    try reader.readByte() == 1 ? try reader.readString() : nil
}
