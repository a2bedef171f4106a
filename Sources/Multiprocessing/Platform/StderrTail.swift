import CMultiprocessing

/// The last bytes a worker wrote on its standard error, kept so that the error of an item it
/// died running can say what it printed last (a `fatalError` message, the end of a backtrace).
///
/// Its ``StderrPipe`` appends what it reads and marks the end when the pipe reaches end of
/// file; the worker's reader thread takes the text once the worker is reaped.
///
/// `@unchecked Sendable`: `kept`, `dropped` and `ended` are only touched with `condition` locked.
final class StderrTail: @unchecked Sendable {
    /// How many of the last bytes are kept: a fatal error's message and the end of a backtrace,
    /// not a log, so that an error stays small however much the worker printed.
    static let limit = 4096

    private let condition = Condition()
    private var kept: [UInt8] = []
    private var dropped = false
    private var ended = false

    /// Keeps `bytes` as the newest, dropping what falls out of the last ``limit`` bytes.
    func append(_ bytes: UnsafeRawBufferPointer) {
        condition.withLock {
            if bytes.count >= Self.limit {
                kept = Array(bytes.suffix(Self.limit))
                dropped = true
                return
            }
            kept.append(contentsOf: bytes)
            // Trimmed once it holds twice the limit: appending stays cheap.
            if kept.count >= 2 * Self.limit {
                kept.removeFirst(kept.count - Self.limit)
                dropped = true
            }
        }
    }

    /// The stream ended (end of file, or an error reading it): nothing more will come.
    func end() {
        condition.withLock {
            ended = true
            condition.broadcast()
        }
    }

    /// The kept text, once the stream has ended or after `milliseconds`, whichever is first:
    /// the worker's own end closes its pipe at once, but a process it started can keep the pipe
    /// open, and must not hold up its error. Nil when it printed nothing but white space.
    func text(waitingForEndMilliseconds milliseconds: Int64) -> String? {
        let deadline = cmp_monotonic_ns() + UInt64(max(0, milliseconds)) * 1_000_000
        let (bytes, wasDropped) = condition.withLock { () -> ([UInt8], Bool) in
            while !ended {
                let now = cmp_monotonic_ns()
                guard now < deadline else { break }
                condition.wait(nanoseconds: Int64(deadline - now))
            }
            return (Array(kept.suffix(Self.limit)), dropped || kept.count > Self.limit)
        }
        return Self.text(of: bytes, cut: wasDropped)
    }

    /// `bytes` as text: when they are the end of a longer output (`cut`), from the first
    /// character boundary and, if there is a line break before the last line, from the next
    /// line; without trailing white space. Nil if nothing is left.
    static func text(of bytes: [UInt8], cut: Bool) -> String? {
        var start = bytes.startIndex
        if cut {
            // A UTF-8 continuation byte cannot start a character.
            while start < bytes.endIndex, bytes[start] & 0xC0 == 0x80 { start += 1 }
            var end = bytes.endIndex
            while end > start, bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
            if let newline = bytes[start..<end].firstIndex(of: UInt8(ascii: "\n")) { start = newline + 1 }
        }
        var text = String(decoding: bytes[start...], as: UTF8.self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text.isEmpty ? nil : text
    }
}
