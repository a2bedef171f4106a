/// Runs the chunks a worker takes: finds and decodes each one's task, then runs its items.
///
/// Consecutive chunks of one call carry the same task value, so the task decoded last is kept
/// and reused; task types found by name are kept too.
struct ChunkRunner {
    private var taskTypes: [String: any PoolTask.Type] = [:]
    private var lastTask: LastTask?

    /// Runs `run`'s chunk, or says why it did not run: its call was cancelled, its task type
    /// cannot be found, or its task cannot be decoded.
    mutating func run(_ run: QueuedRun) async -> WorkerChunkOutcome {
        let task = run.task
        if run.skip {
            return .other(.rejected(RemoteFailure(poolError: .cancelled, "the call was cancelled before this chunk ran")))
        }
        if let last = lastTask, last.encoded == task {
            return await Self.runChunk(last.task, inputs: run.inputs)
        }
        guard let type = taskTypes[task.typeName] ?? Self.resolveTaskType(task.typeName) else {
            return .other(
                .rejected(
                    RemoteFailure(
                        poolError: .unsupportedTaskType,
                        "the worker cannot find a PoolTask type named \(task.typeName)")))
        }
        taskTypes[task.typeName] = type
        let value: any PoolTask
        do {
            value = try Self.decodeTask(type, payload: task.payload)
        } catch {
            return .other(.rejected(RemoteFailure(error)))
        }
        lastTask = LastTask(encoded: task, task: value)
        return await Self.runChunk(value, inputs: run.inputs)
    }

    private static func resolveTaskType(_ name: String) -> (any PoolTask.Type)? {
        _typeByName(name) as? any PoolTask.Type
    }

    private static func decodeTask<T: PoolTask>(_ type: T.Type, payload: [UInt8]) throws -> any PoolTask {
        try BinaryDecoder().decode(T.self, from: payload[...])
    }

    /// Runs every item of a chunk; an item's error does not stop the others, nor does an
    /// input that cannot be decoded or an output that cannot be encoded.
    static func runChunk<T: PoolTask>(_ task: T, inputs: EncodedItems) async -> WorkerChunkOutcome {
        let items: [T.Input]
        // Numbers are copied in and out as they are: this code is not specialised for the task,
        // and the generic coder's type lookups cost more than the items of a small chunk.
        if inputs.attachments.isEmpty, let numbers = PackedArrayPlacement.decoded(inputs.bytes, as: T.Input.self) {
            items = numbers
        } else {
            do {
                items = try inputs.decode([T.Input].self)
            } catch {
                guard let each = inputs.decodeEach(T.Input.self) else {
                    return .other(
                        .rejected(
                            RemoteFailure(
                                poolError: .decodingFailed,
                                "the items could not be decoded as [\(T.Input.self)]: \(error)")))
                }
                return .other(.mixed(await runEach(task, each)))
            }
        }
        let run = await task._runItems(items)
        let outputs = run.outputs
        guard let failure = run.failure else {
            if let raw = PackedArrayPlacement.encoded(outputs) { return .encoded(raw) }
            do {
                return .encoded(try EncodedItems.encode(outputs))
            } catch {
                let encoder = BinaryEncoder()
                return .other(.mixed(outputs.map { Self.encodeItem($0, encoder) }))
            }
        }
        let encoder = BinaryEncoder()
        // Slow path: finish the chunk item by item and report each one.
        var results: [ItemOutcome] = []
        results.reserveCapacity(items.count)
        for output in outputs { results.append(Self.encodeItem(output, encoder)) }
        results.append(.failure(RemoteFailure(failure)))
        results += await runEach(task, items[(outputs.count + 1)...].map { .success($0) })
        return .other(.mixed(results))
    }

    /// Runs the task on each input that could be decoded, and reports each one.
    private static func runEach<T: PoolTask>(_ task: T, _ inputs: [Result<T.Input, any Error>]) async -> [ItemOutcome] {
        let encoder = BinaryEncoder()
        var results: [ItemOutcome] = []
        results.reserveCapacity(inputs.count)
        for input in inputs {
            switch input {
            case .success(let item):
                do {
                    results.append(Self.encodeItem(try await task.run(item), encoder))
                } catch {
                    results.append(.failure(RemoteFailure(error)))
                }
            case .failure(let error):
                results.append(
                    .failure(
                        RemoteFailure(
                            poolError: .decodingFailed,
                            "the item could not be decoded as \(T.Input.self): \(error)")))
            }
        }
        return results
    }

    private static func encodeItem<O: Encodable>(_ output: O, _ encoder: BinaryEncoder) -> ItemOutcome {
        do {
            return .success(try encoder.encode(output)[...])
        } catch {
            return .failure(RemoteFailure(poolError: .encodingFailed, "the result could not be encoded as \(O.self): \(error)"))
        }
    }
}

/// A chunk's outcome in the worker: the common case keeps its encoded outputs as they are.
enum WorkerChunkOutcome {
    /// Every item succeeded: an encoded `[Output]`.
    case encoded(EncodedItems)
    /// Any other outcome, as it goes on the wire.
    case other(ChunkOutcome)
}

/// The task of the chunk run last, decoded: consecutive chunks of one call carry the same one.
/// A final class, so that keeping and checking it copies no task value (the profile showed
/// the copies of a tuple holding it on every chunk).
final class LastTask {
    /// The task as it came in the chunk's frame.
    let encoded: EncodedValue
    /// The task decoded.
    let task: any PoolTask

    init(encoded: EncodedValue, task: any PoolTask) {
        self.encoded = encoded
        self.task = task
    }
}
