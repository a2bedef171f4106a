import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one thread that reads every worker's standard error: it forwards each byte to this
/// process's standard error unchanged, in the order the worker wrote it, and keeps the last of
/// them in the worker's ``StderrTail``.
///
/// A worker's standard error is a pipe to this thread, not the parent's own descriptor, so that
/// the error of an item it died running can carry what it printed last. One thread for the
/// whole process, waiting in `poll` on every pipe at once, costs nothing while workers are
/// quiet and no thread per worker; like ``SpawnThread`` it lives as long as the process, so
/// that no pool has to wait for it to end.
///
/// `@unchecked Sendable`: `added` is a `Mutex`; `watched` is only touched by the relay thread.
final class StderrRelay: @unchecked Sendable {
    /// A pipe being read and the tail it feeds.
    private struct Watched: Sendable {
        let descriptor: Int32
        let tail: StderrTail
    }

    /// The relay, started at the first worker's spawn; nil if its thread or its wake-up pipe
    /// could not be made, and then workers write to this process's standard error directly.
    static let shared: StderrRelay? = try? StderrRelay()

    /// Pipes handed over since the thread last looked.
    private let added = Mutex<[Watched]>([])
    private var watched: [Watched] = []
    /// Written to wake the thread when a pipe is added; read end first.
    private let wake: (read: Int32, write: Int32)

    private init() throws(PoolError) {
        var fds: [Int32] = [-1, -1]
        let rc = cmp_output_pipe(&fds)
        guard rc == 0 else { throw PoolError(.systemCallFailed, "pipe failed: \(systemErrorText(-rc))") }
        // Both ends non-blocking: a burst of additions never blocks the spawn thread.
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        wake = (fds[0], fds[1])
        do {
            try NativeThread.detach(name: "mp-stderr") { [self] in loop() }
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
    }

    /// Takes over `descriptor` (the read end of a worker's standard error, O_NONBLOCK): the
    /// relay reads it to its end, then closes it. Returns the tail it feeds.
    func watch(_ descriptor: Int32) -> StderrTail {
        let tail = StderrTail()
        added.withLock { $0.append(Watched(descriptor: descriptor, tail: tail)) }
        var byte: UInt8 = 1
        // A full pipe already has a wake-up in it.
        _ = write(wake.write, &byte, 1)
        return tail
    }

    private func loop() {
        // A parent whose standard error is a pipe nobody reads any more must see EPIPE here,
        // not die of SIGPIPE.
        _ = cmp_block_sigpipe_in_thread()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var descriptors: [pollfd] = []
        while true {
            descriptors.removeAll(keepingCapacity: true)
            descriptors.append(pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0))
            for entry in watched { descriptors.append(pollfd(fd: entry.descriptor, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
            if ready < 0 { continue }  // EINTR; nothing else can fail with valid descriptors
            if descriptors[0].revents != 0 {
                while read(wake.read, &buffer, buffer.count) > 0 {}
                watched += added.withLock { list in
                    defer { list.removeAll() }
                    return list
                }
            }
            var ended: Set<Int32> = []
            for polled in descriptors.dropFirst() where polled.revents != 0 {
                guard let entry = watched.first(where: { $0.descriptor == polled.fd }) else { continue }
                if !relay(entry, through: &buffer) { ended.insert(entry.descriptor) }
            }
            if !ended.isEmpty {
                for entry in watched where ended.contains(entry.descriptor) {
                    close(entry.descriptor)
                    entry.tail.end()
                }
                watched.removeAll { ended.contains($0.descriptor) }
            }
        }
    }

    /// Reads once what `entry`'s pipe has and forwards it; false at its end (or an error).
    private func relay(_ entry: Watched, through buffer: inout [UInt8]) -> Bool {
        let count = buffer.withUnsafeMutableBytes { read(entry.descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            let error = cmp_errno()
            return error == EAGAIN || error == EINTR
        }
        if count == 0 { return false }
        buffer.withUnsafeBytes { bytes in
            let data = UnsafeRawBufferPointer(rebasing: bytes[..<count])
            entry.tail.append(data)
            Self.forward(data)
        }
        return true
    }

    /// Writes `data` to this process's standard error; what cannot be written (a closed or
    /// broken descriptor) is dropped, as it would have been for the worker.
    private static func forward(_ data: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < data.count {
            let written = write(STDERR_FILENO, data.baseAddress! + offset, data.count - offset)
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
