import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The caller's trace context reaches the workers: `MultiprocessingProbe trace` bootstraps an
/// in-memory tracer in itself and in its workers (above `bootstrap()`), calls `map` and `apply`
/// inside a span, and prints what the tasks' own spans saw.
@Suite("tracing", .timeLimit(.minutes(2)))
struct TracingTests {
    @Test("each call makes a span in the caller's trace; a task's span in a worker is its call's span's child")
    func contextReachesWorkers() async throws {
        try await withDeadline(60) { () async throws in
            let probe = try ProbeProcess.start(["trace"])
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0, "the probe said: \(lines)")
            let words = lines.map { $0.split(separator: " ").map(String.init) }
            let callers = words.filter { $0.first == "caller" }.map { $0[1] }
            #expect(callers.count == 1, "the probe said: \(lines)")
            let trace = callers.first ?? "none"
            let calls = ["ProcessPool.map", "ProcessPool.apply", "ProcessPool.mapAsync", "ProcessPool.applyAsync", "ProcessPool.imap"]
            for call in calls {
                let spans = words.filter { $0.first == call }
                #expect(spans.count == 1, "one \(call) span; the probe said: \(lines)")
                guard let span = spans.first else { continue }
                // The call's span is in the caller's trace.
                #expect(span[1] == trace, "\(call) is in the caller's trace")
                let tasks = words.filter { $0.first == "task" && $0[1] == call }.map { Array($0.dropFirst(2)) }
                // Each of its tasks' spans joined the trace, under the call's span.
                let underTheCall = !tasks.isEmpty && tasks.allSatisfy { $0 == [trace, span[2]] }
                #expect(underTheCall, "\(call)'s tasks: \(tasks)")
            }
        }
    }
}
