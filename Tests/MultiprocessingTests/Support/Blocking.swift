@testable import Multiprocessing

/// Runs `body`, which blocks in system calls (reading a FIFO or a probe's output, `waitpid`), on
/// a thread of its own and waits for it without holding a thread.
///
/// Swift's cooperative pool has one thread per CPU, two on CI's machine. A test blocking one
/// of them stalls every other test meanwhile; two tests doing so at once while waiting for
/// something that needs the pool (a worker's announcement of a task whose submission is still
/// a pending `Task`) deadlock the whole run, `withDeadline`'s timers included. That happened:
/// two tests awaiting a `Beacon` wedged a run for good.
func offCooperativePool<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
        do {
            try NativeThread.detach(name: "test-blocking") {
                continuation.resume(with: Result { try body() })
            }
        } catch {
            continuation.resume(throwing: error)
        }
    }
}

/// `offCooperativePool` for a body that does not throw.
func offCooperativePool<R: Sendable>(_ body: @escaping @Sendable () -> R) async -> R {
    // The throwing form throws only when the thread cannot start, which leaves nothing to wait for.
    do {
        return try await offCooperativePool { () throws -> R in body() }
    } catch {
        fatalError("a test thread could not start: \(error)")
    }
}
