import Synchronization

/// The handle `mapAsync`, `applyAsync` and `starmapAsync` return at once: Python's `AsyncResult`.
///
/// ```swift
/// let job = try pool.mapAsync(Worker1(), [100, 50])
/// logger.info("executed")                      // runs while the workers work
/// let r = try await job.get()                  // [100, 50]
/// _ = try await job.get(timeout: .seconds(1))  // throws PoolError.timeout if not ready by then
/// ```
/// Waiting never cancels the work: a `get(timeout:)` that times out can be followed by another
/// `get()`. The work ends when it completes, fails, or the pool is terminated.
public final class AsyncResult<Value: Sendable>: Sendable {
    /// Called with the value when the work succeeds, before `get()` returns it.
    public typealias SuccessCallback = @Sendable (Value) throws -> Void
    /// Called with the error when the work fails, before `get()` throws it.
    public typealias ErrorCallback = @Sendable (any Error) throws -> Void

    private struct State {
        var outcome: Result<Value, any Error>?
        // Parallel arrays, not dictionaries or tuples: there is nearly always one waiter, and a
        // short call's latency includes every allocation and type-metadata lookup made here.
        var waiters: [UnsafeContinuation<Value, any Error>] = []
        var waiterIDs: [UInt64] = []
        var readyWaiters: [UnsafeContinuation<Void, Never>] = []
        var readyWaiterIDs: [UInt64] = []
        var nextWaiter: UInt64 = 0
        /// Told the outcome once it is known (a call's span, which ends then).
        var whenDone: (@Sendable (Result<Value, any Error>) -> Void)?

        /// The outcome if there is one, else a fresh waiter id.
        mutating func outcomeOrWaiterID() -> (Result<Value, any Error>?, UInt64) {
            if let outcome { return (outcome, 0) }
            nextWaiter += 1
            return (nil, nextWaiter)
        }
    }

    private let state = Mutex(State())
    private let onSuccess: SuccessCallback?
    private let onError: ErrorCallback?
    /// The progress of a mapping call; nil for `applyAsync`.
    let reporter: ProgressReporter?

    init(onSuccess: SuccessCallback?, onError: ErrorCallback?, reporter: ProgressReporter? = nil) {
        self.onSuccess = onSuccess
        self.onError = onError
        self.reporter = reporter
    }

    /// True once the work has finished, successfully or not.
    public var isReady: Bool { state.withLock { $0.outcome != nil } }

    /// Whether the work succeeded. Throws ``PoolError/Code-swift.struct/resultNotReady`` before
    /// it has finished, as Python raises `ValueError`.
    public var isSuccessful: Bool {
        get throws(PoolError) {
            switch state.withLock({ $0.outcome }) {
            case .success?: return true
            case .failure?: return false
            case nil: throw PoolError(.resultNotReady, "isSuccessful was asked before the result was ready")
            }
        }
    }

    /// Waits for the value, or rethrows the work's error (a ``TaskError`` or ``PoolError``).
    /// Cancelling the waiting Swift task ends the wait with `CancellationError`, not the work.
    ///
    /// Runs on the caller's actor (`isolation`; leave it to the default): a value already here
    /// is returned without leaving it, and a wait resumes there directly.
    public func get(isolation actor: isolated (any Actor)? = #isolation) async throws -> Value {
        let (known, id) = state.withLock { $0.outcomeOrWaiterID() }
        if let known { return try known.get() }
        // Each continuation is resumed exactly once: whoever removes it from `state` (publish or
        // the cancellation handler) resumes it; one that never got in is resumed at once. Both
        // take the caller's isolation (`#isolation`, here `actor`): neither leaves it.
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation(isolation: actor) { (continuation: UnsafeContinuation<Value, any Error>) in
                let immediate: Result<Value, any Error>? = state.withLock { state in
                    if let outcome = state.outcome { return outcome }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters.append(continuation)
                    state.waiterIDs.append(id)
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let removed = state.withLock { state -> UnsafeContinuation<Value, any Error>? in
                guard let index = state.waiterIDs.firstIndex(of: id) else { return nil }
                state.waiterIDs.remove(at: index)
                return state.waiters.remove(at: index)
            }
            removed?.resume(throwing: CancellationError())
        }
    }

    /// Waits at most `timeout` for the value; then throws ``PoolError/Code-swift.struct/timeout``
    /// (Python's `multiprocessing.TimeoutError`). The work goes on either way.
    public func get(timeout: Duration) async throws -> Value {
        if let outcome = state.withLock({ $0.outcome }) { return try outcome.get() }
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await self.get() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw PoolError(.timeout, "the result was not ready within \(timeout)")
            }
            return value
        }
    }

    /// Waits until the work has finished, without throwing its error. Runs on the caller's actor
    /// (`isolation`; leave it to the default), as ``get(isolation:)`` does.
    public func wait(isolation actor: isolated (any Actor)? = #isolation) async {
        let (known, id) = state.withLock { $0.outcomeOrWaiterID() }
        if known != nil { return }
        // Both take the caller's isolation (`#isolation`, here `actor`): neither leaves it.
        await withTaskCancellationHandler {
            await withUnsafeContinuation(isolation: actor) { (continuation: UnsafeContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.outcome != nil || Task.isCancelled { return true }
                    state.readyWaiters.append(continuation)
                    state.readyWaiterIDs.append(id)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let removed = state.withLock { state -> UnsafeContinuation<Void, Never>? in
                guard let index = state.readyWaiterIDs.firstIndex(of: id) else { return nil }
                state.readyWaiterIDs.remove(at: index)
                return state.readyWaiters.remove(at: index)
            }
            removed?.resume()
        }
    }

    /// Waits at most `timeout` for the work to finish; returns whether it has (Python's `wait`
    /// returns nothing and leaves you to ask `ready()`).
    @discardableResult
    public func wait(timeout: Duration) async -> Bool {
        if isReady { return true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return isReady
    }

    /// Records the outcome once; later calls are ignored. Runs the callbacks first (off the
    /// pool's threads, a throwing callback is logged and ignored), then wakes the waiters.
    func fulfill(_ outcome: Result<Value, any Error>) {
        if onSuccess == nil && onError == nil {
            publish(outcome)
            return
        }
        Task.detached { [self] in
            do {
                switch outcome {
                case .success(let value): try onSuccess?(value)
                case .failure(let error): try onError?(error)
                }
            } catch {
                CallbackFailureReporter.report(error)
            }
            publish(outcome)
        }
    }

    /// Calls `body` with the outcome once it is known: at once if it is.
    func whenDone(_ body: @escaping @Sendable (Result<Value, any Error>) -> Void) {
        let known: Result<Value, any Error>? = state.withLock { state in
            if let outcome = state.outcome { return outcome }
            state.whenDone = body
            return nil
        }
        if let known { body(known) }
    }

    private func publish(_ outcome: Result<Value, any Error>) {
        var whenDone: (@Sendable (Result<Value, any Error>) -> Void)?
        let (waiters, readyWaiters) = state.withLock { state in
            guard state.outcome == nil else { return ([UnsafeContinuation<Value, any Error>](), [UnsafeContinuation<Void, Never>]()) }
            state.outcome = outcome
            whenDone = state.whenDone
            defer {
                state.whenDone = nil
                state.waiters = []
                state.waiterIDs = []
                state.readyWaiters = []
                state.readyWaiterIDs = []
            }
            return (state.waiters, state.readyWaiters)
        }
        whenDone?(outcome)
        for waiter in waiters { waiter.resume(with: outcome) }
        for waiter in readyWaiters { waiter.resume() }
    }
}
