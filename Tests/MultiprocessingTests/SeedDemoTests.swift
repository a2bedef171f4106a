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
            let probe = try ProbeProcess.start(
                executable: ProbeProcess.directory + "/multiprocessing-demo",
                arguments, capturing: STDERR_FILENO)
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
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
        // "executed" comes while the workers sleep (in the seed, before they even log "start",
        // which a loaded machine may reorder), the list only after both ended.
        let executed = try #require(lines.firstIndex(of: "MainProcess: executed"))
        #expect(executed < lines.firstIndex { $0.hasSuffix(": end") }!)
        #expect(lines.last == "MainProcess: [100, 50]")
        #expect(lines.filter { $0.hasPrefix("SpawnPoolWorker-") }.count == 4)
    }

    @Test("imap: each result is logged as soon as it is ready, in input order")
    func imap() async throws {
        let lines = try await runDemo(["imap", "--seconds", "0.3", "--show-iterator"])
        #expect(lines.count == 8, "\(lines)")
        let main = lines.filter { $0.hasPrefix("MainProcess: ") }
        #expect(
            main == [
                "MainProcess: executed", "MainProcess: IMapSequence<Int>(ordered, chunksize: 1)",
                "MainProcess: 100", "MainProcess: 50",
            ])
        #expect(lines.firstIndex(of: "MainProcess: executed")! < lines.firstIndex { $0.hasSuffix(": end") }!)
        // 100 is logged after some worker ended, and 50 only after both did.
        let index100 = lines.firstIndex(of: "MainProcess: 100")!
        #expect(lines[..<index100].contains { $0.hasSuffix(": end") })
        #expect(lines.lastIndex { $0.hasSuffix(": end") }! < lines.firstIndex(of: "MainProcess: 50")!)
    }
}
