#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads length-framed messages (a little-endian `UInt32` byte count, then the bytes) from a
/// stream descriptor. Reads are buffered so that many small frames cost one system call.
struct FrameReader: ~Copyable {
    enum Failure: Error, Sendable {
        /// The stream ended inside a frame.
        case truncated
        /// A frame announced more bytes than the configured limit.
        case tooLarge(Int, limit: Int)
        /// `read` failed.
        case readFailed(Int32)
    }

    let descriptor: Int32
    let maximumFrameSize: Int
    private let normalBufferSize: Int
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0

    init(descriptor: Int32, maximumFrameSize: Int, bufferSize: Int = 64 * 1024) {
        self.descriptor = descriptor
        self.maximumFrameSize = maximumFrameSize
        self.normalBufferSize = bufferSize
        self.buffer = [UInt8](repeating: 0, count: bufferSize)
    }

    /// True when a whole frame is already buffered (reading it makes no system call).
    var hasBufferedFrame: Bool {
        let available = end - start
        guard available >= 4 else { return false }
        let length = Int(UInt32(buffer[start]) | UInt32(buffer[start + 1]) << 8
            | UInt32(buffer[start + 2]) << 16 | UInt32(buffer[start + 3]) << 24)
        return available >= 4 + length
    }

    /// Calls `body` with the next frame's bytes, which are valid only during the call.
    /// Returns nil at a clean end of stream (between frames).
    mutating func withNextFrame<R>(_ body: (ArraySlice<UInt8>) throws -> R) throws -> R? {
        while true {
            let available = end - start
            if available == 0 && buffer.count > Self.largestKeptBuffer {
                // A very large frame grew the buffer; give the memory back once it is consumed.
                // Buffers up to the limit are kept: a stream of 1 MiB payloads would otherwise
                // pay a fresh allocation, page faults included, for every frame.
                buffer = Self.uninitializedBuffer(count: normalBufferSize)
            }
            if available >= 4 {
                let length = Int(UInt32(buffer[start]) | UInt32(buffer[start + 1]) << 8
                    | UInt32(buffer[start + 2]) << 16 | UInt32(buffer[start + 3]) << 24)
                guard length <= maximumFrameSize else {
                    throw Failure.tooLarge(length, limit: maximumFrameSize)
                }
                if available >= 4 + length {
                    let frameStart = start + 4
                    start = frameStart + length
                    if start == end { start = 0; end = 0 }
                    return try body(buffer[frameStart..<(frameStart + length)])
                }
                makeRoom(forFrameOf: 4 + length)
            } else if buffer.count - start < 4 {
                makeRoom(forFrameOf: 4)
            }
            let count = buffer.withUnsafeMutableBytes { raw in
                read(descriptor, raw.baseAddress! + end, raw.count - end)
            }
            if count > 0 {
                end += count
            } else if count == 0 {
                if end == start { return nil }
                throw Failure.truncated
            } else {
                let error = errno
                if error == EINTR { continue }
                throw Failure.readFailed(error)
            }
        }
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

/// Builds a frame: reserves the length prefix, lets `body` write the message, then patches it.
func makeFrame(capacity: Int = 64, _ body: (inout ByteWriter) throws -> Void) rethrows -> [UInt8] {
    var writer = ByteWriter(capacity: capacity)
    let lengthOffset = writer.reserveFixed32()
    try body(&writer)
    writer.patchFixed32(at: lengthOffset, UInt32(writer.bytes.count - 4))
    return writer.bytes
}
