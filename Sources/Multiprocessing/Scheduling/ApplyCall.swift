import Synchronization

/// Collects the one chunk of an `apply` and resumes its caller with the answer still encoded.
///
/// The light path of a latency-bound loop of `apply`: no ``AsyncResult``, no callbacks and no
/// generic code (each generic type the library instantiates for the caller's task costs a
/// runtime metadata lookup per call). Decoding happens in `apply` itself, which is
/// `@inlinable` and so specialised for the task's output type in the caller's module.
final class ApplyCall: ChunkSink {
    private enum State {
        /// Neither the answer nor the caller has arrived.
        case waiting
        /// The caller is suspended, waiting for the answer.
        case suspended(UnsafeContinuation<ChunkCompletion?, Never>)
        /// The answer (nil: the call was cancelled) arrived first.
        case answered(ChunkCompletion?)
        /// The caller has the answer.
        case done
    }

    private let state = Mutex(State.waiting)
    /// Set once an answer is stored: what a spinning caller watches, without taking the lock.
    private let hasAnswer = Atomic<Bool>(false)

    private let dispatchedTo = Mutex<(any PoolWorker)?>(nil)
    private let callerRead = Atomic<Bool>(false)

    /// The caller read the worker's answers itself (see `PoolCore.readAnswer`).
    var readsItself: Bool {
        get { callerRead.load(ordering: .relaxed) }
        set { callerRead.store(newValue, ordering: .relaxed) }
    }

    /// Whether the answer has arrived (the caller may then take it without suspending).
    var isAnswered: Bool { hasAnswer.load(ordering: .acquiring) }

    /// The worker the chunk was last handed to: where a caller waiting actively reads.
    var worker: (any PoolWorker)? { dispatchedTo.withLock { $0 } }

    func dispatched(to worker: any PoolWorker) {
        dispatchedTo.withLock { $0 = worker }
    }

    var isFinished: Bool {
        state.withLock { state in
            switch state {
            case .waiting, .suspended: return false
            case .answered, .done: return true
            }
        }
    }

    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {
        // The caller decodes it later, on its own thread.
        deliver(completion.detachedFromReadBuffer())
    }

    /// The caller stopped waiting: it resumes with nil.
    func cancel() {
        deliver(nil)
    }

    /// Waits for the chunk's completion; nil when the call was cancelled. Called once. Runs on
    /// `actor`, the caller's, and resumes there when it had to suspend.
    func completion(isolation actor: isolated (any Actor)?) async -> ChunkCompletion? {
        if isAnswered {
            let answer: ChunkCompletion?? = state.withLock { state in
                guard case .answered(let answer) = state else { return .none }
                state = .done
                return .some(answer)
            }
            if case .some(let answer) = answer { return answer }
        }
        // Each continuation is resumed exactly once: by `deliver` if it finds it stored, else
        // right here.
        return await withUnsafeContinuation(isolation: actor) { (continuation: UnsafeContinuation<ChunkCompletion?, Never>) in
            let answer: ChunkCompletion?? = state.withLock { state in
                if case .answered(let answer) = state {
                    state = .done
                    return .some(answer)
                }
                state = .suspended(continuation)
                return .none
            }
            if case .some(let answer) = answer { continuation.resume(returning: answer) }
        }
    }

    /// Records the first answer only.
    private func deliver(_ answer: ChunkCompletion?) {
        let waiter: UnsafeContinuation<ChunkCompletion?, Never>? = state.withLock { state in
            switch state {
            case .waiting:
                state = .answered(answer)
                hasAnswer.store(true, ordering: .releasing)
                return nil
            case .suspended(let continuation):
                state = .done
                return continuation
            case .answered, .done:
                return nil
            }
        }
        waiter?.resume(returning: answer)
    }
}

/// A successful one-item answer, still encoded; `apply` decodes it in its own specialised code.
@usableFromInline
struct SingleAnswer: Sendable {
    @usableFromInline
    enum Encoding: Sendable {
        /// An encoded one-element `[Output]` (a worker's all-succeeded outcome).
        case items(EncodedItems)
        /// An encoded `Output` (one success item of a mixed outcome).
        case value(ArraySlice<UInt8>)
    }

    @usableFromInline let encoding: Encoding
    @usableFromInline let worker: WorkerLabel

    /// The output, given the array type the worker encoded (`[Output]`): passing the array type
    /// from the caller's code spares the runtime a metadata lookup for it.
    @inlinable
    func decode<Outputs: Decodable & Collection>(_: Outputs.Type) throws(PoolError) -> Outputs.Element
    where Outputs.Element: Decodable {
        do {
            switch encoding {
            case .items(let items):
                let outputs = try items.decode(Outputs.self)
                if outputs.count == 1, let output = outputs.first { return output }
                throw Self.wrongCount(outputs.count)
            case .value(let bytes):
                return try Self.decodeValue(Outputs.Element.self, from: bytes)
            }
        } catch {
            throw decodingFailed(error, typeName: "\(Outputs.Element.self)")
        }
    }

    @usableFromInline
    static func decodeValue<Output: Decodable>(_: Output.Type, from bytes: ArraySlice<UInt8>) throws -> Output {
        try BinaryDecoder().decode(Output.self, from: bytes)
    }

    @usableFromInline
    static func wrongCount(_ count: Int) -> any Error {
        BinaryCodingError.invalidData("\(count) results for one item")
    }

    @usableFromInline
    func decodingFailed(_ error: any Error, typeName: String) -> PoolError {
        PoolError(
            .decodingFailed, "the result from \(worker.name) could not be decoded as \(typeName): \(error)",
            workerName: worker.name, workerPID: worker.pid)
    }
}

extension SingleAnswer {
    /// The answer of a one-item chunk, or the error the item ended with.
    init(_ chunk: ChunkWork, _ completion: ChunkCompletion) throws {
        switch completion {
        case .failed(let error):
            throw error
        case .answered(.rejected(let failure), let worker):
            throw ChunkErrors.rejected(failure, chunk: chunk, worker: worker)
        case .answered(.allSucceeded(let items), let worker):
            self.init(encoding: .items(items), worker: worker)
        case .answered(.mixed(let items), let worker):
            switch items.first {
            case .success(let bytes)?: self.init(encoding: .value(bytes), worker: worker)
            case .failure(let failure)?: throw ChunkErrors.itemFailed(failure, worker: worker, itemIndex: chunk.firstItem)
            case nil: throw ChunkErrors.missingItems(worker)
            }
        }
    }
}
