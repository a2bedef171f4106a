import CMultiprocessing

extension ProcessPool {
    /// Runs `task` on one input in a worker and returns its output: Python's `pool.apply`.
    ///
    /// Called on an actor (the main actor, say), `apply` runs on it throughout: it encodes,
    /// waits and decodes there, and resumes there directly when it had to suspend. A caller whose
    /// recent calls were quick first waits actively for a moment (at most
    /// `AnswerSpin.maximumNanoseconds`, or `AnswerSpin.relayedMaximumNanoseconds` for a call
    /// whose chunk went to a serving rank), which then occupies its actor.
    ///
    /// - Parameters:
    ///   - task: What to run; its stored properties travel with it.
    ///   - input: The one argument.
    ///   - timeout: The item's time limit (overrides the pool's `taskTimeout`).
    ///   - isolation: The caller's actor, where the call runs; leave it to the default.
    /// - Throws: a ``TaskError`` if the task threw, a ``PoolError`` if the worker died, the
    ///   item ran over its time limit or the pool was closed; `CancellationError` if the calling
    ///   task was cancelled (the worker running the item is then killed, per the pool's
    ///   ``CancellationPolicy``).
    @inlinable
    public func apply<T: PoolTask>(
        _ task: T, _ input: T.Input, timeout: Duration? = nil,
        isolation: isolated (any Actor)? = #isolation
    ) async throws -> T.Output {
        // Inlinable so that encoding and decoding run specialised for T in the caller's module;
        // the round trip itself is non-generic.
        let answer = try await applyEncoded(
            task: encodeTask(task), taskType: ObjectIdentifier(T.self),
            input: encodeInputs([input]), timeout: timeout, isolation: isolation)
        return try answer.decode([T.Output].self)
    }

    /// The non-generic part of `apply`: one encoded item to a worker and its answer back. Runs
    /// on `actor`, the caller's: a nonisolated function would leave the caller's actor at the
    /// call and come back at the return, two executor switches per call.
    @usableFromInline
    func applyEncoded(
        task: EncodedValue, taskType: ObjectIdentifier, input: EncodedItems,
        timeout: Duration?, isolation actor: isolated (any Actor)?
    ) async throws -> SingleAnswer {
        guard core.tracer != nil else {
            return try await applyRoundTrip(task: task, taskType: taskType, input: input, timeout: timeout, isolation: actor)
        }
        return try await core.traced("ProcessPool.apply", isolation: actor) {
            try await applyRoundTrip(task: task, taskType: taskType, input: input, timeout: timeout, isolation: actor)
        }
    }

    /// `apply`'s round trip, past its span.
    private func applyRoundTrip(
        task: EncodedValue, taskType: ObjectIdentifier, input: EncodedItems,
        timeout: Duration?, isolation actor: isolated (any Actor)?
    ) async throws -> SingleAnswer {
        let timeLimit = try effectiveTimeLimit(timeout)
        let call = ApplyCall()
        let chunk = try makeChunk(
            task: task, taskType: taskType, inputs: input, itemCount: 1, index: 0, firstItem: 0,
            timeLimit: timeLimit, maxMessageBytes: core.settings.maxMessageBytes, sink: call,
            call: core.observation(of: taskType, task))
        let started = cmp_monotonic_ns()
        try core.submit([chunk])
        let relayed = call.worker?.managesItsChunks == true
        core.answerSpin.wait(startedAt: started, relayed: relayed) { core.readAnswer(for: call) }
        core.stopReading(for: call)
        // Both take the caller's isolation (`#isolation`, here `actor`): neither leaves it.
        let completion = await withTaskCancellationHandler {
            await call.completion(isolation: actor)
        } onCancel: {
            call.cancel()
            core.cancel(call)
        }
        core.answerSpin.record(cmp_monotonic_ns() &- started, relayed: relayed)
        guard let completion else { throw CancellationError() }
        return try SingleAnswer(chunk, completion)
    }

    /// A task as the worker receives it.
    @usableFromInline
    func encodeTask<T: PoolTask>(_ task: T) throws(PoolError) -> EncodedValue {
        try encodeValue(task, role: "task")
    }

    /// The items of a call, encoded; `Items` is an array of the task's `Input`, passed as the
    /// caller's concrete type.
    @usableFromInline
    func encodeInputs<Items: Encodable & Collection>(_ items: Items) throws(PoolError) -> EncodedItems {
        do {
            return try EncodedItems.encode(items)
        } catch {
            throw PoolError(.encodingFailed, "items 0..<\(items.count) could not be encoded: \(error)")
        }
    }

    /// Starts `apply` and returns at once: Python's `apply_async`.
    ///
    /// - Parameters:
    ///   - task: What to run; its stored properties travel with it.
    ///   - input: The one argument.
    ///   - timeout: The item's time limit (overrides the pool's `taskTimeout`).
    ///   - onSuccess: Called with the output before `get()` returns it.
    ///   - onError: Called with the error before `get()` throws it. A callback that throws is
    ///     logged and does not affect the pool.
    public func applyAsync<T: PoolTask>(
        _ task: T,
        _ input: T.Input,
        timeout: Duration? = nil,
        onSuccess: AsyncResult<T.Output>.SuccessCallback? = nil,
        onError: AsyncResult<T.Output>.ErrorCallback? = nil
    ) throws(PoolError) -> AsyncResult<T.Output> {
        try submitOne(task, input, timeout: timeout, onSuccess: onSuccess, onError: onError).result
    }

    /// Submits one item as one chunk.
    func submitOne<T: PoolTask>(
        _ task: T,
        _ input: T.Input,
        timeout: Duration?,
        onSuccess: AsyncResult<T.Output>.SuccessCallback?,
        onError: AsyncResult<T.Output>.ErrorCallback?
    ) throws(PoolError) -> ApplyJob<T.Output> {
        let timeLimit = try effectiveTimeLimit(timeout)
        try core.ensureAcceptingWork()
        let encodedTask = try encodeValue(task, role: "task")
        let job = ApplyJob(result: AsyncResult<T.Output>(onSuccess: onSuccess, onError: onError))
        let span = core.startCallSpan("ProcessPool.applyAsync")
        let chunk: ChunkWork
        do {
            chunk = try makeChunk(
                task: encodedTask, taskType: ObjectIdentifier(T.self), items: [input], index: 0,
                firstItem: 0, timeLimit: timeLimit,
                maxMessageBytes: core.settings.maxMessageBytes, sink: job,
                call: core.observation(of: ObjectIdentifier(T.self), encodedTask, in: span))
            try core.submit([chunk])
        } catch {
            span?.recordError(error)
            span?.end()
            throw error
        }
        job.result.ends(span)
        return job
    }
}
