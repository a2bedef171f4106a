/// The messages between a pool and its workers, as bytes. The format knows nothing of the
/// channel that carries it: a socket adds a length prefix (`makeFrame`), a cluster transport
/// would carry the same bytes in its own envelopes.

/// A value of a `Codable` type as it crosses the wire: the type's mangled name and its bytes.
@usableFromInline
struct EncodedValue: Sendable, Equatable {
    var typeName: String
    var payload: [UInt8]

    func write(to writer: inout ByteWriter) {
        writer.writeString(typeName)
        writer.writeLengthPrefixed(payload)
    }

    static func read(from reader: inout ByteReader) throws -> EncodedValue {
        EncodedValue(typeName: try reader.readString(), payload: Array(try reader.readLengthPrefixed()))
    }
}

/// An error thrown by user code in a worker, reduced to what can cross a process boundary.
struct RemoteFailure: Sendable, Equatable {
    /// The dynamic type name of the thrown error, e.g. "MyModule.ParseError".
    var typeName: String
    /// `String(describing: error)`.
    var description: String
    /// The error itself, when its type is `Codable` and a process of this program can find it
    /// by name: the caller rebuilds it as its own type.
    var value: EncodedValue?

    init(typeName: String, description: String, value: EncodedValue? = nil) {
        self.typeName = typeName
        self.description = description
        self.value = value
    }

    init(_ error: any Error) {
        self.typeName = String(reflecting: type(of: error))
        self.description = String(describing: error)
        if let encodable = error as? any Encodable { self.value = Self.encoded(encodable) }
    }

    /// A failure of the pool's own machinery in the worker, which the parent turns back into a
    /// ``PoolError`` with the same code.
    init(poolError code: PoolError.Code, _ description: String) {
        self.typeName = RemoteFailure.poolErrorPrefix + code.description
        self.description = description
    }

    static let poolErrorPrefix = "Multiprocessing.PoolError."

    /// The pool error this failure stands for, if it is one.
    var poolErrorCode: PoolError.Code? {
        guard typeName.hasPrefix(RemoteFailure.poolErrorPrefix) else { return nil }
        return PoolError.Code(named: String(typeName.dropFirst(RemoteFailure.poolErrorPrefix.count)))
    }

    /// An error value, encoded under its type's name; nil for a type that cannot be found by
    /// name (private, local) or a value that cannot be encoded.
    private static func encoded<E: Encodable>(_ error: E) -> EncodedValue? {
        guard let name = try? TaskTypeNames.name(of: E.self), let payload = try? BinaryEncoder().encode(error) else { return nil }
        return EncodedValue(typeName: name, payload: payload)
    }

    /// The thrown error rebuilt as its own type, if it travelled as a value and its type is a
    /// `Decodable` error here; `origin` is in the decoder's `userInfo` for it.
    func rebuilt(origin: TaskOrigin) -> (any Error)? {
        guard let value, let type = _typeByName(value.typeName) as? any (Error & Decodable).Type else { return nil }
        return try? Self.decode(type, value.payload, origin: origin)
    }

    private static func decode<E: Error & Decodable>(_: E.Type, _ payload: [UInt8], origin: TaskOrigin) throws -> any Error {
        try BinaryDecoder().decode(E.self, from: payload[...], userInfo: [.taskOrigin: origin])
    }

    func write(to writer: inout ByteWriter) {
        writer.writeString(typeName)
        writer.writeString(description)
        if let value {
            writer.writeByte(1)
            value.write(to: &writer)
        } else {
            writer.writeByte(0)
        }
    }

    static func read(from reader: inout ByteReader) throws -> RemoteFailure {
        let typeName = try reader.readString()
        let description = try reader.readString()
        let value = try reader.readByte() == 1 ? try EncodedValue.read(from: &reader) : nil
        return RemoteFailure(typeName: typeName, description: description, value: value)
    }
}

/// What a worker needs to know before it runs anything.
struct WorkerConfiguration: Sendable, Equatable {
    var workerName: String
    /// `Logger.Level` raw value for the process-named log handler, or nil when not installed.
    var logLevel: String?
    var initializer: EncodedValue?
    /// Chunks to run before exiting (Python's `maxtasksperchild`); 0 means no limit.
    var maximumTasks: Int
    /// The largest message the parent accepts; a bigger result is reported as an error.
    var maximumMessageSize: Int
}

