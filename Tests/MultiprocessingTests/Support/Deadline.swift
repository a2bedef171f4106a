import Synchronization
import Testing

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
        guard let c = continuation.withLock({ c -> CheckedContinuation<R, any Error>? in
            defer { c = nil }
            return c
        }) else { return false }
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
