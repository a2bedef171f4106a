import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads length-framed messages from a stream descriptor. Reads are buffered so that many small
/// frames cost one system call.
///
/// A frame is a little-endian `UInt32` byte count, then the message. A frame with attachments
/// (large byte buffers, see `EncodedItems`) starts with the count `attachmentMarker` instead:
/// `u32 marker`, `u32` message length, `u32` attachment count, a `u64` per attachment (its size,
/// with `collectionFlag` set for a Foundation `Data`), the message, then the attachments' bytes.
/// Attachments are read from the socket straight into buffers of their own (an array, or a new
/// `Data` for one so flagged), not through the read buffer.
struct FrameReader: ~Copyable {
    enum Failure: Error, Sendable {
        /// The stream ended inside a frame.
        case truncated
        /// A frame announced more bytes than the configured limit.
        case tooLarge(Int, limit: Int)
        /// `read` failed.
        case readFailed(Int32)
    }

    /// The length prefix that announces a frame with attachments; a plain frame is shorter.
    static let attachmentMarker = UInt32.max

    /// Set in an attachment's size for a Foundation `Data`, which is received into a `Data`.
    static let collectionFlag: UInt64 = 1 << 63

    let descriptor: Int32
    let maximumFrameSize: Int
    private let normalBufferSize: Int
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    /// The last read filled all the room it had: more input is probably waiting already.
    private var lastReadFilled = false

    /// A socket is read with recv(MSG_DONTWAIT); anything else (a worker's answers pipe) must
    /// be O_NONBLOCK, and is read with read(2).
    private let isSocket: Int32

    init(descriptor: Int32, maximumFrameSize: Int, bufferSize: Int = 64 * 1024) {
        self.descriptor = descriptor
        self.isSocket = cmp_is_socket(descriptor)
        self.maximumFrameSize = maximumFrameSize
        self.normalBufferSize = bufferSize
        self.buffer = [UInt8](repeating: 0, count: bufferSize)
    }

    /// True when the next frame's head (length prefix, attachment table, message) is buffered.
    var hasFrameHead: Bool {
        (try? headIsBuffered()) ?? false
    }

    /// Nothing read and not yet handed out: the reader is between frames.
    var isEmpty: Bool { start == end }

    /// True when a whole frame is already buffered (reading it makes no system call).
    var hasBufferedFrame: Bool {
        guard case .complete(let head, let attachmentBytes)? = try? nextFrameLayout() else { return false }
        return end - start >= head + attachmentBytes
    }

    /// Calls `body` with the next frame's message and attachments; the message bytes are valid
    /// only during the call. Returns nil at a clean end of stream (between frames).
    mutating func withNextFrame<R>(_ body: (ArraySlice<UInt8>, [WireBytes]) throws -> R) throws -> R? {
        switch try nextFrame(waiting: true, body) {
        case .frame(let result): return result
        case .ended: return nil
        case .notYet: preconditionFailure("a waiting read returned without a frame")
        }
    }

    /// What a reader that must not wait found.
    enum Available<R> {
        /// A frame, handed to the body, which returned this.
        case frame(R)
        /// No whole frame has arrived yet.
        case notYet
        /// The stream ended cleanly between frames.
        case ended
    }

    /// Like `withNextFrame`, but does not wait for input: it reads what the descriptor has at
    /// once (when `read` is true or the last read filled its room) and calls `body` for a frame
    /// that is then here. Once a frame's head is here, its attachments are read to their end
    /// (waiting for them) if `waitForAttachments`; otherwise the frame is left for such a reader.
    mutating func withAvailableFrame<R>(
        read: Bool, waitForAttachments: Bool,
        _ body: (ArraySlice<UInt8>, [WireBytes]) throws -> R
    ) throws -> Available<R> {
        if try frameIsReady(waitForAttachments: waitForAttachments) { return try nextFrame(waiting: false, body) }
        guard read || lastReadFilled, try !headIsBuffered() else { return .notYet }
        switch try fill(waiting: false) {
        case .read:
            return try frameIsReady(waitForAttachments: waitForAttachments) ? try nextFrame(waiting: false, body) : .notYet
        case .wouldBlock: return .notYet
        case .ended: return .ended
        }
    }

