import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs `multiprocessing-demo faults` (built beside the test bundle) and checks what it shows.
@Suite("the faults demo", .timeLimit(.minutes(2)))
struct FaultsDemoTests {
    @Test("each crash's error ends with what the worker printed last on its standard error")
    func crashesShowTheirStderr() async throws {
        let lines = try await withDeadline(60) { () async throws in
            let probe = try ProbeProcess.start(
                executable: ProbeProcess.directory + "/multiprocessing-demo", ["faults"], capturing: STDERR_FILENO)
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0)
            return lines
        }
        for (way, ending) in [("segfault", "signal 11 (SIGSEGV)"), ("trap", "signal 4 (SIGILL)"), ("exit", "exit status 3")] {
            let failed = try #require(
                lines.firstIndex { $0.hasPrefix("MainProcess: item failed: PoolError.workerDied: ") && $0.hasSuffix(ending) },
                "\(lines)")
            let tail = lines[(failed + 1)...].prefix { $0.hasPrefix("  ") }
            #expect(tail.first == "  its standard error ended with:", "\(lines[failed...].prefix(4))")
            #expect(tail.contains { $0.hasPrefix("  | SpawnPoolWorker-") && $0.hasSuffix(": item 3: about to die (\(way))") }, "\(tail)")
            if way == "trap" { #expect(tail.contains { $0.contains("Fatal error: worker trapped on item 3") }, "\(tail)") }
        }
    }
}
