import Tracing

/// What a call adds to each of its chunks so that they can be observed: its task type's metrics
/// and the caller's trace context, injected into a carrier for the worker. Nil, and free, when the
/// pool records no metrics and no tracer was bootstrapped.
struct CallObservation: Sendable {
    /// The task type's metrics, if the pool records any.
    var metrics: TaskMetrics?
    /// The caller's `ServiceContext` as the bootstrapped tracer injects it; nil without a tracer
    /// or a context.
    var traceCarrier: [String: String]?
}

extension PoolCore {
    /// What the chunks of a call of `task` (of type `taskType`) carry; nil when there is nothing
    /// to observe. `span`: the call's own, whose context the chunks carry instead of the caller's.
    func observation(of taskType: ObjectIdentifier, _ task: EncodedValue, in span: (any Span)? = nil) -> CallObservation? {
        guard metrics != nil || tracer != nil else { return nil }
        let taskMetrics = metrics?.task(taskType, named: Self.taskName(task))
        var carrier: [String: String]?
        if let tracer, let context = span?.context ?? ServiceContext.current {
            var injected: [String: String] = [:]
            tracer.inject(context, into: &injected, using: TraceCarrier.Injecting())
            if !injected.isEmpty { carrier = injected }
        }
        guard taskMetrics != nil || carrier != nil else { return nil }
        return CallObservation(metrics: taskMetrics, traceCarrier: carrier)
    }

    /// The task type's name as Swift writes it; the chunk carries its mangled name.
    static func taskName(_ task: EncodedValue) -> String {
        _typeByName(task.typeName).map { String(reflecting: $0) } ?? task.typeName
    }

    /// Starts the span of a call that returns before its work is done (`mapAsync`, `applyAsync`,
    /// `imap`), in the caller's context; nil without a tracer.
    func startCallSpan(_ operation: String) -> (any Span)? {
        tracer?.startSpan(operation, context: ServiceContext.current ?? .topLevel, ofKind: .client)
    }

    /// Runs `body` in a span named `operation` when a tracer was bootstrapped before the pool was
    /// made; the call's chunks carry the span's context to the workers.
    func traced<T>(
        _ operation: String, isolation actor: isolated (any Actor)?, _ body: () async throws -> T
    ) async throws -> T {
        guard let tracer else { return try await body() }
        return try await tracer.withSpan(operation, ofKind: .client, isolation: actor) { _ in try await body() }
    }
}

extension AsyncResult {
    /// Ends `span`, a call's, when the call's outcome is known, with its error if it failed.
    func ends(_ span: (any Span)?) {
        guard let span else { return }
        whenDone { outcome in
            if case .failure(let error) = outcome { span.recordError(error) }
            span.end()
        }
    }
}
