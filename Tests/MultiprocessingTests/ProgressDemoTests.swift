import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs `multiprocessing-demo progress` with its standard output on a pipe, not a terminal.
@Suite("multiprocessing-demo progress", .timeLimit(.minutes(2)))
struct ProgressDemoTests {
    @Test("off a terminal, the bar is plain lines whose counts grow to the total, then the answer")
    func plainLines() async throws {
        let lines = try await withDeadline(60) { () async throws in
            let probe = try ProbeProcess.start(
                executable: ProbeProcess.directory + "/multiprocessing-demo", ["progress", "--items", "20"],
                capturing: STDOUT_FILENO)
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0)
            return lines
        }
        #expect(lines.allSatisfy { !$0.contains("\r") && !$0.contains("\u{1B}") }, "\(lines)")
        #expect(lines.last == "78498 primes below 1000000", "π(10⁶) = 78498")
        let progress = lines.dropLast()
        // The first snapshot is the call's state when the demo first looks: usually 0/20, but
        // coalescing may already have replaced it with a later one.
        #expect(progress.first?.hasSuffix("/20 items") == true || progress.first?.contains("/20 items, ") == true, "\(lines)")
        let counts = progress.compactMap { line in line.split(separator: "/").first.flatMap { Int($0) } }
        #expect(counts.count == progress.count, "every other line is a progress line: \(lines)")
        #expect(counts == counts.sorted(), "counts never go down: \(lines)")
        #expect(progress.count <= 12, "a line per tenth at most, and the first and last: \(lines)")
        let last = try #require(progress.last)
        #expect(last.hasPrefix("20/20 items, ") && last.contains("finished in"), "\(last)")
    }
}
