import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A swift-log handler that prefixes each line with the process name, as Python's
/// `logging.basicConfig(format="%(processName)s: %(message)s")`:
/// ```
/// SpawnPoolWorker-1: start
/// MainProcess: executed
/// ```
/// Install it with one line, ``bootstrap(logLevel:)``, before making a pool: workers then
/// install the same handler at the same level, so a task's `logger.info(...)` prints with the
/// worker's name (as do records workers send to the parent, ``ProcessPool/WorkerLogs/parent``).
/// Each line goes to standard error in a single `write`, so lines from
/// different processes never interleave.
public struct ProcessNameLogHandler: LogHandler {
    private static let installedLevel = Mutex<Logger.Level?>(nil)

    /// Installs this handler for every logger in this process and in the workers of pools made
    /// afterwards. Calls `LoggingSystem.bootstrap`, which may run once per process.
    public static func bootstrap(logLevel: Logger.Level = .info) {
        installedLevel.withLock { $0 = logLevel }
        LoggingSystem.bootstrap { label in ProcessNameLogHandler(label: label, logLevel: logLevel) }
    }

    /// The level workers should install, or nil when the parent did not install the handler.
    static var levelForWorkers: Logger.Level? { installedLevel.withLock { $0 } }

    /// Called in a worker that received a level from its parent. A worker that started in
    /// `main` may have installed the handler already, above `Multiprocessing.bootstrap()`, and
    /// `LoggingSystem.bootstrap` may run only once.
    static func bootstrapInWorker(logLevel: Logger.Level) {
        guard claimBootstrap(logLevel: logLevel) else { return }
        LoggingSystem.bootstrap { label in ProcessNameLogHandler(label: label, logLevel: logLevel) }
    }

    /// In a worker: whether it may call `LoggingSystem.bootstrap`, which then installs a
    /// handler at `logLevel`. False when its run of `main` installed this handler already.
    static func claimBootstrap(logLevel: Logger.Level) -> Bool {
        installedLevel.withLock { installed in
            defer { installed = installed ?? logLevel }
            return installed == nil
        }
    }

    /// The logger's label (not printed: the seed's format shows only process and message).
    public let label: String
    /// Messages below this level are dropped.
    public var logLevel: Logger.Level
    /// Metadata printed after the message as `key=value` pairs.
    public var metadata: Logger.Metadata = [:]

    /// A handler for the logger called `label`.
    public init(label: String, logLevel: Logger.Level = .info) {
        self.label = label
        self.logLevel = logLevel
    }

    /// Metadata for `key`.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes "ProcessName: message" to standard error. A record a worker sent to this
    /// process (``ProcessPool/WorkerLogs/parent``) is written under the worker's name, which
    /// its metadata `worker` and `pid` carry, and without them.
    public func log(event: LogEvent) {
        var merged = event.metadata.map { metadata.merging($0) { _, new in new } } ?? metadata
        var name = CurrentProcess.name
        if !CurrentProcess.isPoolWorker, case .string(let worker)? = event.metadata?["worker"], event.metadata?["pid"] != nil {
            name = worker
            merged["worker"] = nil
            merged["pid"] = nil
        }
        var line = "\(name): \(event.message)"
        if !merged.isEmpty {
            line += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        line += "\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}
