import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#endif

/// A crashed worker's error carries the end of what it wrote on its standard error, and
/// everything it wrote still reaches the parent's standard error.
@Suite("a crashed worker's standard error", .timeLimit(.minutes(2)))
struct StderrTailTests {
    @Test("a task's fatalError message is in its item's error")
    func fatalErrorMessage() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let error = await #expect(throws: PoolError.self) {
                    try await pool.map(DieOn(fatal: [2], way: .trap), [0, 1, 2, 3], chunksize: 1)
                }
                #expect(error?.code == .workerDied)
                #expect(error?.stderrTail?.contains("Fatal error: DieOn trap at 2") == true, "\(String(describing: error))")
                #expect(error?.description.contains("DieOn trap at 2") == true)
                // A worker that died without a word has no tail, even after one that spoke.
                let killed = await #expect(throws: PoolError.self) { try await pool.apply(DieOn(fatal: [5], way: .kill), 5) }
                #expect(killed?.code == .workerDied)
                #expect(killed?.stderrTail == nil, "\(String(describing: killed))")
            }
        }
    }

    @Test(
        "what a task printed on standard error before a signal killed its worker is in the error",
        arguments: [(ShoutThenDie.Way.segfault, SIGSEGV), (.abort, SIGABRT)])
    func printedThenKilledBySignal(way: ShoutThenDie.Way, signal: Int32) async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let message = "about to die of \(way): \(UInt32.random(in: 0...UInt32.max))"
                let error = await #expect(throws: PoolError.self) {
                    try await pool.apply(ShoutThenDie(message: message, way: way), 0)
                }
                #expect(error?.code == .workerDied)
                #expect(error?.exitStatus == .signaled(signal))
                #expect(error?.stderrTail?.contains(message) == true, "\(String(describing: error))")
                // The pool goes on with a new worker.
                #expect(try await pool.apply(Square(), 4) == 16)
            }
        }
    }

    @Test("a process the task started keeps the worker's standard error open: the error comes anyway")
    func grandchildHoldsStderr() async throws {
        // The sleep outlives the deadline: waiting for its end of the pipe would time out.
        try await withDeadline(30) { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let error = await #expect(throws: PoolError.self) { try await pool.apply(TrapLeavingChildOnStderr(), 120) }
                let tail = error?.stderrTail ?? ""
                if let line = tail.split(separator: "\n").first(where: { $0.hasPrefix("grandchild ") }),
                    let pid = pid_t(line.dropFirst("grandchild ".count))
                {
                    kill(pid, SIGKILL)
                } else {
                    Issue.record("no grandchild pid in the tail: \(tail)")
                }
                #expect(error?.code == .workerDied)
                #expect(tail.contains("trapped with a child holding standard error"), "\(tail)")
                #expect(try await pool.apply(Square(), 5) == 25)
            }
        }
    }

    @Test("the tail keeps the last 4 KiB from the last line break on, whole characters only")
    func tailIsBounded() {
        let tail = StderrTail()
        let line = Array("0123456789abcdé\n".utf8)
        var written = 0
        while written < 1 << 20 {
            line.withUnsafeBytes { tail.append($0) }
            written += line.count
        }
        Array("last words\n".utf8).withUnsafeBytes { tail.append($0) }
        tail.end()
        let text = tail.text(waitingForEndMilliseconds: 0) ?? ""
        #expect(text.utf8.count <= StderrTail.limit)
        #expect(text.utf8.count > StderrTail.limit - 2 * line.count)
        #expect(text.hasPrefix("0123456789abcdé\n"))
        #expect(text.hasSuffix("\nlast words"))
        // Cut inside a character and with no line break: from the next whole character.
        #expect(StderrTail.text(of: Array("éa".utf8).dropFirst().map { $0 }, cut: true) == "a")
        #expect(StderrTail.text(of: Array("  \n".utf8), cut: false) == nil)
    }

    @Test("a line a worker writes before it answers reaches standard error before what the parent writes on the answer")
    func forwardedBeforeTheAnswer() async throws {
        try await withDeadline(60) { () async throws in
            let items = 300
            let probe = try ProbeProcess.start(["stderr-order", String(items)], alsoStandardError: true)
            let (output, status) = await offCooperativePool { probe.outputUntilExit() }
            #expect(status == 0, "probe exit status \(status)")
            let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
            #expect(lines.last == "done")
            var workerLine: [Int: Int] = [:]
            var late: [Int] = []
            for (index, line) in lines.enumerated() {
                let fields = line.split(separator: " ")
                guard fields.count == 2, let item = Int(fields[1]) else { continue }
                if fields[0] == "worker" { workerLine[item] = index }
                if fields[0] == "parent", (workerLine[item] ?? Int.max) > index { late.append(item) }
            }
            #expect(workerLine.count == items)
            #expect(late.isEmpty, "the parent wrote on these answers before their worker's line showed: \(late)")
        }
    }

    @Test("a worker's 1 MiB on standard error reaches the parent's standard error in order; its error keeps at most 4 KiB")
    func floodIsForwardedAndBounded() async throws {
        try await withDeadline(90) { () async throws in
            let lines = 16_384
            let probe = try ProbeProcess.start(["stderr-flood", String(lines)], alsoStandardError: true)
            let (output, status) = await offCooperativePool { probe.outputUntilExit() }
            #expect(status == 0, "probe exit status \(status)")
            let text = String(decoding: output, as: UTF8.self)
            let report = text.split(separator: "\n").last.map(String.init) ?? ""
            let fields = report.split(separator: " ")
            #expect(fields.count == 6 && fields[0] == "error" && fields[1] == "workerDied", "\(report)")
            let kept = fields.count == 6 ? Int(fields[3]) ?? -1 : -1
            #expect(kept > 0 && kept <= StderrTail.limit, "\(report)")
            #expect(fields.last == "yes", "the tail has not the crash's message: \(report)")
            // Every line the worker wrote, whole and in order, then its fatal error.
            let flood = text.split(separator: "\n").filter { $0.hasPrefix("flood ") }
            #expect(flood.count == lines)
            let numbers = flood.map { Int($0.split(separator: " ")[1]) ?? -1 }
            #expect(numbers == Array(0..<lines))
            #expect(flood.allSatisfy { $0.utf8.count == 63 })
            #expect(text.contains("Fatal error: last words"))
        }
    }
}
