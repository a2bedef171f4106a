import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Worker logs sent to the parent (`ProcessPool.WorkerLogs.parent`): the probe bootstraps an
/// in-memory handler in its own process (swift-log allows one bootstrap per process) and
/// prints what the handler received.
@Suite("worker logs in the parent", .timeLimit(.minutes(2)))
struct WorkerLogsTests {
    @Test("a worker's records reach the parent's handler with their level, label, file, line and metadata, plus worker and pid")
    func recordsReachTheParent() async throws {
        try await withDeadline(60) { () async throws in
            let probe = try ProbeProcess.start(["worker-logs"])
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0, "\(lines)")
            var workers: [Int: (pid: String, name: String, lines: [String])] = [:]
            for line in lines where line.hasPrefix("result ") {
                let fields = line.split(separator: " ").map(String.init)
                try #require(fields.count == 5, "\(line)")
                workers[Int(fields[1])!] = (fields[2], fields[3], fields[4].split(separator: ",").map(String.init))
            }
            #expect(workers.keys.sorted() == [1, 2, 3, 4], "\(lines)")
            let records = lines.filter { $0.hasPrefix("record\t") }.map {
                $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            }
            let levels = ["trace", "debug", "info", "warning", "error"]
            // Every record of every item arrived before the call returned, each once.
            #expect(records.count == 4 * levels.count, "\(records)")
            for (item, worker) in workers {
                for (index, level) in levels.enumerated() {
                    let matching = records.filter { $0.count == 9 && $0[3] == "item \(item) at \(level)" }
                    try #require(matching.count == 1, "item \(item) at \(level): \(records)")
                    let record = matching[0]
                    #expect(record[1] == level)
                    #expect(record[2] == "probe.levels")
                    #expect(record[4] == "MultiprocessingProbe")
                    #expect(record[5] == "MultiprocessingProbe/WorkerLogsProbe.swift")
                    #expect(record[6] == "run(_:)")
                    #expect(record[7] == worker.lines[index])
                    #expect(record[8] == "component=probe,item=\(item),pid=\(worker.pid),worker=\(worker.name)")
                }
            }
        }
    }

    @Test("under a 4 KiB maxMessageBytes records go in frames the parent accepts; one too large for any is dropped and counted")
    func framesUnderMaxMessageBytes() async throws {
        try await withDeadline(60) { () async throws in
            let probe = try ProbeProcess.start(["worker-logs-small-frames"])
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0, "\(lines)")
            #expect(lines.contains("result 300"), "\(lines)")
            #expect(lines.contains("small 300"), "\(lines)")
            #expect(lines.contains("dropped 1"), "\(lines)")
        }
    }

    @Test("a flood of 100k records never waits for the parent: the worker keeps 16, drops the rest and says how many")
    func floodDropsAndCounts() async throws {
        try await withDeadline(90) { () async throws in
            var template = Array("/tmp/mp-logflood-XXXXXX".utf8CString)
            let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
            let fifo = directory + "/done"
            defer {
                unlink(fifo)
                rmdir(directory)
            }
            try #require(mkfifo(fifo, 0o600) == 0)
            // The parent's handler blocks on the first flood record until the task has logged
            // all of them: the task finishes only if logging never waits for the parent.
            let probe = try ProbeProcess.start(["log-flood", "100000", fifo])
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0, "\(lines)")
            let fields = try #require(lines.first { $0.hasPrefix("flood ") }).split(separator: " ").compactMap { Int($0) }
            try #require(fields.count == 3, "\(lines)")
            let (received, dropped) = (fields[1], fields[2])
            #expect(received + dropped == 100_000, "received \(received), dropped \(dropped)")
            #expect(dropped > 0)
            // What the parent received: what the worker's buffer and its channel held while
            // the parent took nothing, far from all.
            #expect(received < 50_000, "received \(received)")
        }
    }
}

extension WorkerLogsTests {
    @Test("ProcessNameLogHandler in the parent prints a worker's records under the worker's name, at the parent's level")
    func processNamesForSentRecords() async throws {
        try await withDeadline(60) { () async throws in
            let probe = try ProbeProcess.start(
                executable: ProbeProcess.executable, ["worker-logs-named"], capturing: STDERR_FILENO)
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0, "\(lines)")
            let name = try #require(lines.last?.split(separator: " ").last.map(String.init), "\(lines)")
            #expect(name.hasPrefix("SpawnPoolWorker-"))
            // Trace is below the parent's level (debug): the worker does not even send it.
            #expect(
                lines == ["debug", "info", "warning", "error"].map { "\(name): item 7 at \($0) component=probe item=7" } + [
                    "MainProcess: done \(name)"
                ])
        }
    }
}
