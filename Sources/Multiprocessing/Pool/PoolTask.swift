/// A function that runs in a worker process: Python's `def worker1(i): ...`.
///
/// A task is a `Codable` value; its stored properties are the state it carries to the worker
/// (Python would pickle a closure's globals or a `functools.partial`). The worker finds the type
/// by its mangled name in its own copy of the binary, so the type must not be `private`,
/// `fileprivate` or local to a function; the pool checks this in the caller and throws
/// ``PoolError/Code-swift.struct/unsupportedTaskType`` naming the type. A task type without
/// stored properties has nothing of its own to send: it is encoded once per process, and a
/// custom `encode(to:)` on such a type must not write anything that changes between calls.
///
/// ```swift
/// struct Square: PoolTask {
///     func run(_ x: Int) async throws -> Int { x * x }
/// }
/// let squares = try await pool.map(Square(), [1, 2, 3])   // [1, 4, 9]
/// ```
public protocol PoolTask: Codable, Sendable {
    /// One argument of the task.
    associatedtype Input: Codable & Sendable
    /// The task's result for one input.
    associatedtype Output: Codable & Sendable

    /// Runs the task on one input, in a worker process. A thrown error of a `Codable` type
    /// reaches the caller as itself (see ``TaskOrigin``); any other as a ``TaskError`` with the
    /// error's type name, description and the worker's name.
    func run(_ input: Input) async throws -> Output

    /// Runs `run` over a chunk's items in order, stopping at the first error. Implementation
    /// detail: do not implement it. The default is `@inlinable` so that each task type gets a
    /// loop specialised for it, where the worker's generic serve loop could not.
    func _runItems(_ items: [Input]) async -> _PoolTaskChunkRun<Output>
}

extension PoolTask {
    /// The default chunk loop; see `PoolTask._runItems(_:)`.
    @inlinable
    public func _runItems(_ items: [Input]) async -> _PoolTaskChunkRun<Output> {
        var outputs: [Output] = []
        outputs.reserveCapacity(items.count)
        var index = 0
        while index < items.count {
            do {
                outputs.append(try await run(items[index]))
            } catch {
                return _PoolTaskChunkRun(outputs: outputs, failure: error)
            }
            index += 1
        }
        return _PoolTaskChunkRun(outputs: outputs, failure: nil)
    }
}

/// What ``PoolTask/_runItems(_:)`` returns: the outputs of the items before the first failure,
/// and that failure. Implementation detail of the worker's serve loop.
public struct _PoolTaskChunkRun<Output> {
    /// Outputs of the items that ran, in order.
    public var outputs: [Output]
    /// The error of the item at `outputs.count`, if one failed.
    public var failure: (any Error)?

    /// Makes a chunk run result.
    @inlinable
    public init(outputs: [Output], failure: (any Error)?) {
        self.outputs = outputs
        self.failure = failure
    }
}

/// Code run once in every worker process as it starts: Python's `Pool(initializer=, initargs=)`.
/// Its stored properties play the part of `initargs`.
///
/// If it throws, the worker reports the error and exits, and the pool fails with
/// ``PoolError/Code-swift.struct/initializerFailed`` instead of starting workers forever.
public protocol PoolInitializer: Codable, Sendable {
    /// Prepares the worker process, e.g. fills a process-wide cache the tasks read.
    func run() async throws
}

/// The arguments of one call of a ``ProcessPool/starmap(_:_:chunksize:timeout:progress:isolation:)`` task: Python's argument tuple `(a, b)`.
///
/// ```swift
/// struct Add: PoolTask {
///     func run(_ arguments: StarArguments<Int, Int>) async throws -> Int {
///         let (a, b) = arguments.values
///         return a + b
///     }
/// }
/// let sums = try await pool.starmap(Add(), [(1, 2), (3, 4)])   // [3, 7]
/// ```
public struct StarArguments<each Element: Codable & Sendable>: Codable, Sendable {
    /// The arguments, in order.
    public var values: (repeat each Element)

    /// Makes an argument list from its values.
    public init(_ values: repeat each Element) {
        self.values = (repeat each values)
    }

    /// Decodes the arguments from an unkeyed container, in order.
    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        self.values = (repeat try container.decode((each Element).self))
    }

    /// Encodes the arguments into an unkeyed container, in order.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        repeat try container.encode(each values)
    }
}
