import CMultiprocessing

/// How a worker process ends on its own, as its exit status.
enum WorkerExitCode: Int32 {
    /// The parent closed the channel, or the worker ran its `maxTasksPerChild` chunks.
    case finished = 0
    /// The pool's initializer threw (the worker reported it first).
    case initializerFailed = 1
    /// A frame from the parent could not be read: the channel cannot be trusted.
    case unreadableMessage = 2
    /// The parent's first message was not the configuration.
    case unexpectedFirstMessage = 3
    /// The worker's channel to the pool was closed under it, by the task it ran.
    case channelClosed = 4
    // The load-time hook's exit when the worker's run of `main` ended before `bootstrap()` or
    // a pool's creation is `CMP_WORKER_EXIT_NO_START_POINT`, defined in C, where it is used.

    /// Why a worker that ended with `status` while it ran a chunk did, when its exit code says.
    static func runFailure(_ status: ExitStatus) -> String? {
        guard case .exited(let code) = status, code == Self.channelClosed.rawValue else { return nil }
        return "the task closed the worker's channel to the pool (its descriptors), so the worker could not answer"
    }

    /// Why a worker that ended with `status` before it was ready did, when its exit code says.
    static func startFailure(_ status: ExitStatus) -> String? {
        guard case .exited(let code) = status, code == CMP_WORKER_EXIT_NO_START_POINT else { return nil }
        return "its run of the program's main ended without reaching Multiprocessing.bootstrap() or a pool's creation: "
            + "call try Multiprocessing.bootstrap() in main, below the code workers need and above the code only the parent runs"
    }
}