    /// Whether the next frame can be handed over now: all of it is buffered, or its head is and
    /// the caller may wait for its attachments. Makes room for the rest of a partial head.
    private mutating func frameIsReady(waitForAttachments: Bool) throws -> Bool {
        switch try nextFrameLayout() {
        case .complete(let head, let attachmentBytes):
            let available = end - start
            if available >= head + attachmentBytes || (waitForAttachments && available >= head) { return true }
            if available < head && buffer.count - start < head { makeRoom(forFrameOf: head) }
            return false
        case .needs(let bytes):
            if buffer.count - start < bytes { makeRoom(forFrameOf: bytes) }
            return false
        }
    }

    /// The next frame's head is buffered (its attachments, if any, are not all here: they are
    /// not gathered in the buffer).
    private func headIsBuffered() throws -> Bool {
        guard case .complete(let head, _) = try nextFrameLayout() else { return false }
        return end - start >= head
    }

    private mutating func nextFrame<R>(waiting: Bool, _ body: (ArraySlice<UInt8>, [WireBytes]) throws -> R) throws -> Available<R> {
        while true {
            if end == start && buffer.count > Self.largestKeptBuffer {
                // A very large frame grew the buffer; give the memory back once it is consumed.
                // Buffers up to the limit are kept: a stream of 1 MiB payloads would otherwise
                // pay a fresh allocation, page faults included, for every frame.
                buffer = Self.uninitializedBuffer(count: normalBufferSize)
            }
            switch try nextFrameLayout() {
            case .complete(let head, _) where end - start >= head:
                let frameStart = start
                start += head
                if readUInt32(at: frameStart) == Self.attachmentMarker {
                    let messageLength = Int(readUInt32(at: frameStart + 4))
                    let count = Int(readUInt32(at: frameStart + 8))
                    var attachments: [WireBytes] = []
                    attachments.reserveCapacity(count)
                    for index in 0..<count {
                        let entry = readUInt64(at: frameStart + 12 + 8 * index)
                        attachments.append(
                            try readAttachment(
                                size: Int(entry & ~Self.collectionFlag),
                                isCollection: entry & Self.collectionFlag != 0))
                    }
                    let messageStart = frameStart + 12 + 8 * count
                    if start == end {
                        start = 0
                        end = 0
                    }
                    return .frame(try body(buffer[messageStart..<(messageStart + messageLength)], attachments))
                }
                if start == end {
                    start = 0
                    end = 0
                }
                return .frame(try body(buffer[(frameStart + 4)..<(frameStart + head)], []))
            case .complete(let head, _):
                makeRoom(forFrameOf: head)
            case .needs(let bytes):
                if buffer.count - start < bytes { makeRoom(forFrameOf: bytes) }
            }
            guard waiting else { return .notYet }
            switch try fill(waiting: true) {
            case .read, .wouldBlock: continue
            case .ended: return .ended
            }
        }
    }

    private enum Fill { case read, wouldBlock, ended }

    /// One read into the free room of the buffer.
    private mutating func fill(waiting: Bool) throws -> Fill {
        while true {
            // Between messages (nothing buffered, the last read got all there was) wait first:
            // the peer is most likely still working on the next one.
            let likelyReady: Int32 = lastReadFilled || end > start ? 1 : 0
            let room = buffer.count - end
            let count = buffer.withUnsafeMutableBytes { raw in
                waiting
                    ? cmp_read_waiting_for_input(descriptor, raw.baseAddress! + end, room, likelyReady, isSocket)
                    : cmp_read_available(descriptor, raw.baseAddress! + end, room, isSocket)
            }
            if count > 0 {
                lastReadFilled = count == room
                end += count
                return .read
            } else if count == 0 {
                lastReadFilled = false
                if end == start { return .ended }
                throw Failure.truncated
            } else {
                let error = cmp_errno()
                if error == EINTR { continue }
                if !waiting && (error == EAGAIN || error == EWOULDBLOCK) {
                    lastReadFilled = false
                    return .wouldBlock
                }
                throw Failure.readFailed(error)
            }
        }
    }

    private enum Layout {
        /// The frame's part that goes through the buffer (prefix, table, message), and the bytes
        /// of attachments after it.
        case complete(head: Int, attachmentBytes: Int)
        /// Not enough is buffered to tell: at least this many bytes from `start` are needed.
        case needs(Int)
    }

