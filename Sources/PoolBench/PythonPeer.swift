// CPython's side: runs Benchmarks/python/pool_bench.py once per workload and round, reads its one
// JSON line, and never lets Python take the bench down: a missing interpreter, a failure, a wrong
// answer or a hang (Python's Pool can hang) gives nil, and a run past the timeout is killed with
// its whole process group (the pool's workers included).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct PythonPeer: Sendable {
    var interpreter: String
    var script: String
    var startMethod: String
    var processes: Int
    var quick: Bool
    var timeoutSeconds: Double

    /// Where the script lives in this repository: next to this source file's package root, else
    /// relative to the working directory.
    static func defaultScript(sourceFile: String = #filePath) -> String {
        let relative = "Benchmarks/python/pool_bench.py"
        var parts = sourceFile.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count > 3 {
            parts.removeLast(3)  // Sources/PoolBench/PythonPeer.swift
            let candidate = parts.joined(separator: "/") + "/" + relative
            if fileIsReadable(candidate) { return candidate }
        }
        return relative
    }

    /// One run of one workload: the figure and the script's `extra` numbers, or an explanation.
    func run(workload: String) -> Result<Measurement, BenchError> {
        guard fileIsReadable(script) else { return .failure(BenchError("python script not found at \(script)")) }
        var arguments = [
            interpreter, script, "--workload", workload, "--start-method", startMethod,
            "--processes", String(processes),
        ]
        if quick { arguments.append("--quick") }
        switch runProcess(arguments, timeoutSeconds: timeoutSeconds) {
        case .failure(let error): return .failure(error)
        case .success(let output): return measurement(printedBy: output, peer: "python")
        }
    }
}

/// The measurement a peer process (the Python script, `pool-bench-data`) printed as its last
/// JSON line: its `value`, and its `extra` numbers as details.
func measurement(printedBy output: ProcessOutput, peer: String) -> Result<Measurement, BenchError> {
    let stderrTail = String(decoding: output.stderr.suffix(600), as: UTF8.self)
    guard output.exitStatus == 0 else {
        return .failure(BenchError("\(peer) exited with status \(output.exitStatus): \(stderrTail)"))
    }
    let lines = String(decoding: output.stdout, as: UTF8.self).split(separator: "\n")
    guard let line = lines.last(where: { $0.hasPrefix("{") }) else {
        return .failure(BenchError("\(peer) printed no JSON line: \(stderrTail)"))
    }
    do {
        let json = try JSONValue.parse(String(line))
        guard let value = json["value"]?.number else { throw BenchError("no \"value\" in \(line)") }
        var details: [Measurement.Detail] = []
        if case .object(let members)? = json["extra"] {
            // Settings echoed back (processes, quick, start_method) are not measurements.
            for (name, member) in members where !["processes", "quick", "start_method"].contains(name) {
                if let number = member.number { details.append(.init(name: name, value: number)) }
            }
        }
        return .success(Measurement(value: value, details: details))
    } catch let error as BenchError {
        return .failure(error)
    } catch {
        return .failure(BenchError("\(error)"))
    }
}

struct ProcessOutput {
    var stdout: [UInt8]
    var stderr: [UInt8]
    var exitStatus: Int32
}

/// Runs `arguments` (looked up on PATH) in its own process group, collecting stdout and stderr;
/// kills the group after `timeoutSeconds`. `environment` replaces this process's. With
/// `terminateFirst`, a run past the timeout gets SIGTERM and a few seconds to end before the
/// group is killed: an MPI launcher puts its ranks in process groups of their own, and ends
/// them only when it is asked to end itself.
func runProcess(
    _ arguments: [String], timeoutSeconds: Double, environment: [String]? = nil, terminateFirst: Bool = false
) -> Result<ProcessOutput, BenchError> {
    var outPipe: [Int32] = [-1, -1]
    var errPipe: [Int32] = [-1, -1]
    guard pipe(&outPipe) == 0 else { return .failure(BenchError("pipe failed: errno \(errno)")) }
    guard pipe(&errPipe) == 0 else {
        outPipe.forEach { close($0) }
        return .failure(BenchError("pipe failed: errno \(errno)"))
    }
    for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attributes, 0)

    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let envp = environment.map { $0.map { strdup($0) } + [nil] }
    defer { envp?.forEach { free($0) } }
    var pid: pid_t = 0
    let status =
        envp.map { posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, $0) }
        ?? posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
    close(outPipe[1])
    close(errPipe[1])
    guard status == 0 else {
        close(outPipe[0])
        close(errPipe[0])
        return .failure(BenchError("cannot run \(arguments[0]): errno \(status)"))
    }

    var output = ProcessOutput(stdout: [], stderr: [], exitStatus: -1)
    var open: [Int32] = [outPipe[0], errPipe[0]]
    let deadline = monotonicNanos() + UInt64(timeoutSeconds * 1e9)
    var buffer = [UInt8](repeating: 0, count: 65536)
    var timedOut = false
    while !open.isEmpty {
        let now = monotonicNanos()
        if now >= deadline {
            timedOut = true
            break
        }
        var polls = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let waitMilliseconds = Int32(min(1_000, (deadline - now) / 1_000_000 + 1))
        let ready = poll(&polls, nfds_t(polls.count), waitMilliseconds)
        if ready < 0 && errno != EINTR { break }
        for entry in polls where entry.revents != 0 {
            let got = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
            if got > 0 {
                if entry.fd == outPipe[0] {
                    output.stdout += buffer[0..<got]
                } else {
                    output.stderr += buffer[0..<got]
                }
            } else if got == 0 || errno != EINTR {
                close(entry.fd)
                open.removeAll { $0 == entry.fd }
            }
        }
    }
    if timedOut {
        if terminateFirst {
            kill(pid, SIGTERM)
            var info = siginfo_t()
            let patience = monotonicNanos() + 5_000_000_000
            while monotonicNanos() < patience {
                info._sifields._sigchld.si_pid = 0
                if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._sigchld.si_pid != 0 { break }
                usleep(50_000)
            }
        }
        // The pool's workers share the group and hold the pipes: kill them all.
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        open.forEach { close($0) }
    }
    // Wait for the exit without reaping, so the pid (the group's id) cannot be reused yet; then
    // whatever the script left behind in its group (a hung worker) goes too; then reap.
    var info = siginfo_t()
    while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
    kill(-pid, SIGKILL)
    var waitStatus: Int32 = 0
    while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
    if timedOut {
        return .failure(BenchError("\(arguments[0]) did not finish within \(fixed(timeoutSeconds, 0)) s and was killed"))
    }
    // WIFEXITED / WEXITSTATUS by hand (the macros do not import).
    output.exitStatus = (waitStatus & 0x7f) == 0 ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f)
    return .success(output)
}
