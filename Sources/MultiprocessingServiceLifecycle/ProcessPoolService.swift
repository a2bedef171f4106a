import Multiprocessing
import ServiceLifecycle

/// A `ProcessPool` run as a swift-service-lifecycle `Service`: a
/// `ServiceGroup` keeps it for the program's life and ends it with the program's other services.
///
/// On graceful shutdown (SIGTERM, say, with the group's `gracefulShutdownSignals`) the pool is
/// closed and joined: work already submitted finishes, new work is refused. On cancellation the
/// pool is terminated: unfinished work fails with `PoolError.Code.terminated` and the workers are
/// killed.
///
/// ```swift
/// let pool = try ProcessPool(processes: 4)
/// let group = ServiceGroup(
///     services: [ProcessPoolService(pool), server],
///     gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public struct ProcessPoolService: Service {
    /// The pool the service ends; hand it to the code that submits work.
    public let pool: ProcessPool

    /// A service for `pool`, which the service ends when the group shuts down.
    public init(_ pool: ProcessPool) {
        self.pool = pool
    }

    /// Waits for graceful shutdown, then closes and joins the pool; on cancellation (before or
    /// during that join) terminates it, joins its workers and throws `CancellationError`.
    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            pool.terminate()
            try await pool.join()
            throw error
        }
        pool.close()
        // A group that gives up waiting (its graceful-shutdown timeout) cancels the service: the
        // work still running is then terminated, or the join would wait for it regardless.
        let pool = pool
        try await withTaskCancellationHandler {
            try await pool.join()
        } onCancel: {
            pool.terminate()
        }
        if Task.isCancelled { throw CancellationError() }
    }
}
