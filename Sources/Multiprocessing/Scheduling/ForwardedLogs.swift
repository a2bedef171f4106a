import Logging

/// The parent's side of ``ProcessPool/WorkerLogs/parent``: records a worker sent, emitted
/// through the parent's own `LoggingSystem`.
enum ForwardedLogs {
    /// Emits each record of `batch` as `Logger(label: record.label)` would, with the worker's
    /// name and pid added as metadata `worker` and `pid`; then, if the worker dropped records,
    /// a warning that says how many.
    static func emit(_ batch: WorkerLogBatch, from worker: WorkerLabel) {
        for record in batch.records {
            let level = Logger.Level(rawValue: record.level) ?? .info
            let logger = Logger(label: record.label)
            guard logger.logLevel <= level else { continue }
            var metadata = Logger.Metadata(minimumCapacity: record.metadata.count + 2)
            for (key, value) in record.metadata { metadata[key] = .string(value) }
            metadata["worker"] = .string(worker.name)
            metadata["pid"] = .stringConvertible(worker.pid)
            logger.log(
                level: level, Logger.Message(stringLiteral: record.message), metadata: metadata, source: record.source,
                file: record.file, function: record.function, line: UInt(clamping: record.line))
        }
        if batch.dropped > 0 {
            Logger(label: "Multiprocessing").warning(
                "dropped \(batch.dropped) log records: the worker's buffer for the parent was full",
                metadata: ["worker": .string(worker.name), "pid": .stringConvertible(worker.pid), "dropped": "\(batch.dropped)"])
        }
    }
}

extension ProcessPool {
    /// The level workers log at: ``ProcessNameLogHandler``'s when the parent installed it;
    /// when records go to the parent, otherwise, the level of the parent's own handlers (those
    /// below it would be dropped there anyway). Nil: workers leave logging as it is.
    static func workerLogLevel(_ logs: WorkerLogs) -> Logger.Level? {
        if let level = ProcessNameLogHandler.levelForWorkers { return level }
        return logs.forwardsToParent ? Logger(label: "Multiprocessing").logLevel : nil
    }
}