/// Parent to worker.
enum ParentMessage: Sendable, Equatable {
    case configure(WorkerConfiguration)
    /// Run `task` over the items encoded in `inputs` (an encoded `[Input]`), in order.
    case run(taskID: UInt64, task: EncodedValue, inputs: EncodedBatch)
    /// Skip these chunks if they have not started: their call was cancelled. The worker still
    /// answers each one (as cancelled), so answers stay in send order.
    case cancel(taskIDs: [UInt64])
    /// The next `count` run frames are a ``ChunkGroup``, offered to every worker: the worker
    /// runs the i-th only if it takes claim word `firstClaim + i` of the wake board first, and
    /// once past them all sends `.groupDone(id)`, then the answers it still holds.
    case group(id: UInt64, firstClaim: Int, count: Int)

    private enum Kind: UInt8 { case configure = 1, run = 2, cancel = 3, group = 4 }

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
                writer.writeVarint(UInt64(configuration.maximumTasks))
                writer.writeVarint(UInt64(configuration.maximumMessageSize))
            }
        case .run(let taskID, let task, let inputs):
            return Array(ParentMessage.encodeRunFrame(taskID: taskID, task: task, inputs: inputs).joined())
        case .cancel(let taskIDs):
            return makeFrame { writer in
                writer.writeByte(Kind.cancel.rawValue)
                writer.writeVarint(UInt64(taskIDs.count))
                for taskID in taskIDs { writer.writeVarint(taskID) }
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
    /// the pieces to send in order: large inputs go as pieces of their own, not copied.
    static func encodeRunFrame(taskID: UInt64, task: EncodedValue, inputs: EncodedBatch) -> [WireBytes] {
        framePieces(headerCapacity: 32 + task.typeName.utf8.count + task.payload.count, tail: inputs) { writer in
            writer.writeByte(Kind.run.rawValue)
            writer.writeVarint(taskID)
            task.write(to: &writer)
        }
    }

    /// Decodes a frame's message; only a run frame may come with attachments.
    static func decode(_ bytes: ArraySlice<UInt8>, attachments: [WireBytes] = []) throws -> ParentMessage {
        var reader = ByteReader(bytes)
        let kind = Kind(rawValue: try reader.readByte())
        guard attachments.isEmpty || kind == .run else {
            throw BinaryCodingError.invalidData("attachments on a message that cannot have them")
        }
        switch kind {
        case .configure:
            let name = try reader.readString()
            let level = try readOptionalString(from: &reader)
            let initializer = try reader.readByte() == 1 ? try EncodedValue.read(from: &reader) : nil
            let maximumTasks = Int(clamping: try reader.readVarint())
            let maximumMessageSize = Int(clamping: try reader.readVarint())
            return .configure(WorkerConfiguration(
                workerName: name, logLevel: level, initializer: initializer, maximumTasks: maximumTasks,
                maximumMessageSize: maximumMessageSize))
        case .run:
            let taskID = try reader.readVarint()
            let task = try EncodedValue.read(from: &reader)
            let inputs = try reader.readLengthPrefixed()
            return .run(taskID: taskID, task: task, inputs: EncodedBatch(bytes: inputs, attachments: attachments))
        case .cancel:
            let count = Int(clamping: try reader.readVarint())
            guard count <= reader.remaining else {
                throw BinaryCodingError.invalidData("cancel count \(count) exceeds the frame")
            }
            var taskIDs: [UInt64] = []
            for _ in 0..<count { taskIDs.append(try reader.readVarint()) }
            return .cancel(taskIDs: taskIDs)
        case .group:
            let id = try reader.readVarint()
            let firstClaim = Int(clamping: try reader.readVarint())
            let count = Int(clamping: try reader.readVarint())
            guard firstClaim <= WakeBoard.claimCapacity && count <= WakeBoard.claimCapacity - firstClaim else {
                throw BinaryCodingError.invalidData("claim words \(firstClaim)..<\(firstClaim)+\(count) exceed the board's \(WakeBoard.claimCapacity)")
            }
            return .group(id: id, firstClaim: firstClaim, count: count)
        case nil:
            throw BinaryCodingError.invalidData("unknown message kind from the parent")
        }
    }
}

/// How one chunk went in the worker.
enum ChunkOutcome: Sendable, Equatable {
    /// Every item succeeded: `outputs` is an encoded `[Output]` in item order.
    case allSucceeded(outputs: EncodedBatch)
    /// Some items failed: one entry per item, in order.
    case mixed([ItemOutcome])
    /// The chunk could not run at all (unknown task type, undecodable input, ...).
    case rejected(RemoteFailure)
}

/// One item's result inside a `.mixed` chunk outcome.
enum ItemOutcome: Sendable, Equatable {
    /// An encoded `Output`.
    case success(ArraySlice<UInt8>)
    case failure(RemoteFailure)
}

