#if MPI
/// What ranks say to each other, as MPI messages: the tag says which, the bytes carry it.
/// Chunks and results carry the same frames a local worker's channel does; only the carrier
/// changes.
enum ClusterTag: Int32, Sendable {
    /// A serving rank to rank 0, once: its pool's size, pid and host.
    case hello = 1
    /// Rank 0 to a serving rank: a chunk to run.
    case chunk = 2
    /// Rank 0 to a serving rank: chunks whose call was cancelled.
    case skip = 3
    /// A serving rank to rank 0: a chunk's outcome.
    case result = 4
    /// Either way, when there was nothing else to say for a while: still alive.
    case heartbeat = 5
    /// Rank 0 to a serving rank: the program ends; finish and exit.
    case shutdown = 6
    /// Either way: several of the messages above, for one destination, in one MPI message.
    case batch = 7
    /// Rank 0 to a serving rank on another host: a chunk with the bytes of the shared arrays it
    /// refers to (see `SharedArrayShipping`).
    case sharedChunk = 8
    /// A serving rank to rank 0: the outcome of a `sharedChunk`, with the bytes of its writable
    /// shared arrays when it succeeded.
    case sharedResult = 9
}

/// Several messages to one rank packed into one MPI message, in the order they were queued:
/// each a tag byte, a 4-byte little-endian length and its bytes. One message per burst, not
/// per chunk or result, is what makes short tasks cheap across ranks.
enum ClusterBatch {
    static let headerBytes = 5

    /// The bytes a batch of `messages` takes.
    static func byteCount(_ messages: ArraySlice<(tag: ClusterTag, bytes: [UInt8])>) -> Int {
        messages.reduce(0) { $0 + headerBytes + $1.bytes.count }
    }

    /// Writes `messages` as a batch into `buffer`, which has room for exactly ``byteCount(_:)``.
    static func write(_ messages: ArraySlice<(tag: ClusterTag, bytes: [UInt8])>, into buffer: UnsafeMutableRawBufferPointer) {
        var offset = 0
        for message in messages {
            buffer[offset] = UInt8(truncatingIfNeeded: message.tag.rawValue)
            buffer.storeBytes(of: UInt32(message.bytes.count).littleEndian, toByteOffset: offset + 1, as: UInt32.self)
            offset += headerBytes
            message.bytes.withUnsafeBytes { source in
                guard let base = source.baseAddress else { return }
                (buffer.baseAddress! + offset).copyMemory(from: base, byteCount: source.count)
            }
            offset += message.bytes.count
        }
    }

    /// The messages of a batch, as tag values and slices of `bytes`; throws if it is cut short.
    static func messages(in bytes: ArraySlice<UInt8>) throws(BinaryCodingError) -> [(tag: Int32, bytes: ArraySlice<UInt8>)] {
        var reader = ByteReader(bytes)
        var messages: [(tag: Int32, bytes: ArraySlice<UInt8>)] = []
        while reader.remaining > 0 {
            let tag = Int32(try reader.readByte())
            let length = try reader.readFixed(UInt32.self)
            messages.append((tag, try reader.readBytes(count: Int(length))))
        }
        return messages
    }
}

/// A serving rank introducing itself.
struct ClusterHello: Sendable, Equatable {
    /// How many chunks its pool runs at once.
    var capacity: Int
    var pid: Int32
    var host: String
    /// Its machine and pid namespace, as shared arrays' handles name them: where it differs from
    /// rank 0's, shared arrays are copied to the rank instead of shared.
    var machine: UInt64 = 0

    func encode() -> [UInt8] {
        var writer = ByteWriter(capacity: 40 + host.utf8.count)
        writer.writeVarint(UInt64(capacity))
        writer.writeFixed(pid)
        writer.writeString(host)
        writer.writeFixed(machine)
        return writer.takeBytes()
    }

