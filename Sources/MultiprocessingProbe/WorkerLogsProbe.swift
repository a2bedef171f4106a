import Logging
import Multiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Worker logs sent to the parent (`ProcessPool.WorkerLogs.parent`), seen by a handler the
// parent bootstrapped: a process of its own, as `LoggingSystem.bootstrap` may run once.

/// Logs "item X at LEVEL" at every level from trace to error, with metadata; returns where.
struct LogAtLevels: PoolTask {
    struct Answer: Codable, Sendable {
        var pid: Int32
        var name: String
        var lines: [UInt]
    }
    func run(_ x: Int) async throws -> Answer {
        var logger = Logger(label: "probe.levels")
        logger[metadataKey: "component"] = "probe"
        var lines: [UInt] = []
        for level in [Logger.Level.trace, .debug, .info, .warning, .error] {
            lines.append(#line + 1)
            logger.log(level: level, "item \(x) at \(level)", metadata: ["item": "\(x)"])
        }
        return Answer(pid: getpid(), name: CurrentProcess.name, lines: lines)
    }
}

/// Logs `count` records as fast as it can, then says so through the FIFO at `fifo`.
struct LogFlood: PoolTask {
    var fifo: String
    func run(_ count: Int) async throws -> Int32 {
        let logger = Logger(label: "probe.flood")
        for i in 0..<count { logger.info("record \(i)") }
        let descriptor = open(fifo, O_WRONLY)
        _ = write(descriptor, "x", 1)
        close(descriptor)
        return getpid()
    }
}

/// Logs `count` short records and one with so much metadata that it cannot fit a frame under
/// a small `maxMessageBytes`.
struct LogUnderSmallFrames: PoolTask {
    func run(_ count: Int) async throws -> Int {
        let logger = Logger(label: "probe.small")
        for i in 0..<count { logger.info("record \(i)") }
        var metadata: Logger.Metadata = [:]
        for i in 0..<500 { metadata["key\(i)"] = "value \(i)" }
        logger.info("too large", metadata: metadata)
        return count
    }
}

/// The parent's handler: keeps every record, in memory. On the first record of
/// "probe.flood", waits until the flooding task says (through `floodFIFO`) that it has logged
/// them all, so that the parent takes nothing from the worker meanwhile.
struct RecordingLogHandler: LogHandler {
    struct Seen: Sendable {
        var level: Logger.Level
        var label: String
        var message: String
        var metadata: [String: String]
        var source: String
        var file: String
        var function: String
        var line: UInt
    }
    static let seen = Mutex<[Seen]>([])
    static let floodFIFO = Mutex<String?>(nil)

    let label: String
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var flat: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[key] = "\(value)" }
        let first = Self.seen.withLock { seen in
            seen.append(
                Seen(
                    level: event.level, label: label, message: "\(event.message)", metadata: flat, source: event.source,
                    file: event.file, function: event.function, line: event.line))
            return label == "probe.flood" && event.message == "record 0"
        }
        if first, let fifo = Self.floodFIFO.withLock({ $0 }) {
            let descriptor = open(fifo, O_RDONLY)
            var byte: UInt8 = 0
            _ = read(descriptor, &byte, 1)
            close(descriptor)
        }
    }
}

extension Probe {
    /// Two workers log at every level; prints each result ("result ITEM PID NAME LINE,LINE,..")
    /// and each record the parent's handler saw ("record" then tab-separated fields).
    static func workerLogs() async throws {
        LoggingSystem.bootstrap { RecordingLogHandler(label: $0) }
        var configuration = ProcessPool.Configuration(processes: 2)
        configuration.workerLogs = .parent
        let answers = try await ProcessPool.with(configuration) { pool in
            try await pool.map(LogAtLevels(), [1, 2, 3, 4], chunksize: 1)
        }
        for (item, answer) in zip([1, 2, 3, 4], answers) {
            say("result \(item) \(answer.pid) \(answer.name) \(answer.lines.map(String.init).joined(separator: ","))")
        }
        // Taken right after the call: a chunk's records come before its result.
        for record in RecordingLogHandler.seen.withLock({ $0 }) {
            let metadata = record.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            say(
                [
                    "record", "\(record.level)", record.label, record.message, record.source, record.file, record.function,
                    "\(record.line)", metadata,
                ].joined(separator: "\t"))
        }
    }

    /// A 4 KiB `maxMessageBytes`: a worker logs 300 records and one too large for any frame;
    /// prints "result N", how many records of "probe.small" the parent saw, and the dropped
    /// count it was told of.
    static func workerLogsSmallFrames() async throws {
        LoggingSystem.bootstrap { RecordingLogHandler(label: $0) }
        var configuration = ProcessPool.Configuration(processes: 1)
        configuration.workerLogs = .parent
        configuration.maxMessageBytes = 4096
        let result = try await ProcessPool.with(configuration) { pool in try await pool.apply(LogUnderSmallFrames(), 300) }
        let seen = RecordingLogHandler.seen.withLock { $0 }
        say("result \(result)")
        say("small \(seen.filter { $0.label == "probe.small" }.count)")
        say("dropped \(seen.compactMap { $0.metadata["dropped"].flatMap { Int($0) } }.reduce(0, +))")
    }

    /// `ProcessNameLogHandler` in the parent, records sent to it: one worker logs item 7 at
    /// every level; the handler prints them (standard error) under the worker's name.
    static func workerLogsNamed() async throws {
        ProcessNameLogHandler.bootstrap(logLevel: .debug)
        var configuration = ProcessPool.Configuration(processes: 1)
        configuration.workerLogs = .parent
        let answer = try await ProcessPool.with(configuration) { pool in try await pool.apply(LogAtLevels(), 7) }
        Logger(label: "probe").info("done \(answer.name)")
    }

    /// One worker logs `records` records into a 16-record buffer while the parent's handler
    /// takes nothing; prints "flood PID RECEIVED DROPPED", counted once the task returned.
    static func logFlood(records: Int, fifo: String) async throws {
        RecordingLogHandler.floodFIFO.withLock { $0 = fifo }
        LoggingSystem.bootstrap { RecordingLogHandler(label: $0) }
        var configuration = ProcessPool.Configuration(processes: 1)
        configuration.workerLogs = .parent(bufferedRecords: 16)
        let pid = try await ProcessPool.with(configuration) { pool in try await pool.apply(LogFlood(fifo: fifo), records) }
        let (received, dropped) = RecordingLogHandler.seen.withLock { seen in
            (
                seen.filter { $0.label == "probe.flood" }.count,
                seen.filter { $0.label == "Multiprocessing" }.compactMap { Int($0.metadata["dropped"] ?? "") }.reduce(0, +)
            )
        }
        say("flood \(pid) \(received) \(dropped)")
    }
}
