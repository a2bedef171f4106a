import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Called by the library's load-time hook (`worker_hook.c`) before `main` in a process spawned
/// as a worker. Never returns.
@_cdecl("swift_multiprocessing_worker_main")
public func _swiftMultiprocessingWorkerMain() {
    WorkerProcess.run()
}

/// Diverts a worker process to the pool's serve loop; returns at once in the parent.
///
/// Optional on Linux with the Swift runtime linked as shared libraries (the default): the
/// library's load-time hook already diverts workers before `main`, in programs and in
/// `swift test` binaries alike. Needed first thing in `main` of a program built with
/// `--static-swift-stdlib`, where the hook runs before the runtime is ready and leaves the
/// worker to this call: a worker that reaches a pool's creation instead exits, and the pool
/// fails with `spawnFailed`. It also documents that the program can be a worker, and covers
/// toolchains that do not run the hook.
///
/// ```swift
/// @main struct App {
///     static func main() async throws {
///         try Multiprocessing.bootstrap()
///         ...
///     }
/// }
/// ```
public func bootstrap() throws {
    if getenv(WorkerEnvironment.marker) != nil {
        WorkerProcess.run()
    }
}

/// The life of a worker process: guard against a vanished parent, then serve tasks until the
/// parent closes the channel, the task limit is reached or the initializer fails.
enum WorkerProcess {
    /// Ends a worker that is about to make a pool of its own: the load-time hook could not
    /// divert it (the Swift runtime linked statically) and its `main` did not call
    /// ``bootstrap()`` first. Left to go on, each worker would spawn workers of its own, and so
    /// on; ended, it dies before it is ready, and the parent's pool fails with `spawnFailed`
    /// after a few such deaths.
    static func refuseUndivertedWorker() {
        guard getenv(WorkerEnvironment.marker) != nil else { return }
        let message = "swift-multiprocessing: a worker process of this program reached a pool's creation: "
            + "with the Swift runtime linked statically, call Multiprocessing.bootstrap() first in main\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        _exit(70)
    }

    static func run() -> Never {
        let parentPID = getenv(WorkerEnvironment.parentPID).flatMap { Int32(String(cString: $0)) }
        let batchScheduling = getenv(WorkerEnvironment.scheduling).map { String(cString: $0) == "batch" } ?? false
        let wakeSlot = getenv(WorkerEnvironment.wakeSlot).flatMap { Int32(String(cString: $0)) }
        // A worker's own children (a nested pool, a subprocess) must not think they are workers.
        unsetenv(WorkerEnvironment.marker)
        unsetenv(WorkerEnvironment.parentPID)
        unsetenv(WorkerEnvironment.scheduling)
        unsetenv(WorkerEnvironment.wakeSlot)
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
        // each 1 MiB payload is a fresh mmap, 256 page faults and zeroing (measured: payload
        // throughput +30-50%). The parent, the user's own process, is left as it is.
        cmp_tune_malloc_for_large_payloads()

        let requests = WorkerEnvironment.requestsDescriptor
        let answers = WorkerEnvironment.answersDescriptor
        // The channel must not leak into processes the task starts: one that outlived the
        // worker would hold the answers pipe open and hide the worker's death from the parent.
        _ = fcntl(requests, F_SETFD, FD_CLOEXEC)
        _ = fcntl(answers, F_SETFD, FD_CLOEXEC)
        let board = wakeSlot.flatMap { WorkerWakeBoard(descriptor: WorkerEnvironment.wakeBoardDescriptor, slot: $0) }
        Task.detached {
            let status = await WorkerServeLoop(requests: requests, answers: answers, wakeBoard: board).serve()
            exit(status)
        }
        while true { pause() }
    }
}