/// Worker to parent.
enum WorkerMessage: Sendable, Equatable {
    /// The worker is configured and runs the pool's initializer now (sent only when there is
    /// one): from here the initializer's time limit applies, not the start-up's.
    case initializing
    case ready(pid: Int32)
    case initializerFailed(RemoteFailure)
    /// `runNanoseconds` is the time the worker spent in the chunk (the scheduler's estimate).
    case result(taskID: UInt64, runNanoseconds: UInt64, outcome: ChunkOutcome)
    /// In the answers pipe: the worker's next message is a large one, sent on the requests
    /// socket instead (see `WorkerServeLoop.send`).
    case followsOnSocket
    /// The worker has passed every chunk of group `id` (run, or claimed by another worker); the
    /// answers it still held follow at once.
    case groupDone(id: UInt64)

    private enum Kind: UInt8 {
        case ready = 1, initializerFailed = 2, result = 3, followsOnSocket = 4, groupDone = 5, initializing = 6
    }
    private enum OutcomeKind: UInt8 { case allSucceeded = 0, mixed = 1, rejected = 2 }

    /// A successful result frame as pieces to send in order; large outputs are not copied into
    /// the frame. Same bytes as `.result(..., .allSucceeded(outputs))`.
    static func encodeSuccessFrame(taskID: UInt64, runNanoseconds: UInt64, outputs: EncodedBatch) -> [WireBytes] {
        framePieces(headerCapacity: 32, tail: outputs) { writer in
            writer.writeByte(Kind.result.rawValue)
            writer.writeVarint(taskID)
            writer.writeVarint(runNanoseconds)
            writer.writeByte(OutcomeKind.allSucceeded.rawValue)
        }
    }

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
        case .result(let taskID, let nanoseconds, .allSucceeded(let outputs)):
            return Array(WorkerMessage.encodeSuccessFrame(taskID: taskID, runNanoseconds: nanoseconds,
                                                          outputs: outputs).joined())
        case .result(let taskID, let nanoseconds, let outcome):
            return makeFrame(capacity: 32 + outcome.approximateSize) { writer in
                writer.writeByte(Kind.result.rawValue)
                writer.writeVarint(taskID)
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
        case .result:
            let taskID = try reader.readVarint()
            let nanoseconds = try reader.readVarint()
            let outcomeKind = OutcomeKind(rawValue: try reader.readByte())
            guard attachments.isEmpty || outcomeKind == .allSucceeded else {
                throw BinaryCodingError.invalidData("attachments on a result that cannot have them")
            }
            switch outcomeKind {
            case .allSucceeded:
                let outputs = EncodedBatch(bytes: try reader.readLengthPrefixed(), attachments: attachments)
                return .result(taskID: taskID, runNanoseconds: nanoseconds, outcome: .allSucceeded(outputs: outputs))
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
                return .result(taskID: taskID, runNanoseconds: nanoseconds, outcome: .mixed(items))
            case .rejected:
                return .result(taskID: taskID, runNanoseconds: nanoseconds,
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

/// A frame whose last field is `tail` (length-prefixed), as pieces to send in order: the head
/// in one array (with the tail inline when it is small), then a large tail and the attachments
/// as pieces of their own, so a large payload is never copied again. With attachments the frame
/// takes `FrameReader`'s attachment layout.
func framePieces(headerCapacity: Int, tail: EncodedBatch, _ header: (inout ByteWriter) -> Void) -> [WireBytes] {
    let tailCount = tail.bytes.count
    let inline = tailCount <= 16 * 1024
    var writer = ByteWriter(capacity: headerCapacity + 28 + 8 * tail.attachments.count + (inline ? tailCount : 0))
    let lengthOffset: Int
    if tail.attachments.isEmpty {
        lengthOffset = writer.reserveFixed32()
    } else {
        writer.writeFixed(FrameReader.attachmentMarker)
        lengthOffset = writer.reserveFixed32()
        writer.writeFixed(UInt32(tail.attachments.count))
        for attachment in tail.attachments {
            writer.writeFixed(UInt64(attachment.count) | (attachment.box != nil ? FrameReader.collectionFlag : 0))
        }
    }
    let messageStart = writer.count
    header(&writer)
    writer.writeVarint(UInt64(tailCount))
    writer.patchFixed32(at: lengthOffset, UInt32(truncatingIfNeeded: writer.count - messageStart + tailCount))
    if inline {
        writer.writeBytes(tail.bytes)
        return [WireBytes(writer.takeBytes())] + tail.attachments
    }
    return [WireBytes(writer.takeBytes()), WireBytes(Array(tail.bytes))] + tail.attachments
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
