import CMultiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs the `MultiprocessingProbe` program (built beside the test bundle) for the tests that
/// need a pool parent of their own.
struct ProbeProcess {
    let pid: pid_t
    let output: Int32

    static var executable: String { directory + "/MultiprocessingProbe" }

    /// The folder of the test bundle, where the package's executables are built too.
    static var directory: String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { readlink("/proc/self/exe", $0.baseAddress!, $0.count - 1) }
        }
        let path = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
        return path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    }

    /// Starts the probe with `arguments`; its standard output comes through `output`, and its
    /// standard error too when `alsoStandardError`. In a process group of its own when
    /// `ownProcessGroup` (as a shell starts a job), so that the group can be signalled.
    static func start(_ arguments: [String], alsoStandardError: Bool = false, ownProcessGroup: Bool = false) throws -> ProbeProcess {
        try start(
            executable: executable, arguments, capturing: STDOUT_FILENO, alsoStandardError: alsoStandardError,
            ownProcessGroup: ownProcessGroup)
    }

    /// Starts `executable` (a program of this package) with `arguments`; its descriptor
    /// `stream` (standard output or error) comes through `output`, and standard error too when
    /// `alsoStandardError`. `input`, if given, is its standard input (small: it is written
    /// before the program starts reading); `environment` replaces this process's.
    static func start(
        executable: String, _ arguments: [String], capturing stream: Int32,
        input: String? = nil, alsoStandardError: Bool = false, environment: [String]? = nil, ownProcessGroup: Bool = false
    ) throws -> ProbeProcess {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ProbeFailure("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], stream)
        if alsoStandardError { posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO) }
        posix_spawn_file_actions_addclose(&actions, fds[0])
        var inputFDs: [Int32] = [-1, -1]
        if let input {
            guard pipe(&inputFDs) == 0 else { throw ProbeFailure("pipe failed") }
            _ = input.withCString { write(inputFDs[1], $0, strlen($0)) }
            close(inputFDs[1])
            posix_spawn_file_actions_adddup2(&actions, inputFDs[0], STDIN_FILENO)
        }
        defer { if input != nil { close(inputFDs[0]) } }
        // Only the three standard streams: a descriptor another test holds open at this moment
        // (its probe's pipe, a file it leaves inheritable) must not reach this program, where it
        // would change its descriptor counts or keep the other test's pipe from ending.
        _ = cmp_spawn_actions_close_from(&actions, 3)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let envp = environment.map { $0.map { strdup($0) } + [nil] }
        defer { envp?.forEach { free($0) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        if ownProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        }
        let rc =
            envp.map { posix_spawn(&pid, executable, &actions, &attributes, argv, $0) }
            ?? posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw ProbeFailure("cannot start \(executable): errno \(rc)")
        }
        return ProbeProcess(pid: pid, output: fds[0])
    }

    /// Reads one line of the probe's output (blocking; callers run under a deadline).
    func readLine() -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(output, &byte, 1) == 1 {
            if byte == 10 { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    /// Reads the probe's output to its end, then waits for it to exit: its lines and wait status.
    /// Blocks; tests call it through `offCooperativePool`.
    func linesUntilExit() -> (lines: [String], status: Int32) {
        var lines: [String] = []
        while let line = readLine() { lines.append(line) }
        return (lines, wait())
    }

    /// Reads the probe's output to its end in large reads, then waits for it to exit: its
    /// bytes and wait status. Blocks; tests call it through `offCooperativePool`.
    func outputUntilExit() -> (output: [UInt8], status: Int32) {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(output, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return (bytes, wait())
    }

    /// Waits for the probe to exit and returns its wait status.
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        close(output)
        return status
    }
}

struct ProbeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Waits until the process `pid` (not necessarily our child) has exited, up to `milliseconds`,
/// by polling a pidfd: an event, not a sleep. Returns false if it is still running.
func waitForExit(of pid: pid_t, milliseconds: Int32) -> Bool {
    let fd = cmp_pidfd_open(pid)
    if fd < 0 { return true }  // ESRCH: already gone
    defer { close(fd) }
    return cmp_poll_readable(fd, milliseconds) > 0
}

/// SIGKILLs the probe, then expects each of its `workers` to exit within `milliseconds`. A
/// survivor is killed after the expectation fails: it would hold the test runner's output open
/// and stall the whole run.
func expectWorkersDie(
    _ workers: [pid_t], withParent probe: ProbeProcess, milliseconds: Int32,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    kill(probe.pid, SIGKILL)
    _ = await offCooperativePool { probe.wait() }
    for worker in workers {
        let exited = await offCooperativePool { waitForExit(of: worker, milliseconds: milliseconds) }
        #expect(exited, "worker \(worker) outlived its parent by \(milliseconds) ms", sourceLocation: sourceLocation)
        if !exited { kill(worker, SIGKILL) }
    }
}
