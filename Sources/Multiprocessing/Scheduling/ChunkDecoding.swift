/// A chunk's outcome decoded into values, or per-item results when anything failed.
enum DecodedChunk<Output: Sendable>: Sendable {
    /// Every item succeeded (the fast path: one decode of an `[Output]`).
    case outputs([Output])
    /// Item by item, in order.
    case items([Result<Output, any Error>])

    init(_ chunk: ChunkWork, _ completion: ChunkCompletion) where Output: Decodable {
        let decoder = BinaryDecoder()
        switch completion {
        case .failed(let error):
            self = .items(Array(repeating: .failure(error), count: chunk.itemCount))
        case .answered(.rejected(let failure), let worker):
            let error = ChunkErrors.rejected(failure, chunk: chunk, worker: worker)
            self = .items(Array(repeating: .failure(error), count: chunk.itemCount))
        case .answered(.allSucceeded(let items), let worker):
            do {
                let outputs = try items.decode([Output].self)
                guard outputs.count == chunk.itemCount else {
                    throw BinaryCodingError.invalidData("\(outputs.count) results for \(chunk.itemCount) items")
                }
                self = .outputs(outputs)
            } catch {
                // A result that cannot be decoded fails alone, when they can be told apart.
                if let each = items.decodeEach(Output.self), each.count == chunk.itemCount {
                    self = .items(
                        each.enumerated().map { offset, result in
                            result.mapError { Self.undecodable($0, item: chunk.firstItem + offset, from: worker) }
                        })
                    return
                }
                let failure = PoolError(
                    .decodingFailed,
                    "results of items \(chunk.firstItem)..<\(chunk.firstItem + chunk.itemCount) from \(worker.name) could not be decoded as [\(Output.self)]: \(error)",
                    workerName: worker.name, workerPID: worker.pid)
                self = .items(Array(repeating: .failure(failure), count: chunk.itemCount))
            }
        case .answered(.mixed(let items), let worker):
            var results: [Result<Output, any Error>] = []
            results.reserveCapacity(chunk.itemCount)
            for (offset, item) in items.enumerated() {
                let index = chunk.firstItem + offset
                switch item {
                case .success(let bytes):
                    do {
                        results.append(.success(try decoder.decode(Output.self, from: bytes)))
                    } catch {
                        results.append(.failure(Self.undecodable(error, item: index, from: worker)))
                    }
                case .failure(let failure):
                    results.append(.failure(ChunkErrors.itemFailed(failure, worker: worker, itemIndex: index)))
                }
            }
            while results.count < chunk.itemCount {
                results.append(.failure(ChunkErrors.missingItems(worker)))
            }
            self = .items(results)
        }
    }
}

extension DecodedChunk {
    /// The error of a result that came back and could not be decoded.
    static func undecodable(_ error: any Error, item index: Int, from worker: WorkerLabel) -> any Error {
        PoolError(
            .decodingFailed,
            "the result of item \(index) from \(worker.name) could not be decoded as \(Output.self): \(error)",
            workerName: worker.name, workerPID: worker.pid, itemIndex: index)
    }
}

/// The errors a chunk's answer turns into; shared by every kind of call.
enum ChunkErrors {
    /// Every item of a chunk the worker could not run (a ``PoolError`` when the worker's own
    /// machinery refused it, else the task's error as a ``TaskError``).
    static func rejected(_ failure: RemoteFailure, chunk: ChunkWork, worker: WorkerLabel) -> any Error {
        if let code = failure.poolErrorCode {
            return PoolError(
                code,
                "\(worker.name) (pid \(worker.pid)), items \(chunk.firstItem)..<\(chunk.firstItem + chunk.itemCount): \(failure.description)",
                workerName: worker.name, workerPID: worker.pid)
        }
        return taskError(failure, worker: worker, itemIndex: chunk.firstItem)
    }

    /// One item whose task threw (a ``TaskError``), or that the worker's own machinery failed
    /// (a ``PoolError``: an argument it could not decode, a result it could not encode).
    static func itemFailed(_ failure: RemoteFailure, worker: WorkerLabel, itemIndex: Int) -> any Error {
        if let code = failure.poolErrorCode {
            return PoolError(
                code, "\(worker.name) (pid \(worker.pid)), item \(itemIndex): \(failure.description)",
                workerName: worker.name, workerPID: worker.pid, itemIndex: itemIndex)
        }
        return taskError(failure, worker: worker, itemIndex: itemIndex)
    }

    /// The task's own error rebuilt as its type where it can be, else a ``TaskError``.
    private static func taskError(_ failure: RemoteFailure, worker: WorkerLabel, itemIndex: Int) -> any Error {
        let origin = TaskOrigin(workerName: worker.name, workerPID: worker.pid, itemIndex: itemIndex)
        return failure.rebuilt(origin: origin) ?? TaskError(failure, workerName: worker.name, workerPID: worker.pid, itemIndex: itemIndex)
    }

    /// An item the worker's answer left out.
    static func missingItems(_ worker: WorkerLabel) -> PoolError {
        PoolError(.protocolViolation, "\(worker.name) answered fewer items than it was sent")
    }
}