    /// The next frame's size as far as the buffered bytes tell; throws on a size over the limit.
    private func nextFrameLayout() throws(Failure) -> Layout {
        let available = end - start
        guard available >= 4 else { return .needs(4) }
        let length = readUInt32(at: start)
        guard length == Self.attachmentMarker else {
            guard Int(length) <= maximumFrameSize else { throw .tooLarge(Int(length), limit: maximumFrameSize) }
            return .complete(head: 4 + Int(length), attachmentBytes: 0)
        }
        guard available >= 12 else { return .needs(12) }
        let messageLength = Int(readUInt32(at: start + 4))
        let count = Int(readUInt32(at: start + 8))
        // Every attachment is at least one byte, so the count is bounded by the size too.
        guard messageLength <= maximumFrameSize, count <= maximumFrameSize - messageLength, count <= Int(Int32.max) / 8 else {
            throw .tooLarge(messageLength + count, limit: maximumFrameSize)
        }
        let head = 12 + 8 * count + messageLength
        guard available >= 12 + 8 * count else { return .needs(12 + 8 * count) }
        var total = messageLength
        for index in 0..<count {
            let size = readUInt64(at: start + 12 + 8 * index) & ~Self.collectionFlag
            guard size <= UInt64(maximumFrameSize - total) else {
                throw .tooLarge(total &+ Int(clamping: size), limit: maximumFrameSize)
            }
            total += Int(size)
        }
        return .complete(head: head, attachmentBytes: total - messageLength)
    }

    /// One attachment: an array, or a `Data` for a flagged one in a process that has Foundation
    /// (else an array: decoding then copies it into one).
    private mutating func readAttachment(size: Int, isCollection: Bool) throws -> WireBytes {
        if isCollection, let data = FoundationData.attachments {
            return try data.receive(count: size) { target in try fillAttachment(target) }
        }
        return WireBytes(
            try [UInt8](unsafeUninitializedCapacity: size) { target, initialized in
                try fillAttachment(UnsafeMutableRawBufferPointer(target))
                initialized = size
            })
    }

    /// Fills `target` with the attachment's next bytes: the part already buffered, then the rest
    /// read from the descriptor straight into `target`.
    private mutating func fillAttachment(_ target: UnsafeMutableRawBufferPointer) throws {
        let buffered = min(target.count, end - start)
        if buffered > 0 {
            buffer.withUnsafeBytes { source in
                target.baseAddress!.copyMemory(from: source.baseAddress! + start, byteCount: buffered)
            }
            start += buffered
        }
        var filled = buffered
        while filled < target.count {
            let count = cmp_read_waiting_for_input(descriptor, target.baseAddress! + filled, target.count - filled, 1, isSocket)
            if count > 0 {
                filled += count
            } else if count == 0 {
                throw Failure.truncated
            } else {
                let error = errno
                if error != EINTR { throw Failure.readFailed(error) }
            }
        }
    }

    private func readUInt32(at index: Int) -> UInt32 {
        UInt32(buffer[index]) | UInt32(buffer[index + 1]) << 8 | UInt32(buffer[index + 2]) << 16 | UInt32(buffer[index + 3]) << 24
    }

    private func readUInt64(at index: Int) -> UInt64 {
        UInt64(readUInt32(at: index)) | UInt64(readUInt32(at: index + 4)) << 32
    }

    /// Buffers larger than this are released after use.
    static let largestKeptBuffer = 16 << 20

    /// A byte array whose contents are about to be overwritten: no zero fill.
    static func uninitializedBuffer(count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// Moves the unread bytes to the front, growing the buffer when one frame needs more space.
    private mutating func makeRoom(forFrameOf size: Int) {
        let available = end - start
        if size > buffer.count {
            var grown = Self.uninitializedBuffer(count: max(size, min(2 * buffer.count, Self.largestKeptBuffer)))
            grown.withUnsafeMutableBytes { target in
                buffer.withUnsafeBytes { source in
                    target.baseAddress!.copyMemory(from: source.baseAddress! + start, byteCount: available)
                }
            }
            buffer = grown
        } else if start > 0 {
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: available)
            }
        }
        start = 0
        end = available
    }
}
