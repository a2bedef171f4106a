import Dispatch
import InMemoryTracing
import Multiprocessing
import Synchronization
import Tracing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// A separate program for the fault tests that must own a whole process: a pool parent that the
// test kills (orphaned workers must exit), and the soak run, whose descriptor, child-process
// and memory counts would be disturbed by the test runner's other tests.

/// Appends its pid to `file`, then spins, sleeps or returns as told.
struct Occupy: PoolTask {
    enum Mode: Codable, Sendable { case spin, sleep }
    var file: String
    func run(_ mode: Mode) async throws -> Int32 {
        let line = "\(getpid())\n"
        let fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        switch mode {
        case .spin:
            var x: UInt64 = 0
            while true {
                x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                if x == 42 { break }
            }
            return Int32(truncatingIfNeeded: x)
        case .sleep:
            try await Task.sleep(for: .seconds(3600))
            return getpid()
        }
    }
}

/// Sleeps 1 s on the inputs in `slowOn` (over the chaos pool's 200 ms limit).
struct Nap: PoolTask {
    var slowOn: Set<Int>
    func run(_ x: Int) async throws -> Int {
        if slowOn.contains(x) { try await Task.sleep(for: .seconds(1)) }
        return x
    }
}

/// SIGKILLs its own worker on the item `victim`.
struct Crash: PoolTask {
    var victim: Int
    func run(_ x: Int) async throws -> Int {
        if x == victim { raise(SIGKILL) }
        return x
    }
}

/// Writes `lines` numbered lines of 64 bytes on standard error, then traps with the message
/// "last words": a crash after far more output than an error keeps.
struct Flood: PoolTask {
    func run(_ lines: Int) async throws -> Int {
        var text = ""
        for line in 0..<lines {
            var entry = "flood \(line) "
            entry += String(repeating: "x", count: 63 - entry.utf8.count) + "\n"
            text += entry
            if text.utf8.count >= 4096 || line == lines - 1 {
                _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
                text = ""
            }
        }
        fatalError("last words")
    }
}

/// Writes "worker N" on standard error, then returns N.
struct SayOnStderr: PoolTask {
    func run(_ x: Int) async throws -> Int {
        let line = "worker \(x)\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        return x
    }
}

/// Returns its input with the worker's pid, so the soak can check results and pick victims.
struct Tagged: PoolTask {
    struct Answer: Codable, Sendable {
        var value: Int
        var pid: Int32
    }
    func run(_ x: Int) async throws -> Answer { Answer(value: x &* 31 &+ 7, pid: getpid()) }
}

/// Starts a span in the worker and returns its trace id and parent span id, as `TRACE PARENT`.
struct SpanInWorker: PoolTask {
    func run(_ x: Int) async throws -> String {
        // The bootstrapped tracer, as any task would use it.
        withSpan("task \(x)") { span in
            let ids = span.context.inMemorySpanContext
            return "\(ids?.traceID ?? "-") \(ids?.parentSpanID ?? "-")"
        }
    }
}