    static func decode(_ bytes: ArraySlice<UInt8>) throws -> ClusterHello {
        var reader = ByteReader(bytes)
        var hello = ClusterHello(
            capacity: Int(clamping: try reader.readVarint()), pid: try reader.readFixed(Int32.self), host: try reader.readString())
        // A hello without it (an older sender) leaves 0: no machine, so arrays are copied.
        if reader.remaining >= 8 { hello.machine = try reader.readFixed(UInt64.self) }
        return hello
    }
}

/// A chunk for a serving rank: where its items stand in the call, its time limit, and the
/// run frame a local worker would get.
struct ClusterChunk: Sendable {
    var firstItem: Int
    var itemCount: Int
    /// The chunk's whole time limit in nanoseconds (0: none).
    var timeLimitNanoseconds: UInt64
    /// The run frame, length prefix and attachments included.
    var frame: ArraySlice<UInt8>

    /// The message for `chunk`, its frame's pieces joined.
    static func encode(_ chunk: ChunkWork) -> [UInt8] {
        var writer = ByteWriter(capacity: 32 + chunk.frameBytes)
        writer.writeVarint(UInt64(chunk.firstItem))
        writer.writeVarint(UInt64(chunk.itemCount))
        writer.writeVarint(chunk.timeLimit.map { UInt64(clamping: $0.nanoseconds) } ?? 0)
        for piece in chunk.frame { piece.withUnsafeBytes { writer.writeBytes($0) } }
        return writer.takeBytes()
    }

    static func decode(_ bytes: ArraySlice<UInt8>) throws -> ClusterChunk {
        var reader = ByteReader(bytes)
        let firstItem = Int(clamping: try reader.readVarint())
        let itemCount = Int(clamping: try reader.readVarint())
        let limit = try reader.readVarint()
        return ClusterChunk(
            firstItem: firstItem, itemCount: itemCount, timeLimitNanoseconds: limit,
            frame: try reader.readBytes(count: reader.remaining))
    }
}

/// Chunks a serving rank must stop: skip them if they have not started, and stop the running
/// ones too when `stopRunning`.
struct ClusterSkip: Sendable, Equatable {
    var chunkIDs: [UInt64]
    var stopRunning: Bool

    func encode() -> [UInt8] {
        var writer = ByteWriter(capacity: 16 + 10 * chunkIDs.count)
        writer.writeByte(stopRunning ? 1 : 0)
        writer.writeVarint(UInt64(chunkIDs.count))
        for id in chunkIDs { writer.writeVarint(id) }
        return writer.takeBytes()
    }

    static func decode(_ bytes: ArraySlice<UInt8>) throws -> ClusterSkip {
        var reader = ByteReader(bytes)
        let stopRunning = try reader.readByte() == 1
        let count = try reader.readCount(minimumElementSize: 1)
        var ids: [UInt64] = []
        ids.reserveCapacity(count)
        for _ in 0..<count { ids.append(try reader.readVarint()) }
        return ClusterSkip(chunkIDs: ids, stopRunning: stopRunning)
    }
}

/// A chunk's outcome from a serving rank: the process of its pool that ran it, and the result
/// frame a local worker would send.
struct ClusterResult: Sendable {
    var ranBy: WorkerLabel
    /// The result frame, length prefix and attachments included.
    var frame: ArraySlice<UInt8>

    static func encode(ranBy: WorkerLabel, frame: [WireBytes]) -> [UInt8] {
        var writer = ByteWriter(capacity: 32 + ranBy.name.utf8.count + frame.byteCount)
        writer.writeString(ranBy.name)
        writer.writeFixed(ranBy.pid)
        for piece in frame { piece.withUnsafeBytes { writer.writeBytes($0) } }
        return writer.takeBytes()
    }

    static func decode(_ bytes: ArraySlice<UInt8>) throws -> ClusterResult {
        var reader = ByteReader(bytes)
        let name = try reader.readString()
        let pid = try reader.readFixed(Int32.self)
        return ClusterResult(ranBy: WorkerLabel(name: name, pid: pid), frame: try reader.readBytes(count: reader.remaining))
    }
}

extension Duration {
    /// The duration in whole nanoseconds (negative ones as 0), saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : scaled &+ attoseconds / 1_000_000_000
    }
}
#endif
