import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one thread that reads every worker's standard error as it comes: it forwards each
/// byte to this process's standard error unchanged, in the order the worker wrote it, and
/// keeps the last of them in the worker's ``StderrTail`` (see ``StderrPipe``).
///
/// A worker's standard error is a pipe to its parent, not the parent's own descriptor, so that
/// the error of an item it died running can carry what it printed last. One thread for the
/// whole process, waiting in `poll` on every pipe at once, costs nothing while workers are
/// quiet and no thread per worker; like ``SpawnThread`` it lives as long as the process, so
/// that no pool has to wait for it to end.
///
/// `@unchecked Sendable`: `added` is a `Mutex`; `watched` is only touched by the relay thread.
final class StderrRelay: @unchecked Sendable {
    /// The relay, started at the first worker's spawn; nil if its thread or its wake-up pipe
    /// could not be made, and then workers write to this process's standard error directly.
    static let shared: StderrRelay? = try? StderrRelay()

    /// Pipes handed over since the thread last looked.
    private let added = Mutex<[StderrPipe]>([])
    private var watched: [StderrPipe] = []
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
    /// relay reads it to its end, then closes it.
    func watch(_ descriptor: Int32) -> StderrPipe {
        let pipe = StderrPipe(descriptor: descriptor)
        added.withLock { $0.append(pipe) }
        var byte: UInt8 = 1
        // A full wake-up pipe already has a wake-up in it.
        _ = write(wake.write, &byte, 1)
        return pipe
    }

    private func loop() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
        var descriptors: [pollfd] = []
        while true {
            descriptors.removeAll(keepingCapacity: true)
            descriptors.append(pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0))
            for pipe in watched { descriptors.append(pollfd(fd: pipe.descriptor, events: Int16(POLLIN), revents: 0)) }
            if poll(&descriptors, nfds_t(descriptors.count), -1) < 0 { continue }  // EINTR
            if descriptors[0].revents != 0 {
                while read(wake.read, buffer.baseAddress, buffer.count) > 0 {}
                watched += added.withLock { list in
                    defer { list.removeAll() }
                    return list
                }
            }
            var ended: [ObjectIdentifier] = []
            for (index, polled) in descriptors.enumerated().dropFirst() where polled.revents != 0 {
                let pipe = watched[index - 1]
                // One read per turn, so that a worker that writes without pause does not keep
                // the others waiting.
                if !pipe.forwardAvailable(reads: 1, buffer: buffer) {
                    pipe.close()
                    ended.append(ObjectIdentifier(pipe))
                }
            }
            if !ended.isEmpty { watched.removeAll { ended.contains(ObjectIdentifier($0)) } }
        }
    }
}
