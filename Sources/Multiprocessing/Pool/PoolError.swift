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
    /// For ``Code-swift.struct/workerDied``, and ``Code-swift.struct/spawnFailed`` when workers
    /// kept dying before they were ready: the end of what the worker wrote on its standard
    /// error before it died (a `fatalError` message, the end of a crash backtrace), its last
    /// 4 KiB at most; nil when it wrote nothing. Everything it wrote also went to this
    /// process's standard error as it came. A worker of another MPI rank (a pool across a
    /// cluster) sends its tail as the end of ``message``; this is nil there.
    public let stderrTail: String?

    internal init(
        _ code: Code, _ message: String, workerName: String? = nil, workerPID: Int32? = nil,
        exitStatus: ExitStatus? = nil, itemIndex: Int? = nil, stderrTail: String? = nil
    ) {
        self.code = code
        self.message = message
        self.workerName = workerName
        self.workerPID = workerPID
        self.exitStatus = exitStatus
        self.itemIndex = itemIndex
        self.stderrTail = stderrTail
    }

    /// "PoolError.workerDied: ...", then the worker's ``stderrTail``, if it has one, on lines
    /// of its own.
    public var description: String { "PoolError.\(code): \(messageWithTail)" }

    /// The message, then the ``stderrTail`` if there is one: what a serving rank sends rank 0,
    /// whose error has no tail of its own.
    var messageWithTail: String {
        guard let stderrTail else { return message }
        let lines = stderrTail.split(separator: "\n", omittingEmptySubsequences: false).map { "  | " + $0 }
        return message + "\n  its standard error ended with:\n" + lines.joined(separator: "\n")
    }
}