@main
struct Probe {
    static func main() async throws {
        // Above `bootstrap()`, so that the workers, which run `main` up to it, have the tracer too.
        if CommandLine.arguments.dropFirst().first == "trace" { InstrumentationSystem.bootstrap(Self.tracer) }
        try Multiprocessing.bootstrap()
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "trace": try await trace()
        case "orphan-parent": try await orphanParent(pidFile: arguments[1])
        case "death-loop": try await deathLoop(rounds: Int(arguments.dropFirst().first ?? "") ?? 50)
        case "chaos": try await chaos(rounds: Int(arguments.dropFirst().first ?? "") ?? 50)
        case "stderr-order": try await stderrOrder(items: Int(arguments.dropFirst().first ?? "") ?? 200)
        case "stderr-flood": try await stderrFlood(lines: Int(arguments.dropFirst().first ?? "") ?? 16_384)
        case "cancel-on-sigint": try await cancelOnSIGINT(pidFile: arguments[1])
        case "worker-logs": try await workerLogs()
        case "worker-logs-small-frames": try await workerLogsSmallFrames()
        case "worker-logs-named": try await workerLogsNamed()
        case "memory-limit": try await memoryLimit()
        case "shared-array-leaks": try await sharedArrayLeaks()
        case "log-flood": try await logFlood(records: Int(arguments.dropFirst().first ?? "") ?? 100_000, fifo: arguments[2])
        case "soak":
            try await soak(
                tasks: Int(arguments.dropFirst().first ?? "") ?? 100_000,
                killEvery: Int(arguments.dropFirst(2).first ?? "") ?? 3_000)
        default:
            print(
                "usage: MultiprocessingProbe orphan-parent PIDFILE | cancel-on-sigint PIDFILE | death-loop [ROUNDS]"
                    + " | chaos [ROUNDS] | soak [TASKS] [KILL-EVERY] | stderr-flood [LINES] | stderr-order [ITEMS]")
            exit(2)
        }
    }

    /// The tracing scenario's tracer: random ids, so that a worker's own trace cannot pass for
    /// the parent's.
    static let tracer = InMemoryTracer(
        idGenerator: .init(
            nextTraceID: { "trace-\(UInt64.random(in: 1...UInt64.max))" },
            nextSpanID: { "span-\(UInt64.random(in: 1...UInt64.max))" }))

    /// Each kind of call inside a span of the caller's, whose tasks start spans of their own in
    /// the workers. Prints the caller's trace (`caller TRACE`), each call's span
    /// (`ProcessPool.NAME TRACE SPAN PARENT`), and what each task's span saw
    /// (`task ProcessPool.NAME TRACE PARENT`).
    static func trace() async throws {
        let pool = try ProcessPool(processes: 2)
        let seen: [(String, String)] = try await tracer.withSpan("caller") { span in
            say("caller \(span.traceID)")
            var seen: [(String, String)] = []
            for line in try await pool.map(SpanInWorker(), [1, 2], chunksize: 1) { seen.append(("ProcessPool.map", line)) }
            seen.append(("ProcessPool.apply", try await pool.apply(SpanInWorker(), 3)))
            for line in try await pool.mapAsync(SpanInWorker(), [4]).get() { seen.append(("ProcessPool.mapAsync", line)) }
            seen.append(("ProcessPool.applyAsync", try await pool.applyAsync(SpanInWorker(), 5).get()))
            for try await line in try pool.imap(SpanInWorker(), [6]) { seen.append(("ProcessPool.imap", line)) }
            return seen
        }
        pool.close()
        try await pool.join()
        for span in tracer.finishedSpans where span.operationName.hasPrefix("ProcessPool.") {
            say("\(span.operationName) \(span.traceID) \(span.spanID) \(span.parentSpanID ?? "-")")
        }
        for (call, line) in seen { say("task \(call) \(line)") }
    }

    /// Three workers: one spinning, one sleeping in a task, one idle. Prints "ready" and the
    /// worker pids, then waits to be killed.
    static func orphanParent(pidFile: String) async throws {
        let pool = try ProcessPool(processes: 3)
        let spinning = try pool.applyAsync(Occupy(file: pidFile), .spin)
        let sleeping = try pool.applyAsync(Occupy(file: pidFile), .sleep)
        while lines(of: pidFile) < 2 { try await Task.sleep(for: .milliseconds(5)) }
        say("ready \(childPIDs().map(String.init).joined(separator: " "))")
        _ = try await (spinning.get(), sleeping.get())
    }

    /// A worker floods its standard error (forwarded to this process's), then traps. Prints
    /// what the item's error kept: "error CODE tail-bytes N last-words yes|no".
    static func stderrFlood(lines: Int) async throws {
        try await ProcessPool.with(processes: 1) { pool in
            do {
                _ = try await pool.apply(Flood(), lines)
                say("no error")
            } catch let error as PoolError {
                let tail = error.stderrTail ?? ""
                say("error \(error.code) tail-bytes \(tail.utf8.count) last-words \(tail.contains("last words") ? "yes" : "no")")
            }
        }
    }

    /// Each item's worker writes "worker N" on standard error before it answers; this process
    /// writes "parent N" there once it has the answer, then "done".
    static func stderrOrder(items: Int) async throws {
        try await ProcessPool.with(processes: 2) { pool in
            for try await x in try pool.imapUnordered(SayOnStderr(), 0..<items) {
                let line = "parent \(x)\n"
                _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            }
        }
        say("done")
    }

    /// A program that handles SIGINT itself: a dispatch source cancels the Swift task running
    /// the pool's call, which kills the workers running its items. Two workers sleep in a
    /// task; prints "ready" and their pids, then, after SIGINT, how the call ended
    /// ("cancelled CancellationError") and "done" once the pool has ended.
    static func cancelOnSIGINT(pidFile: String) async throws {
        try await ProcessPool.with(processes: 2) { pool in
            // The default action would end the program; the source below handles it instead.
            signal(SIGINT, SIG_IGN)
            let call = Task { try await pool.map(Occupy(file: pidFile), [.sleep, .sleep], chunksize: 1) }
            let source = DispatchSource.makeSignalSource(signal: SIGINT)
            source.setEventHandler { call.cancel() }
            source.resume()
            defer { source.cancel() }
            while lines(of: pidFile) < 2 { try await Task.sleep(for: .milliseconds(5)) }
            say("ready \(childPIDs().map(String.init).joined(separator: " "))")
            do {
                _ = try await call.value
                say("finished")
            } catch {
                say("cancelled \(type(of: error))")
            }
        }
        say("done")
    }

    /// Many small tasks with a worker killed every `killEvery` results. Prints one JSON line.
    static func soak(tasks: Int, killEvery: Int) async throws {
        // The Swift runtime and Dispatch open descriptors lazily (epoll, eventfd, timerfd);
        // a first pool's whole life makes sure they exist before the baseline is taken.
        let first = try ProcessPool(processes: 2)
        _ = try await first.map(Tagged(), Array(0..<100))
        first.close()
        try await first.join()
        let fdsBefore = settledDescriptors(atMost: nil)
        let descriptorsBefore = descriptorTargets()
        let childrenBefore = childPIDs().count
        let pool = try ProcessPool(processes: 2)
        // Warm up first, so that memory is compared in the pool's steady state.
        _ = try await pool.map(Tagged(), Array(0..<1000), chunksize: 1)
        let rssBefore = residentKiB()
        var ok = 0
        var wrong = 0
        var died = 0
        var otherFailures = 0
        var kills = 0
        var index = 0
        var lastPID: Int32 = 0
        for try await result in try pool.imap(Tagged(), 0..<tasks, chunksize: 1).results {
            switch result {
            case .success(let answer):
                if answer.value == index &* 31 &+ 7 { ok += 1 } else { wrong += 1 }
                lastPID = answer.pid
            case .failure(let error as PoolError) where error.code == .workerDied:
                died += 1
            case .failure:
                otherFailures += 1
            }
            index += 1
            if index % killEvery == 0 && lastPID > 0 {
                kill(lastPID, SIGKILL)
                kills += 1
            }
        }
        let rssAfterRun = residentKiB()
        pool.close()
        try await pool.join()
        let fdsAfter = settledDescriptors(atMost: fdsBefore)
        // What a leak is, when there is one (the test prints this line on failure).
        let extra = descriptorTargets().subtracting(descriptorsBefore).sorted().joined(separator: " ")
        let childrenAfter = childPIDs().count
        say(
            """
            {"tasks": \(tasks), "ok": \(ok), "wrong": \(wrong), "died": \(died), "otherFailures": \(otherFailures), \
            "kills": \(kills), "fdsBefore": \(fdsBefore), "fdsAfter": \(fdsAfter), "childrenBefore": \(childrenBefore), \
            "childrenAfter": \(childrenAfter), "rssBeforeKiB": \(rssBefore), "rssAfterKiB": \(rssAfterRun), \
            "zombies": \(zombieChildren()), "newDescriptors": "\(extra)"}
            """)
    }

    /// Repeats a worker-death scenario; on a stuck call prints the scheduler's state and exits 1.
    static func deathLoop(rounds: Int) async throws {
        let watch = DeathLoopWatch()
        for round in 0..<rounds {
            let pool = try ProcessPool(processes: 2)
            watch.set(round: round, pool: pool)
            do { _ = try await pool.map(Crash(victim: 5), Array(0..<10), chunksize: 1) } catch {}
            var count = 0
            for try await _ in try pool.imap(Crash(victim: 3), 0..<8).results { count += 1 }
            _ = try await pool.map(Tagged(), Array(0..<20))
            pool.close()
            try await pool.join()
        }
        say("ok")
    }

    /// Mixes crashes, time limits, cancellation, close and terminate at random moments; a round
    /// that does not end within 5 s prints the scheduler's state and exits 1.
    static func chaos(rounds: Int) async throws {
        let watch = DeathLoopWatch()
        var generator = SystemRandomNumberGenerator()
        for round in 0..<rounds {
            let pool = try ProcessPool(processes: 2, taskTimeout: .milliseconds(200), killGrace: .milliseconds(50))
            watch.set(round: round, pool: pool)
            let victim = Int.random(in: 0..<12, using: &generator)
            let a = try pool.mapAsync(Crash(victim: victim), Array(0..<12), chunksize: Int.random(in: 1...3, using: &generator))
            let b = Task { try await pool.map(Nap(slowOn: [3]), Array(0..<6), chunksize: 1) }
            let c = Task {
                var n = 0
                for try await _ in try pool.imap(Crash(victim: victim + 1), 0..<20).results { n += 1 }
                return n
            }
            if Bool.random(using: &generator) { b.cancel() }
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: pool.terminate()
            case 1: pool.close()
            default: break
            }
            _ = try? await a.get()
            _ = try? await b.value
            _ = try? await c.value
            if Bool.random(using: &generator) { pool.terminate() } else { pool.close() }
            try await pool.join()
        }
        say("ok")
    }

    /// One unbuffered line on standard output.
    static func say(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }

    static func lines(of path: String) -> Int {
        guard let file = fopen(path, "r") else { return 0 }
        defer { fclose(file) }
        var count = 0
        while true {
            let c = getc(file)
            if c == EOF { break }
            if c == 10 { count += 1 }
        }
        return count
    }

    /// Pids whose parent is this process, from /proc/*/stat.
    static func childPIDs(includingZombies: Bool = true) -> [Int32] {
        processes().filter { $0.parent == getpid() && (includingZombies || $0.state != "Z") }.map(\.pid)
    }

    static func zombieChildren() -> Int {
        processes().filter { $0.parent == getpid() && $0.state == "Z" }.count
    }

    static func processes() -> [(pid: Int32, parent: Int32, state: String)] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var result: [(Int32, Int32, String)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), let stat = read("/proc/\(pid)/stat"),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let parent = Int32(fields[1]) else { continue }
            result.append((pid, parent, String(fields[0])))
        }
        return result
    }

    /// "fd→target" for each open descriptor (e.g. "7→socket:[1234]").
    static func descriptorTargets() -> Set<String> {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        var targets: Set<String> = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard Int(name) != nil else { continue }
            var buffer = [CChar](repeating: 0, count: 256)
            let count = readlink("/proc/self/fd/" + name, &buffer, 255)
            let target = count > 0 ? String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
            targets.insert("\(name)→\(target)")
        }
        return targets
    }

    /// The descriptors open once the stderr relay has closed the pipes of workers that ended:
    /// it closes each at its end of file, on its own thread, so right after `join` one may still
    /// be open. Waits (at most 2 seconds) until the count is at most `bound`, or, without a
    /// bound, until it stops falling; a descriptor really left open still shows after that.
    static func settledDescriptors(atMost bound: Int?) -> Int {
        let deadline = ContinuousClock.now + .seconds(2)
        var count = openDescriptors()
        while ContinuousClock.now < deadline {
            if let bound, count <= bound { break }
            usleep(50_000)
            let next = openDescriptors()
            if bound == nil && next >= count { break }
            count = next
        }
        return count
    }

    static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        return count - 3  // ".", ".." and the descriptor of the listing itself
    }

    static func residentKiB() -> Int {
        guard let status = read("/proc/self/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return -1 }
        return Int(line.split(separator: " ")[1]) ?? -1
    }

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A plain thread that prints the pool's state and exits if a round takes over 5 s.
final class DeathLoopWatch: @unchecked Sendable {
    private let lock = Mutex<(round: Int, pool: ProcessPool?)>((-1, nil))

    init() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        pthread_create(
            &thread, nil,
            { raw in
                let watch = Unmanaged<DeathLoopWatch>.fromOpaque(raw!).takeRetainedValue()
                var last = -2
                while true {
                    sleep(5)
                    let (round, pool) = watch.lock.withLock { ($0.round, $0.pool) }
                    if round == last, let pool {
                        Probe.say("stuck in round \(round): \(String(reflecting: pool))")
                        exit(1)
                    }
                    last = round
                }
            }, box)
        pthread_detach(thread)
    }

    func set(round: Int, pool: ProcessPool) { lock.withLock { $0 = (round, pool) } }
}
