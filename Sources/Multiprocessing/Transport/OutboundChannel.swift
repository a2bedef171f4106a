import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The sending side of a stream channel, which never blocks its callers.
///
/// Frames are queued in order; `flush()` writes what the socket accepts at once from the calling
/// thread (the common case: one small frame, one system call) and hands the rest to a writer
/// thread started on first need. A caller that blocked on a full socket could deadlock with a
/// worker that is itself blocked writing a large result, so nothing but that thread ever blocks.
///
/// A worker idle on the pool's ``WakeBoard`` is not woken by what is sent: every send is
/// followed by a check, and a ring if it sleeps. ``flushWithoutWaking()`` leaves that to the
/// caller, who sends to several workers and then rings for them all at once.
///
/// `@unchecked Sendable`: every stored `var` is only touched with `condition` locked, except
/// `descriptor` writes, which happen only by whoever holds `writing == true`.
final class OutboundChannel: @unchecked Sendable {
    let descriptor: Int32
    private let condition = Condition()
    private var queue: [WireBytes] = []
    private var head = 0
    private var offsetInFirst = 0
    private var writing = false
    private var writerStarted = false
    private var writerRunning = false
    private var stopped = false
    private var failed = false
    private var shutdownRequested = false
    private let threadName: String
    private let wake: WakeTarget?

    init(descriptor: Int32, threadName: String, wake: WakeTarget? = nil) {
        self.descriptor = descriptor
        self.threadName = threadName
        self.wake = wake
    }

    /// Appends a frame; cheap, so callers may hold their own locks. Call `flush()` afterwards.
    func enqueue(_ frame: [UInt8]) {
        enqueue(WireBytes(frame))
    }

    /// Appends a piece of a frame (see `framePieces`).
    func enqueue(_ piece: WireBytes) {
        condition.withLock {
            if !stopped && !failed { queue.append(piece) }
        }
    }

    /// Sends queued frames without blocking; what does not fit goes to the writer thread. Wakes
    /// the worker if it sleeps on the wake board.
    func flush() {
        flushQueued()
        wake?.wakeIfAsleep()
    }

    /// ``flush()``, except that the worker is not woken: returns whether it sleeps on the
    /// board, so that the caller must ring for it.
    func flushWithoutWaking() -> Bool {
        flushQueued()
        return wake?.isAsleep ?? false
    }

    private func flushQueued() {
        condition.lock()
        defer { condition.unlock() }
        guard !writing, !stopped, !failed else { return }
        if head == queue.count {
            finishShutdownIfRequested()
            return
        }
        writing = true
        let drained = writeQueued(blocking: false)
        if drained {
            writing = false
            finishShutdownIfRequested()
        } else if !failed {
            wakeWriter()
        } else {
            writing = false
        }
    }

    /// Closes the write direction once every queued frame is sent: the worker then reads EOF
    /// and exits.
    func shutdownAfterQueued() {
        condition.withLock { shutdownRequested = true }
        flush()
    }

    /// Stops the writer thread and drops queued frames; returns once the descriptor is no
    /// longer written to, so the caller may close it.
    func stop() {
        condition.withLock {
            stopped = true
            queue.removeAll()
            head = 0
            condition.broadcast()
            while writing || writerRunning { condition.wait() }
        }
    }

    // MARK: - With the lock held

    private func finishShutdownIfRequested() {
        if shutdownRequested && head == queue.count && !stopped {
            shutdownRequested = false
            _ = cmp_shutdown_write(descriptor)
            wake?.wakeIfAsleep()  // the end of the stream is news too
        }
    }

    /// Writes queued frames; the lock is released around the writer thread's sends and waits.
    /// Returns true when the queue is empty, false when a non-blocking send would block or the
    /// channel failed.
    ///
    /// Every send is non-blocking: the writer thread waits for room in `poll` instead, after
    /// waking the worker for what it sent so far. Inside a blocking `send`, bytes sent to a
    /// worker asleep on the wake board would wait for its timeout before it read them.
    private func writeQueued(blocking: Bool) -> Bool {
        coalesceSmallFrames()
        while head < queue.count && !stopped {
            let frame = queue[head]
            let offset = offsetInFirst
            if blocking { condition.unlock() }
            let sent = frame.withUnsafeBytes { raw in
                cmp_send(descriptor, raw.baseAddress! + offset, raw.count - offset, 1)
            }
            let error = sent < 0 ? cmp_errno() : 0
            if blocking {
                wake?.wakeIfAsleep()
                if error == EAGAIN || error == EWOULDBLOCK {
                    // Room comes when the worker reads; a dead worker makes the socket fail.
                    _ = cmp_poll_writable(descriptor, 100)
                }
                condition.lock()
            }
            if sent < 0 {
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK {
                    if blocking { continue }
                    return false
                }
                failed = true  // EPIPE or similar: the reader sees the end and handles the worker
                queue.removeAll()
                head = 0
                offsetInFirst = 0
                return false
            }
            if offset + sent == frame.count {
                head += 1
                offsetInFirst = 0
            } else {
                offsetInFirst = offset + sent
            }
        }
        if head == queue.count {
            queue.removeAll(keepingCapacity: queue.count < 256)
            head = 0
        }
        return head == queue.count
    }

    /// Joins the small frames at the front of the queue into one, so a burst of answers' worth
    /// of new chunks costs one system call.
    private func coalesceSmallFrames() {
        guard offsetInFirst == 0, queue.count - head >= 2 else { return }
        let limit = 64 * 1024
        var end = head
        var total = 0
        while end < queue.count && total + queue[end].count <= limit {
            total += queue[end].count
            end += 1
        }
        guard end - head >= 2 else { return }
        var merged: [UInt8] = []
        merged.reserveCapacity(total)
        for index in head..<end { queue[index].withUnsafeBytes { merged.append(contentsOf: $0) } }
        queue.replaceSubrange(head..<end, with: [WireBytes(merged)])
    }

    private func wakeWriter() {
        if !writerStarted {
            writerStarted = true
            writerRunning = true
            do {
                try NativeThread.detach(name: threadName) { [self] in writerLoop() }
            } catch {
                writerStarted = false
                writerRunning = false
                failed = true
                writing = false
                return
            }
        }
        condition.broadcast()
    }

    private func writerLoop() {
        condition.lock()
        defer {
            // A write handed to this thread that it never took (stop() came first) is dropped
            // with the queue: left set, `writing` would hold stop() for ever.
            writing = false
            writerRunning = false
            condition.broadcast()
            condition.unlock()
        }
        while !stopped {
            if writing && !failed {
                _ = writeQueued(blocking: true)
                writing = false
                finishShutdownIfRequested()
                condition.broadcast()
            }
            if stopped { break }
            condition.wait()
        }
    }
}
