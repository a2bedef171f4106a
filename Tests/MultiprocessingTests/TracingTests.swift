import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The caller's trace context reaches the workers: `MultiprocessingProbe trace` bootstraps an
/// in-memory tracer in itself and in its workers (above `bootstrap()`), calls `map` and `apply`
/// inside a span, and prints what the tasks' own spans saw.
@Suite("tracing", .timeLimit(.minutes(2)))
struct TracingTests {
    @Test("map and apply each make a span in the caller's trace; a task's span in a worker is that span's child")
    func contextReachesWorkers() async throws {
        try await withDeadline(60) { () async throws in
            let probe = try ProbeProcess.start(["trace"])
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0, "the probe said: \(lines)")
            let words = lines.map { $0.split(separator: " ").map(String.init) }
            let trace = try #require(words.first { $0.first == "caller" }?.last)
            let map = try #require(words.first { $0.first == "ProcessPool.map" })
            let apply = try #require(words.first { $0.first == "ProcessPool.apply" })
            // Each call's span is in the caller's trace.
            #expect(map[1] == trace && apply[1] == trace)
            let tasks = words.filter { $0.first == "task" }.map { Array($0.dropFirst()) }
            // Two items of map, one of apply; each task's span joined the trace, under its call's span.
            #expect(tasks == [[trace, map[2]], [trace, map[2]], [trace, apply[2]]], "the probe said: \(lines)")
        }
    }
}
