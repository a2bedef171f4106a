// The `payload-data` workload: `payload` with Foundation `Data` buffers. It runs in
// `pool-bench-data`, a program of its own (built with this one), because this one does not link
// Foundation; see that program.

import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One round: a new pool in `pool-bench-data`, warmed, then the timed map.
nonisolated func oursPayloadData(setup: PoolSetup, sizes: Sizes) async throws -> Measurement {
    try DataPayloadPeer.shared.round(settings: [
        "--buffers", String(sizes.payloadBuffers), "--bytes", String(sizes.payloadBytes),
        "--processes", String(setup.processes),
        "--worker-scheduling", setup.workerScheduling == .batch ? "batch" : "inherit",
    ])
}

/// `pool-bench-data`, kept running across a row's rounds: each round makes a new pool in that
/// one process, as `payload`'s rounds do in this one. A process's first buffers cost page faults
/// that later ones, reusing the memory the earlier ones gave back, do not; a fresh process per
/// round would pay them every round.
final class DataPayloadPeer: Sendable {
    static let shared = DataPayloadPeer()

    private struct Running: Sendable {
        let pid: pid_t
        /// Where "run" lines go (the peer's stdin).
        let requests: Int32
        /// Where its JSON lines come from (its stdout).
        let answers: Int32
        let settings: [String]
    }

    private let running = Mutex<Running?>(nil)

    /// Longest a round may take before the peer is killed.
    static let timeoutSeconds = 120.0

    /// Asks the peer (started on first need, or again for other settings) for one round.
    func round(settings: [String]) throws -> Measurement {
        try running.withLock { running in
            if let current = running, current.settings != settings {
                Self.stop(current)
                running = nil
            }
            if running == nil { running = try Self.start(settings: settings) }
            let peer = running!
            do {
                return try Self.round(peer)
            } catch {
                kill(peer.pid, SIGKILL)
                Self.stop(peer)
                running = nil
                throw error
            }
        }
    }

    /// Ends the peer: it reads the end of its input and exits.
    func stop() {
        running.withLock { running in
            if let peer = running { Self.stop(peer) }
            running = nil
        }
    }

    private static func start(settings: [String]) throws -> Running {
        let path = siblingExecutable("pool-bench-data")
        guard access(path, X_OK) == 0 else {
            throw BenchError("\(path) not found: it is built with pool-bench (swift build -c release --product pool-bench)")
        }
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard pipe(&input) == 0 else { throw BenchError("pipe failed: errno \(errno)") }
        guard pipe(&output) == 0 else {
            input.forEach { close($0) }
            throw BenchError("pipe failed: errno \(errno)")
        }
        for fd in input + output { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        let arguments = [path, "--serve"] + settings
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(input[0])
        close(output[1])
        guard status == 0 else {
            close(input[1])
            close(output[0])
            throw BenchError("cannot run \(path): errno \(status)")
        }
        return Running(pid: pid, requests: input[1], answers: output[0], settings: settings)
    }

    private static func round(_ peer: Running) throws -> Measurement {
        let request = Array("run\n".utf8)
        guard request.withUnsafeBytes({ write(peer.requests, $0.baseAddress, $0.count) }) == request.count else {
            throw BenchError("pool-bench-data stopped reading: errno \(errno)")
        }
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = monotonicNanos() + UInt64(timeoutSeconds * 1e9)
        while !line.contains(UInt8(ascii: "\n")) {
            let now = monotonicNanos()
            guard now < deadline else { throw BenchError("pool-bench-data did not answer within \(fixed(timeoutSeconds, 0)) s") }
            var entry = pollfd(fd: peer.answers, events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, Int32(min(1_000, (deadline - now) / 1_000_000 + 1))) <= 0 { continue }
            let got = buffer.withUnsafeMutableBytes { read(peer.answers, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw BenchError("pool-bench-data ended without an answer (see its error above)") }
            line += buffer[0..<got]
        }
        return try measurement(printedBy: ProcessOutput(stdout: line, stderr: [], exitStatus: 0), peer: "pool-bench-data").get()
    }

    private static func stop(_ peer: Running) {
        close(peer.requests)
        var status: Int32 = 0
        while waitpid(peer.pid, &status, 0) < 0 && errno == EINTR {}
        close(peer.answers)
    }
}

/// The path of `name` in the directory this program was started from.
func siblingExecutable(_ name: String) -> String {
    var path = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &path, Int(PATH_MAX))
    guard length > 0 else { return name }
    let executable = String(decoding: path[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = executable.lastIndex(of: "/") else { return name }
    return String(executable[...slash]) + name
}
