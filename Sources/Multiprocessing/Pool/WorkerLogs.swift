extension ProcessPool {
    /// Where the swift-log records that code in a worker emits go: ``ProcessPool/Configuration/workerLogs``.
    ///
    /// - ``standardError``, the default: each worker logs by itself, through
    ///   ``ProcessNameLogHandler`` when the parent installed it (at the parent's level), through
    ///   swift-log's default handler (standard error) otherwise. Nothing passes through the
    ///   parent, so a worker that crashes has written every line it logged.
    /// - ``parent``: each record goes to the parent over the worker's channel and is emitted
    ///   there through the parent's own `LoggingSystem` (a JSON handler, an exporter, whatever
    ///   the program bootstrapped), as `Logger(label:)` with the record's label, with its level,
    ///   message, metadata, source, file, function and line, and metadata `worker` (the
    ///   worker's name) and `pid` added. This is Python's `QueueHandler` recipe built in; under
    ///   Python's spawn start method a worker loses the parent's handlers, here it keeps them.
    ///
    /// Forwarding is opt-in because it needs the program's `LoggingSystem.bootstrap` to run in
    /// the parent only, below `Multiprocessing.bootstrap()` (a worker installs its forwarding
    /// handler itself, and swift-log allows one bootstrap per process), and because the records
    /// a worker logged just before it crashed may not have left it.
    ///
    /// Forwarded records wait in a bounded buffer in the worker while a thread of the worker
    /// sends them: logging never blocks the task. When the buffer is full, new records are
    /// dropped and counted; the parent then emits a warning with label `Multiprocessing` saying
    /// how many records that worker dropped. Records a chunk logged reach the parent before the
    /// chunk's result does.
    ///
    /// ```swift
    /// try Multiprocessing.bootstrap()
    /// LoggingSystem.bootstrap(MyJSONLogHandler.init)   // the parent's handler, for workers too
    /// var configuration = ProcessPool.Configuration()
    /// configuration.workerLogs = .parent
    /// ```
    public struct WorkerLogs: Sendable, Equatable {
        /// Whether records go to the parent.
        let forwardsToParent: Bool
        /// Records a worker holds for the parent at most.
        let bufferedRecords: Int

        /// Each worker logs by itself, to standard error (the default).
        public static let standardError = WorkerLogs(forwardsToParent: false, bufferedRecords: 0)

        /// Records go to the parent's log handlers; a worker holds up to 4096 waiting to be sent.
        public static let parent = WorkerLogs(forwardsToParent: true, bufferedRecords: 4096)

        /// Records go to the parent's log handlers; a worker holds up to `bufferedRecords`
        /// waiting to be sent, and drops and counts the ones that find the buffer full.
        public static func parent(bufferedRecords: Int) -> WorkerLogs {
            WorkerLogs(forwardsToParent: true, bufferedRecords: bufferedRecords)
        }
    }
}
