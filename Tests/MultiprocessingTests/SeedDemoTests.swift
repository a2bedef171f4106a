import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs `multiprocessing-demo` (built beside the test bundle) and checks its log lines against
/// the seed tutorial's outputs.
@Suite("the seed's three programs", .timeLimit(.minutes(2)))
struct SeedDemoTests {
    /// Runs the demo with `arguments`; returns its standard error lines (the log).
    private func runDemo(_ arguments: [String]) async throws -> [String] {
        try await withDeadline(60) { () async throws in
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw ProbeFailure("pipe failed") }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO)
            posix_spawn_file_actions_addclose(&actions, fds[0])
            let executable = ProbeProcess.directory + "/multiprocessing-demo"
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            var pid: pid_t = 0
            let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
            close(fds[1])
            guard rc == 0 else { throw ProbeFailure("cannot start \(executable): errno \(rc)") }
            let probe = ProbeProcess(pid: pid, output: fds[0])
            var lines: [String] = []
            while let line = probe.readLine() { lines.append(line) }
            let status = probe.wait()
            #expect(status == 0)
            return lines
        }
    }

    @Test("map: workers start and end, then the caller resumes with [100, 50]")
    func map() async throws {
        let lines = try await runDemo(["map", "--seconds", "0.3"])
        #expect(lines.count == 6, "\(lines)")
        let workerLines = Array(lines.prefix(4))
        #expect(workerLines.filter { $0.hasSuffix(": start") }.count == 2)
        #expect(workerLines.filter { $0.hasSuffix(": end") }.count == 2)
        #expect(workerLines.allSatisfy { $0.hasPrefix("SpawnPoolWorker-") })
        #expect(workerLines.firstIndex { $0.hasSuffix(": end") }! > workerLines.lastIndex { $0.hasSuffix(": start") }!)
        #expect(Set(workerLines.map { $0.split(separator: ":")[0] }).count == 2, "two different workers")
        #expect(Array(lines.suffix(2)) == ["MainProcess: executed", "MainProcess: [100, 50]"])
    }

    @Test("map-async: the caller logs executed before the workers finish")
    func mapAsync() async throws {
        let lines = try await runDemo(["map-async", "--seconds", "0.3"])
        #expect(lines.count == 6, "\(lines)")
        #expect(lines.first == "MainProcess: executed")
        #expect(lines.last == "MainProcess: [100, 50]")
        #expect(lines.dropFirst().dropLast().allSatisfy { $0.hasPrefix("SpawnPoolWorker-") })
    }

    @Test("imap: each result is logged as soon as it is ready, in input order")
    func imap() async throws {
        let lines = try await runDemo(["imap", "--seconds", "0.3", "--show-iterator"])
        #expect(lines.count == 8, "\(lines)")
        #expect(Array(lines.prefix(2)) == ["MainProcess: executed", "MainProcess: IMapSequence<Int>(ordered, chunksize: 1)"])
        let main = lines.filter { $0.hasPrefix("MainProcess: ") }
        #expect(Array(main.suffix(2)) == ["MainProcess: 100", "MainProcess: 50"])
        // 100 is logged after some worker ended, and 50 only after both did.
        let index100 = lines.firstIndex(of: "MainProcess: 100")!
        #expect(lines[..<index100].contains { $0.hasSuffix(": end") })
        #expect(lines.lastIndex { $0.hasSuffix(": end") }! < lines.firstIndex(of: "MainProcess: 50")!)
    }
}
