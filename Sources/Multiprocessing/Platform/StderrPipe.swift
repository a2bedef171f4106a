import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A worker's standard error as its parent reads it: the read end of the pipe, the tail it
/// feeds, and a lock, because two threads read it. ``StderrRelay`` forwards what the worker
/// writes whenever it writes; the worker's reader thread (or a caller of `apply` reading for
/// itself) forwards what is there before it hands the worker's answers on, so that a line the
/// worker wrote before it answered reaches the parent's standard error before anything the
/// parent writes once it has the answer, as when the worker wrote there itself.
final class StderrPipe: Sendable {
    /// The last of what came through.
    let tail = StderrTail()

    private struct State {
        /// The read end (O_NONBLOCK); -1 once the relay has closed it.
        var descriptor: Int32
        /// End of file (or a read error) was seen: nothing more will come.
        var ended = false
    }

    private let state: Mutex<State>

    /// Takes over `descriptor`, the read end of the worker's standard error (O_NONBLOCK).
    init(descriptor: Int32) {
        state = Mutex(State(descriptor: descriptor))
    }

    /// The descriptor, for the relay's `poll`; -1 once closed.
    var descriptor: Int32 { state.withLock { $0.descriptor } }

    /// Forwards what the pipe holds now to this process's standard error and the tail, in up to
    /// `reads` reads of `buffer`'s size, stopping early once the pipe is empty. Returns false
    /// once the pipe has reached its end.
    func forwardAvailable(reads: Int, buffer: UnsafeMutableRawBufferPointer) -> Bool {
        state.withLock { state in
            guard !state.ended, state.descriptor >= 0 else { return false }
            for _ in 0..<reads {
                let count = read(state.descriptor, buffer.baseAddress, buffer.count)
                if count < 0 {
                    let error = cmp_errno()
                    if error == EINTR { continue }
                    if error == EAGAIN { return true }
                } else if count > 0 {
                    let data = UnsafeRawBufferPointer(rebasing: buffer[..<count])
                    tail.append(data)
                    Self.forward(data)
                    if count < buffer.count { return true }
                    continue
                }
                // End of file, or an error that will not go away.
                state.ended = true
                tail.end()
                return false
            }
            return true
        }
    }

    /// For a reader about to hand on the worker's answers: forwards what the worker wrote
    /// before them. Costs one read that finds nothing when the worker wrote nothing.
    func forwardBeforeAnswers() {
        withUnsafeTemporaryAllocation(byteCount: 16 * 1024, alignment: 1) { buffer in
            _ = forwardAvailable(reads: 8, buffer: buffer)
        }
    }

    /// Closes the read end, for the relay only (it polls the descriptor), once it has ended.
    func close() {
        state.withLock { state in
            if state.descriptor >= 0 { closeDescriptor(state.descriptor) }
            state.descriptor = -1
            if !state.ended {
                state.ended = true
                tail.end()
            }
        }
    }

    /// Writes `data` to this process's standard error; what cannot be written (a closed or
    /// broken descriptor) is dropped, as it would have been for the worker, and a broken pipe
    /// raises no SIGPIPE in this process: it may be a caller's thread.
    private static func forward(_ data: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < data.count {
            let written = cmp_write_without_sigpipe(STDERR_FILENO, data.baseAddress! + offset, data.count - offset)
            if written > 0 {
                offset += written
                continue
            }
            let error = cmp_errno()
            if error == EINTR { continue }
            // A non-blocking standard error that is full: wait for room, briefly.
            if error == EAGAIN, cmp_poll_writable(STDERR_FILENO, 1_000) > 0 { continue }
            return
        }
    }
}

/// close(2), out of reach of ``StderrPipe/close()``'s own name.
private func closeDescriptor(_ descriptor: Int32) {
    close(descriptor)
}
