import Multiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where a worker starts: the top-level code of a `main.swift` program above the worker's start
/// point runs in every worker, so the globals it sets have their values there, as in Python's
/// spawn (runs `MainSwiftProbe`, a program written as top-level code).
@Suite("workers start where the program says", .timeLimit(.minutes(2)))
struct WorkerStartTests {
    /// Runs the probe's `scenario`; returns its standard output lines.
    private func runProbe(_ scenario: String, input: String? = nil) async throws -> [String] {
        try await withDeadline(60) { () async throws in
            let probe = try ProbeProcess.start(
                executable: ProbeProcess.directory + "/MainSwiftProbe", [scenario],
                capturing: STDOUT_FILENO, input: input)
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0)
            return lines
        }
    }

    @Test("main.swift without bootstrap(): workers run the top-level code above the pool and see its globals")
    func topLevelCodeWithoutBootstrap() async throws {
        let lines = try await runProbe("plain")
        // `factor` is 20 (two arguments), `names[1]` is "b": before, a worker read 0 and crashed on `names`.
        #expect(lines == ["60", "b", "[true, true, true, true]"])
    }

    @Test("main.swift with bootstrap() below its globals: workers set them; code below runs only in the parent")
    func topLevelCodeWithBootstrap() async throws {
        let lines = try await runProbe("bootstrap")
        #expect(lines == ["parent only", "60", "b", "[true, true, true, true]"])
    }

    @Test("a worker still in main's top-level code dies with its parent, even SIGKILLed")
    func orphanBeforeServing() async throws {
        try await withDeadline(60) { () async throws in
            let probe = try ProbeProcess.start(
                executable: ProbeProcess.directory + "/MainSwiftProbe", ["orphan-in-main"],
                capturing: STDOUT_FILENO)
            let workers: [pid_t] = await offCooperativePool {
                (0..<2).compactMap { _ in probe.readLine().flatMap { Int32($0.dropFirst("worker ".count)) } }
            }
            #expect(workers.count == 2)
            await expectWorkersDie(workers, withParent: probe, milliseconds: 2_000)
        }
    }

    @Test("a worker whose main ends before any start point fails the pool with the reason, not a hang")
    func noStartPoint() async throws {
        // The parent reads "go"; its workers read /dev/null and end before making a pool.
        let lines = try await runProbe("no-start-point", input: "go\n")
        let line = try #require(lines.first)
        // The error's own lines after it: the last worker's standard error, which says it too.
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("  ") }, "\(lines)")
        #expect(lines.last?.contains("ran this program's main to its end without reaching Multiprocessing.bootstrap()") == true, "\(lines)")
        #expect(line.hasPrefix("PoolError.spawnFailed:"), "\(line)")
        #expect(line.contains("without reaching Multiprocessing.bootstrap() or a pool's creation"), "\(line)")
    }
}
