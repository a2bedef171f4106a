import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The life of a worker process: guard against a vanished parent, then serve tasks until the
/// parent closes the channel, the task limit is reached or the initializer fails.
enum WorkerProcess {
    /// Starts serving in a worker that has not started yet (one left to start in `main`):
    /// called by `bootstrap()` and by a pool's creation, whichever its run of `main` reaches
    /// first. Returns at once in any other process.
    static func startIfWorker() {
        if getenv(WorkerEnvironment.marker) != nil { run() }
    }

    static func run() -> Never {
        cmp_worker_did_start()
        let parentPID = getenv(WorkerEnvironment.parentPID).flatMap { Int32(String(cString: $0)) }
        let batchScheduling = getenv(WorkerEnvironment.scheduling).map { String(cString: $0) == "batch" } ?? false
        let wakeSlot = getenv(WorkerEnvironment.wakeSlot).flatMap { Int32(String(cString: $0)) }
        let waitsOnSocket = getenv(WorkerEnvironment.idleWait).map { String(cString: $0) == "socket" } ?? false
        // A worker's own children (a nested pool, a subprocess) must not think they are workers.
        unsetenv(WorkerEnvironment.marker)
        unsetenv(WorkerEnvironment.parentPID)
        unsetenv(WorkerEnvironment.scheduling)
        unsetenv(WorkerEnvironment.wakeSlot)
        unsetenv(WorkerEnvironment.idleWait)
        unsetenv(WorkerEnvironment.start)
        // Before the serve loop starts the threads that inherit it (see `WorkerScheduling`).
        // If the kernel refuses (a seccomp filter, say), the worker keeps the inherited policy:
        // it only starts some chunks later.
        if batchScheduling { _ = cmp_use_batch_scheduling() }
        // Die with the parent, even when it is SIGKILLed; the check after it closes the race
        // where the parent died before the signal was armed.
        _ = cmp_set_parent_death_signal(SIGKILL)
        if let parentPID, getppid() != parentPID { _exit(0) }
        // Writing to a parent that is gone must end the worker quietly.
        signal(SIGPIPE, SIG_IGN)
        // A worker allocates and frees a buffer per large argument and result: without this,
        // each large payload is a fresh mmap, page faults and zeroing. The parent, the user's own
        // process, is left as it is.
        cmp_tune_malloc_for_large_payloads()

        // The channel moves out of the way of the task's own descriptors: a task that closes
        // descriptor 3 or 4 (its own, it thinks) must not cut the worker off, and the files it
        // opens then must not take the channel's numbers. Close-on-exec: a process the task
        // starts that outlived the worker would hold the answers pipe open and hide the
        // worker's death from the parent.
        let requests = Self.moveAside(WorkerEnvironment.requestsDescriptor)
        let answers = Self.moveAside(WorkerEnvironment.answersDescriptor)
        answersDescriptor.store(answers, ordering: .relaxed)
        let board = wakeSlot.flatMap { WorkerWakeBoard(descriptor: WorkerEnvironment.wakeBoardDescriptor, slot: $0) }
        Task.detached {
            let status = await WorkerServeLoop(
                requests: requests, answers: answers, wakeBoard: board, waitsOnSocket: waitsOnSocket
            ).serve()
            exit(status.rawValue)
        }
        while true { pause() }
    }

    /// The descriptor the worker's answers go up, once it serves (for tests that corrupt it).
    static let answersDescriptor = Atomic<Int32>(-1)

    /// Where the channel's descriptors move: high, below the usual limit of 1024 open files.
    static let channelDescriptorBase: Int32 = 900

    /// Moves `descriptor` to the lowest free number from ``channelDescriptorBase`` on (or keeps
    /// it where that fails), close-on-exec.
    private static func moveAside(_ descriptor: Int32) -> Int32 {
        let moved = fcntl(descriptor, F_DUPFD_CLOEXEC, channelDescriptorBase)
        guard moved >= 0 else {
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            return descriptor
        }
        close(descriptor)
        return moved
    }
}
