import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Names of the environment variables that pass a worker what it needs before its first message.
enum WorkerEnvironment {
    /// Marks the process as a pool worker; read by the load-time hook (`CMP_WORKER_MARKER`).
    static let marker = CMP_WORKER_MARKER
    /// The parent's pid: the worker exits if its parent is already gone when it starts.
    static let parentPID = CMP_WORKER_PARENT_PID
    /// Present (value `batch`) when the worker must put itself under `SCHED_BATCH` before it
    /// starts any thread: glibc's `posix_spawn` can set only the FIFO, RR and OTHER policies.
    static let scheduling = "SWIFT_MULTIPROCESSING_SCHEDULING"
    /// The descriptor number of the worker's end of its requests socket (parent to worker).
    static let requestsDescriptor: Int32 = 3
    /// The descriptor number of the write end of the worker's answers pipe (worker to parent).
    static let answersDescriptor: Int32 = 4
    /// Present (value `socket`) when the worker must wait for its chunks on its socket at once,
    /// without a moment of active reading first or the wake board (see ``WorkerIdleWait``).
    static let idleWait = "SWIFT_MULTIPROCESSING_IDLE_WAIT"
    /// The worker's slot on its pool's ``WakeBoard``; absent when the pool has none for it.
    static let wakeSlot = "SWIFT_MULTIPROCESSING_WAKE_SLOT"
    /// The descriptor number of the pool's wake board (a memfd) in a worker that has a slot.
    static let wakeBoardDescriptor: Int32 = 5
    /// Where the worker starts serving: a ``WorkerStartPoint`` raw value (`CMP_WORKER_START`).
    static let start = CMP_WORKER_START
}

/// A freshly spawned worker and the parent's ends of its channel.
///
/// Requests go down a socket: the parent writes from any thread, and `send` with MSG_NOSIGNAL
/// reports a dead worker as an error, where a write to a pipe would raise SIGPIPE in the
/// user's process. Answers come up a pipe: a small write and read on a pipe cost less than half
/// as much as on a unix socket, and every chunk's answer is one of each. Answers over 64 KiB go
/// back up the socket, announced in the pipe (see `WorkerReplies.send`).
struct LaunchedWorker: Sendable {
    let process: ChildProcess
    /// The parent's end of the requests socket.
    let requests: Int32
    /// The read end of the answers pipe (O_NONBLOCK).
    let answers: Int32
    /// The worker's standard error, which ``StderrRelay`` forwards to this process's; nil when
    /// there is no relay and the worker writes to this process's standard error itself.
    let stderr: StderrPipe?
}

