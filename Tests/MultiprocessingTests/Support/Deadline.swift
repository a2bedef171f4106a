import CMultiprocessing
import Synchronization
import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A process test that hangs must fail with a message, not stall CI.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let seconds: Double
    let what: String
    var description: String { "\(what) did not finish within \(seconds) s (a hang)" }
}

/// Resumes a continuation once, whoever comes first.
private final class FirstOutcome<R: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<R, any Error>?>(nil)
    func install(_ c: CheckedContinuation<R, any Error>) { continuation.withLock { $0 = c } }
    @discardableResult
    func resume(_ result: Result<R, any Error>) -> Bool {
        guard
            let c = continuation.withLock({ c -> CheckedContinuation<R, any Error>? in
                defer { c = nil }
                return c
            })
        else { return false }
        c.resume(with: result)
        return true
    }
}

/// Runs `body` with a deadline. On expiry the test fails at once with `DeadlineExceeded`, even if
/// `body` ignores cancellation (it is left running, cancelled).
func withDeadline<R: Sendable>(
    _ seconds: Double = 60,
    _ what: String = #function,
    _ body: @escaping @Sendable () async throws -> R
) async throws -> R {
    let outcome = FirstOutcome<R>()
    let guardEntry = HangGuard.shared.register(what, seconds: seconds)
    defer { HangGuard.shared.unregister(guardEntry) }
    return try await withCheckedThrowingContinuation { continuation in
        outcome.install(continuation)
        let work = Task {
            do { outcome.resume(.success(try await body())) } catch { outcome.resume(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            if outcome.resume(.failure(DeadlineExceeded(seconds: seconds, what: what))) { work.cancel() }
        }
    }
}

/// The last line of defence behind `withDeadline`, on a thread of its own.
///
/// `withDeadline`'s timer is a task, so it needs a free thread of Swift's cooperative pool (two
/// on a 2-core machine). Code that blocks both of them would stall the whole test run, deadlines
/// included, until CI's own limit. This guard's thread does not depend on that pool: when a
/// registered call is still running well past its deadline, it prints what was running and what
/// every thread of the process was doing, then ends the process with a failure.
final class HangGuard: Sendable {
    static let shared = HangGuard()

    /// How long past its own deadline a call may run before the process is ended: long enough
    /// for `withDeadline`'s timer to fire and the test to fail normally whenever it can.
    static let grace: Double = 30

    private struct Entry {
        let what: String
        let seconds: Double
        let started: UInt64
    }

    private let entries = Mutex<(next: Int, running: [Int: Entry], started: Bool)>((0, [:], false))

    /// Records a call to watch; returns its key for `unregister`.
    func register(_ what: String, seconds: Double) -> Int {
        let (key, start) = entries.withLock { state -> (Int, Bool) in
            let key = state.next
            state.next += 1
            state.running[key] = Entry(what: what, seconds: seconds, started: cmp_monotonic_ns())
            defer { state.started = true }
            return (key, !state.started)
        }
        if start {
            do {
                try NativeThread.detach(name: "test-hang-guard") { [self] in watch() }
            } catch {
                fatalError("the hang guard's thread could not start: \(error)")
            }
        }
        return key
    }

    func unregister(_ key: Int) {
        _ = entries.withLock { $0.running.removeValue(forKey: key) }
    }

    private func watch() {
        while true {
            // A polling interval, not synchronisation: the guard only looks at the clock.
            sleep(1)
            let (now, overdue) = entries.withLock { state in
                // Read under the lock, where entries are registered: read before it, the clock
                // could be older than an entry registered meanwhile, and `now - started` trap.
                let now = cmp_monotonic_ns()
                return (now, state.running.values.filter { Double(now - $0.started) / 1e9 > $0.seconds + Self.grace })
            }
            guard !overdue.isEmpty else { continue }
            var report = "\nHANG: the test process is stuck; withDeadline's own timer never ran.\n"
            for entry in overdue {
                let ran = Double(now - entry.started) / 1e9
                report += "  \(entry.what): running for \(Int(ran)) s, deadline \(Int(entry.seconds)) s\n"
            }
            report += "Threads (name, state, kernel wait channel):\n" + Self.threadReport()
            report.withCString { _ = write(2, $0, strlen($0)) }
            _exit(86)
        }
    }

    /// One line per thread of this process, from /proc: enough to see which threads are
    /// blocked, and in what kind of wait.
    private static func threadReport() -> String {
        guard let directory = opendir("/proc/self/task") else { return "  (no /proc/self/task)\n" }
        defer { closedir(directory) }
        var lines: [String] = []
        while let entry = readdir(directory) {
            let id = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard id.first?.isNumber == true else { continue }
            let name = readProcFile("/proc/self/task/\(id)/comm")
            let state =
                readProcFile("/proc/self/task/\(id)/stat").split(separator: ")").last?
                .split(separator: " ").first.map(String.init) ?? "?"
            let channel = readProcFile("/proc/self/task/\(id)/wchan")
            lines.append("  \(id) \(name) \(state) \(channel)")
        }
        return lines.sorted().joined(separator: "\n") + "\n"
    }
}
