import Tracing

/// The trace context's carrier on the wire: a string dictionary.
enum TraceCarrier {
    /// Writes the bootstrapped tracer's values into the carrier.
    struct Injecting: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
            carrier[key] = value
        }
    }

    /// Reads them back in the worker.
    struct Extracting: Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? {
            carrier[key]
        }
    }

    /// The tracer a pool made now uses; nil when none was bootstrapped.
    static var bootstrappedTracer: (any Tracer)? {
        let tracer = InstrumentationSystem.tracer
        return tracer is NoOpTracer ? nil : tracer
    }

    /// Runs `body` in the context the parent's carrier holds, extracted by this process's
    /// bootstrapped tracer (the program's code above `bootstrap()` made it, in the worker too).
    static func run<T>(in carrier: [String: String]?, _ body: () async -> T) async -> T {
        guard let carrier, let tracer = bootstrappedTracer else { return await body() }
        var context = ServiceContext.topLevel
        tracer.extract(carrier, into: &context, using: Extracting())
        return await ServiceContext.withValue(context) { await body() }
    }
}
