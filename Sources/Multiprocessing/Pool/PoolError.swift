/// An error of the pool itself: a bad argument, a call at the wrong time, a worker that died,
/// a timeout. Errors thrown by task code arrive as ``TaskError`` instead.
///
/// Match on ``code``:
/// ```swift
/// do { _ = try await job.get(timeout: .seconds(1)) }
/// catch let error as PoolError where error.code == .timeout { ... }
/// ```
public struct PoolError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as a value to compare against.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        internal enum Storage: String, Hashable, Sendable {
            case invalidArgument, poolNotRunning, poolStillRunning, timeout, resultNotReady
            case workerDied, terminated, initializerFailed, spawnFailed, systemCallFailed
            case unsupportedTaskType, encodingFailed, decodingFailed, protocolViolation, cancelled
            case taskTimedOut, messageTooLarge
        }
        internal let storage: Storage
        internal init(_ storage: Storage) { self.storage = storage }
        internal init?(named name: String) {
            guard let storage = Storage(rawValue: name) else { return nil }
            self.storage = storage
        }

        /// An argument is out of range (`processes: 0`, `chunksize: 0`, ...).
        public static let invalidArgument = Code(.invalidArgument)
        /// The pool was closed or terminated before this call.
        public static let poolNotRunning = Code(.poolNotRunning)
        /// `join()` was called before `close()` or `terminate()`.
        public static let poolStillRunning = Code(.poolStillRunning)
        /// `get(timeout:)` gave up waiting; the work itself goes on.
        public static let timeout = Code(.timeout)
        /// `isSuccessful` was asked before the result was ready.
        public static let resultNotReady = Code(.resultNotReady)
        /// The worker running the item ended (crash, signal, exit) before it answered.
        public static let workerDied = Code(.workerDied)
        /// `terminate()` ended the pool before the item finished.
        public static let terminated = Code(.terminated)
        /// The pool's initializer threw in a worker, or ran over its time limit.
        public static let initializerFailed = Code(.initializerFailed)
        /// A worker process could not be started.
        public static let spawnFailed = Code(.spawnFailed)
        /// An operating-system call failed.
        public static let systemCallFailed = Code(.systemCallFailed)
        /// The task type cannot be found by name in a worker (private, fileprivate or local).
        public static let unsupportedTaskType = Code(.unsupportedTaskType)
        /// An argument, task or initializer could not be encoded.
        public static let encodingFailed = Code(.encodingFailed)
        /// A result could not be decoded.
        public static let decodingFailed = Code(.decodingFailed)
        /// A worker sent bytes that do not follow the protocol; it was replaced.
        public static let protocolViolation = Code(.protocolViolation)
        /// The call was cancelled (its awaiting Swift task was cancelled).
        public static let cancelled = Code(.cancelled)
        /// An item ran longer than its time limit; its worker was killed and replaced.
        public static let taskTimedOut = Code(.taskTimedOut)
        /// An argument or result is larger than the pool's `maxMessageBytes`.
        public static let messageTooLarge = Code(.messageTooLarge)

        /// The code's name, e.g. "workerDied".
        public var description: String { storage.rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence for people, naming the worker, type or argument involved.
    public let message: String
    /// The worker involved, when there is one (e.g. "SpawnPoolWorker-2").
    public let workerName: String?
    /// The pid of the worker involved, when there is one.
    public let workerPID: Int32?
    /// How the worker ended, for ``Code-swift.struct/workerDied``.
    public let exitStatus: ExitStatus?
    /// The position in the call's input of the one item the error concerns, when it concerns
    /// one (an argument a worker could not decode, a result it could not encode).
    public let itemIndex: Int?

    internal init(_ code: Code, _ message: String, workerName: String? = nil, workerPID: Int32? = nil,
                  exitStatus: ExitStatus? = nil, itemIndex: Int? = nil) {
        self.code = code
        self.message = message
        self.workerName = workerName
        self.workerPID = workerPID
        self.exitStatus = exitStatus
        self.itemIndex = itemIndex
    }

    /// "PoolError.workerDied: ...".
    public var description: String { "PoolError.\(code): \(message)" }
}

/// Where a task's error was thrown: the worker, its pid and the item.
///
/// An error type that is `Codable` crosses back to the caller as itself, so that
/// `catch let error as MyError` matches, as Python re-raises the original exception class.
/// Its `init(from:)` finds where it was thrown in the decoder's `userInfo`:
/// ```swift
/// struct ParseError: Error, Codable {
///     var line: Int
///     var origin: TaskOrigin?
///     enum CodingKeys: CodingKey { case line }
///     init(from decoder: any Decoder) throws {
///         line = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .line)
///         origin = decoder.userInfo[.taskOrigin] as? TaskOrigin
///     }
/// }
/// ```
public struct TaskOrigin: Sendable, Hashable, CustomStringConvertible {
    /// The worker that ran the item, e.g. "SpawnPoolWorker-1".
    public let workerName: String
    /// That worker's pid.
    public let workerPID: Int32
    /// The item's position in the call's input (0 for `apply`).
    public let itemIndex: Int

    /// "SpawnPoolWorker-1 (pid 123), item 4".
    public var description: String { "\(workerName) (pid \(workerPID)), item \(itemIndex)" }
}

extension CodingUserInfoKey {
    /// The ``TaskOrigin`` of an error rebuilt in the caller, in its decoder's `userInfo`.
    public static let taskOrigin = CodingUserInfoKey(rawValue: "swift-multiprocessing.taskOrigin")!
}

/// An error thrown by task code in a worker, carried back to the caller, when its type is not
/// `Codable` (or cannot be found by name in a worker: private, local).
///
/// The original error value stays in the worker; its type name and description come back,
/// with the worker that ran it and the item's position. An error of a `Codable` type comes
/// back as itself instead (see ``TaskOrigin``).
public struct TaskError: Error, Sendable, CustomStringConvertible {
    /// The thrown error's full type name, e.g. "MyApp.ParseError".
    public let typeName: String
    /// `String(describing:)` of the thrown error.
    public let errorDescription: String
    /// The worker that ran the item, e.g. "SpawnPoolWorker-1".
    public let workerName: String
    /// That worker's pid.
    public let workerPID: Int32
    /// The item's position in the call's input (0 for `apply`).
    public let itemIndex: Int

    internal init(_ failure: RemoteFailure, workerName: String, workerPID: Int32, itemIndex: Int) {
        self.typeName = failure.typeName
        self.errorDescription = failure.description
        self.workerName = workerName
        self.workerPID = workerPID
        self.itemIndex = itemIndex
    }

    /// The worker, pid and item together.
    public var origin: TaskOrigin { TaskOrigin(workerName: workerName, workerPID: workerPID, itemIndex: itemIndex) }

    /// "ParseError in SpawnPoolWorker-1 (pid 123), item 4: bad digit".
    public var description: String {
        "\(typeName) in \(workerName) (pid \(workerPID)), item \(itemIndex): \(errorDescription)"
    }
}
