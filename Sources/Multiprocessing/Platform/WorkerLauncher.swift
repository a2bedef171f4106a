import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Names of the environment variables that pass a worker what it needs before its first message.
enum WorkerEnvironment {
    /// Marks the process as a pool worker; read by the load-time hook (`CMP_WORKER_MARKER`).
    static let marker = "SWIFT_MULTIPROCESSING_WORKER"
    /// The parent's pid: the worker exits if its parent is already gone when it starts.
    static let parentPID = "SWIFT_MULTIPROCESSING_PARENT_PID"
    /// The descriptor number of the worker's channel.
    static let channelDescriptor: Int32 = 3
}

/// A freshly spawned worker and the parent's end of its channel.
struct LaunchedWorker: Sendable {
    let process: ChildProcess
    let channel: Int32
}

/// Spawns workers as fresh runs of this program's own binary (`/proc/self/exe`): the "spawn"
/// start method. A bare `fork()` of a process that has used Dispatch or Swift concurrency hangs
/// in the child, so there is no fork path.
enum WorkerLauncher {
    static func launch() throws(PoolError) -> LaunchedWorker {
        let result: Result<LaunchedWorker, PoolError> = SpawnThread.shared.run {
            var fds: [Int32] = [-1, -1]
            let rc = cmp_socketpair(&fds)
            guard rc == 0 else {
                return .failure(PoolError(.spawnFailed, "socketpair failed: \(systemErrorText(-rc))"))
            }
            let (parentEnd, childEnd) = (fds[0], fds[1])
            var pid: pid_t = 0
            let spawnRC = withCStrings(arguments()) { argv in
                withCStrings(environment()) { envp in
                    cmp_spawn("/proc/self/exe", argv, envp, childEnd, WorkerEnvironment.channelDescriptor, &pid)
                }
            }
            close(childEnd)
            guard spawnRC == 0 else {
                close(parentEnd)
                return .failure(PoolError(.spawnFailed, "posix_spawn of /proc/self/exe failed: \(systemErrorText(spawnRC))"))
            }
            let pidfd = cmp_pidfd_open(pid)
            return .success(LaunchedWorker(process: ChildProcess(pid: pid, pidfd: max(pidfd, -1)), channel: parentEnd))
        }
        return try result.get()
    }

    private static func arguments() -> [String] {
        [CommandLine.arguments.first ?? "swift-multiprocessing-worker"]
    }

    /// The parent's environment plus the worker marker. Swift's crash backtracer delays a
    /// crashed worker's death by 10–300 ms, so it is off in workers unless the user set it.
    private static func environment() -> [String] {
        var result: [String] = []
        var sawBacktrace = false
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            cursor += 1
            if text.hasPrefix(WorkerEnvironment.marker + "=") || text.hasPrefix(WorkerEnvironment.parentPID + "=") {
                continue
            }
            if text.hasPrefix("SWIFT_BACKTRACE=") { sawBacktrace = true }
            result.append(text)
        }
        if !sawBacktrace { result.append("SWIFT_BACKTRACE=enable=no") }
        result.append("\(WorkerEnvironment.marker)=1")
        result.append("\(WorkerEnvironment.parentPID)=\(getpid())")
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