/// Spawns workers as fresh runs of this program's own binary (`/proc/self/exe`): the "spawn"
/// start method. A bare `fork()` of a process that has used Dispatch or Swift concurrency hangs
/// in the child, so there is no fork path.
enum WorkerLauncher {
    /// Spawns a worker; `wake` is its slot on the pool's board, if it has one. With
    /// `waitsOnSocket` it waits for its chunks as ``WorkerIdleWait/waitsOnSocket`` says.
    static func launch(batchScheduling: Bool, waitsOnSocket: Bool = false, wake: WakeTarget?) throws(PoolError) -> LaunchedWorker {
        let result: Result<LaunchedWorker, PoolError> = SpawnThread.shared.run {
            var sockets: [Int32] = [-1, -1]
            let socketRC = cmp_socketpair(&sockets)
            guard socketRC == 0 else {
                return .failure(PoolError(.spawnFailed, "socketpair failed: \(systemErrorText(-socketRC))"))
            }
            var pipe: [Int32] = [-1, -1]
            let pipeRC = cmp_answer_pipe(&pipe)
            guard pipeRC == 0 else {
                close(sockets[0])
                close(sockets[1])
                return .failure(PoolError(.spawnFailed, "pipe failed: \(systemErrorText(-pipeRC))"))
            }
            var childEnds: [Int32] = [sockets[1], pipe[1]]
            var targets = [WorkerEnvironment.requestsDescriptor, WorkerEnvironment.answersDescriptor]
            // The worker's standard error, read by the relay: what it prints still reaches this
            // process's standard error, and the end of it can explain its death.
            var errorPipe: [Int32] = [-1, -1]
            let relay = StderrRelay.shared
            if relay != nil, cmp_output_pipe(&errorPipe) == 0 {
                childEnds.append(errorPipe[1])
                targets.append(STDERR_FILENO)
            } else {
                errorPipe = [-1, -1]
            }
            var given = childEnds
            let board = wake?.board.descriptorCopy()
            if let board {
                given.append(board)
                targets.append(WorkerEnvironment.wakeBoardDescriptor)
            }
            defer { if let board { close(board) } }
            var pid: pid_t = 0
            let spawnRC = withCStrings(arguments()) { argv in
                withCStrings(
                    environment(
                        batchScheduling: batchScheduling, waitsOnSocket: waitsOnSocket,
                        wakeSlot: board == nil ? nil : wake?.slot)
                ) { envp in
                    cmp_spawn("/proc/self/exe", argv, envp, given, targets, Int32(given.count), &pid)
                }
            }
            // The parent must not keep the worker's ends: the answers pipe would never report
            // the worker's death as its end, nor its standard error reach end of file.
            for end in childEnds { close(end) }
            guard spawnRC == 0 else {
                close(sockets[0])
                close(pipe[0])
                if errorPipe[0] >= 0 { close(errorPipe[0]) }
                return .failure(PoolError(.spawnFailed, "posix_spawn of /proc/self/exe failed: \(systemErrorText(spawnRC))"))
            }
            let pidfd = cmp_pidfd_open(pid)
            let stderr = errorPipe[0] >= 0 ? relay?.watch(errorPipe[0]) : nil
            return .success(
                LaunchedWorker(
                    process: ChildProcess(pid: pid, pidfd: max(pidfd, -1)),
                    requests: sockets[0], answers: pipe[0], stderr: stderr))
        }
        return try result.get()
    }

    /// The parent's own arguments: a worker that runs `main` up to its start point must compute
    /// what the parent computed there (Python's spawn passes `sys.argv` on too).
    private static func arguments() -> [String] {
        CommandLine.arguments.isEmpty ? ["swift-multiprocessing-worker"] : CommandLine.arguments
    }

    /// The parent's environment plus the worker's variables. Swift's crash backtracer delays a
    /// crashed worker's death (and so its replacement), so it is off in workers unless the user
    /// set it.
    static func environment(batchScheduling: Bool, waitsOnSocket: Bool = false, wakeSlot: Int32?) -> [String] {
        var result: [String] = []
        var sawBacktrace = false
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            cursor += 1
            if [
                WorkerEnvironment.marker, WorkerEnvironment.parentPID, WorkerEnvironment.scheduling, WorkerEnvironment.wakeSlot,
                WorkerEnvironment.start, WorkerEnvironment.idleWait,
            ]
            .contains(where: { text.hasPrefix($0 + "=") }) {
                continue
            }
            if text.hasPrefix("SWIFT_BACKTRACE=") { sawBacktrace = true }
            result.append(text)
        }
        if !sawBacktrace { result.append("SWIFT_BACKTRACE=enable=no") }
        result.append("\(WorkerEnvironment.marker)=1")
        result.append("\(WorkerEnvironment.parentPID)=\(getpid())")
        result.append("\(WorkerEnvironment.start)=\(WorkerStartPoint.forNewWorkers.rawValue)")
        if batchScheduling { result.append("\(WorkerEnvironment.scheduling)=batch") }
        if waitsOnSocket { result.append("\(WorkerEnvironment.idleWait)=socket") }
        if let wakeSlot { result.append("\(WorkerEnvironment.wakeSlot)=\(wakeSlot)") }
        return result
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}
