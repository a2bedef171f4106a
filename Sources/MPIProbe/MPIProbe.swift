import Multiprocessing

#if canImport(Glibc)
import Glibc
#endif

// A program the MPI tests run under mpiexec: rank 0 makes a cluster pool and prints what the
// scenario named by the first argument saw; the other ranks serve. Built without the MPI trait
// it says so and exits 2.

struct Square: PoolTask {
    func run(_ x: Int) async throws -> Int { x * x }
}

/// Which process of which rank ran an item.
struct WhereAmI: PoolTask {
    func run(_ x: Int) async throws -> String { CurrentProcess.name }
}

/// Sleeps `seconds` on the inputs in `slowOn`.
struct Nap: PoolTask {
    var seconds: Double
    var slowOn: Set<Int>
    func run(_ x: Int) async throws -> Int {
        if slowOn.contains(x) { try await Task.sleep(for: .seconds(seconds)) }
        return x
    }
}

/// Ends its worker by `signal` on the input `victim`; with `wholeRank`, the serving rank
/// that runs it instead (a worker's parent is its rank's process).
struct Crash: PoolTask {
    var victim: Int
    var signal: Int32
    var wholeRank = false
    func run(_ x: Int) async throws -> Int {
        if x == victim {
            if wholeRank { kill(getppid(), signal) } else { raise(signal) }
            try await Task.sleep(for: .seconds(60))
        }
        return x
    }
}

/// Throws for odd inputs.
struct OddFails: PoolTask {
    struct Odd: Error, Codable { var value: Int }
    func run(_ x: Int) async throws -> Int {
        if x % 2 == 1 { throw Odd(value: x) }
        return x
    }
}

/// A result too large for a worker's answers pipe: it travels on the worker's socket.
struct LargeResult: PoolTask {
    var bytes: Int
    func run(_ x: Int) async throws -> [UInt8] { [UInt8](repeating: UInt8(truncatingIfNeeded: x), count: bytes) }
}

/// Adds its two arguments.
struct Add: PoolTask {
    func run(_ arguments: StarArguments<Int, Int>) async throws -> Int {
        let (a, b) = arguments.values
        return a + b
    }
}

@main
struct MPIProbe {
    static func main() async throws {
        try Multiprocessing.bootstrap()
        #if MPI
        try MPICluster.bootstrap()
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            try await run(arguments.first ?? "map", Array(arguments.dropFirst()))
        } catch {
            print("error: \(error)")
        }
        #else
        print("built without the MPI trait")
        exit(2)
        #endif
    }

    #if MPI
    static func run(_ scenario: String, _ arguments: [String]) async throws {
        switch scenario {
        case "map":
            try await ProcessPool.with(cluster: .mpi) { pool in
                let squares = try await pool.map(Square(), Array(0..<1000), chunksize: 7)
                print("map \(squares == (0..<1000).map { $0 * $0 }) processes \(pool.processes)")
                let names = Set(try await pool.map(WhereAmI(), Array(0..<40), chunksize: 1))
                print("workers \(names.sorted().joined(separator: " "))")
            }
        case "calls":
            try await everyCall()
        case "large-results":
            // Answers announced in the pipe and sent on the socket: a serving rank's transport
            // thread must leave them to the reader threads, never waiting for one itself.
            try await ProcessPool.with(cluster: .mpi) { pool in
                let bytes = 6 << 20
                let results = try await pool.map(LargeResult(bytes: bytes), Array(0..<12), chunksize: 1)
                let right = results.enumerated().allSatisfy { index, result in
                    result.count == bytes && result.allSatisfy { $0 == UInt8(index) }
                }
                print("large results \(right)")
                let squares = try await pool.map(Square(), Array(0..<200), chunksize: 3)
                print("next call \(squares == (0..<200).map { $0 * $0 })")
            }
        case "shared":
            try await SharedArrayScenarios.run()
        case "shared-speed":
            try await SharedArrayScenarios.speed()
        case "faults":
            try await faults()
        case "kill-rank":
            // A serving rank dies mid-map: under the launcher's default the job ends; with
            // `survive`, that rank's items fail and the pool goes on with the others.
            let survive = arguments.first == "survive"
            try await ProcessPool.with(cluster: .mpi(rankLoss: survive ? .failItsItems : .endJob)) { pool in
                _ = try await pool.map(Square(), Array(0..<8))
                print("started")
                let started = ContinuousClock.now
                let results = try pool.imap(Crash(victim: 5, signal: SIGKILL, wholeRank: true), Array(0..<40), chunksize: 1).results
                var failed: [String] = []
                for try await result in results {
                    if case .failure(let error) = result { failed.append("\(error)") }
                }
                print("call ended after \(ContinuousClock.now - started), \(failed.count) failed: \(failed.first ?? "")")
                let after = try await pool.map(Square(), Array(0..<100))
                print("next call \(after == (0..<100).map { $0 * $0 })")
            }
        case "kill-rank-zero":
            try await ProcessPool.with(cluster: .mpi) { pool in
                _ = try await pool.map(Square(), Array(0..<8))
                let busy = try pool.mapAsync(Nap(seconds: 30, slowOn: Set(0..<4)), Array(0..<4), chunksize: 1)
                // Every serving worker holds an item: they must all go with rank 0.
                try await Task.sleep(for: .milliseconds(500))
                print("killing rank 0")
                raise(SIGKILL)
                _ = try await busy.get()
            }
        case "latency":
            // Sequential apply round trips: the transport's latency, for diagnosis.
            try await ProcessPool.with(cluster: .mpi) { pool in
                for i in 0..<200 { _ = try await pool.apply(Square(), i) }
                var samples: [Duration] = []
                for i in 0..<2000 {
                    let started = ContinuousClock.now
                    _ = try await pool.apply(Square(), i)
                    samples.append(ContinuousClock.now - started)
                }
                samples.sort()
                print("apply p50 \(samples[samples.count / 2]) p90 \(samples[samples.count * 9 / 10])")
            }
        case "idle":
            // The serving ranks wait for work: they must not burn a core meanwhile.
            try await ProcessPool.with(cluster: .mpi) { pool in
                _ = try await pool.map(Square(), Array(0..<100))
                try await Task.sleep(for: .milliseconds(500))
                let before = servingRanksCPU()
                let started = ContinuousClock.now
                try await Task.sleep(for: .seconds(2))
                let after = servingRanksCPU()
                let elapsed = (ContinuousClock.now - started).components
                let wall = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
                let busiest =
                    after.map { pid, ticks in Double(ticks - (before[pid] ?? ticks)) / Double(sysconf(Int32(_SC_CLK_TCK))) / wall }.max()
                    ?? -1
                print("idle ranks \(after.count), busiest used \(Int(busiest * 100))% of a CPU")
            }
        default:
            if try await HostScenarios.run(scenario) { return }
            print("unknown scenario \(scenario)")
        }
    }

    /// Every call of the API once over the cluster, each result checked.
    static func everyCall() async throws {
        try await ProcessPool.with(cluster: .mpi) { pool in
            let items = Array(0..<200)
            let squares = items.map { $0 * $0 }
            print("map \(try await pool.map(Square(), items) == squares)")
            let job = try pool.mapAsync(Square(), items, chunksize: 3, onSuccess: { _ in print("mapAsync callback") })
            print("mapAsync \(try await job.get() == squares)")
            var ordered: [Int] = []
            for try await square in try pool.imap(Square(), items, chunksize: 5) { ordered.append(square) }
            print("imap \(ordered == squares)")
            var unordered: [Int] = []
            for try await square in try pool.imapUnordered(Square(), items) { unordered.append(square) }
            print("imapUnordered \(unordered.sorted() == squares)")
            print("apply \(try await pool.apply(Square(), 12) == 144)")
            let one = try pool.applyAsync(Square(), 13)
            print("applyAsync \(try await one.get() == 169)")
            print("starmap \(try await pool.starmap(Add(), [(1, 2), (3, 4)]) == [3, 7])")
            do {
                _ = try await pool.map(OddFails(), [0, 2, 3, 4])
                print("error missing")
            } catch let error as OddFails.Odd {
                print("task error \(error.value)")
            }
            let slow = try pool.applyAsync(Nap(seconds: 1, slowOn: [1]), 1)
            do {
                _ = try await slow.get(timeout: .milliseconds(100))
                print("get(timeout:) returned")
            } catch let error as PoolError where error.code == .timeout {
                print("get(timeout:) timeout")
            }
            print("after the wait \(try await slow.get() == 1)")
        }
    }

    /// A crash, a time limit and a cancelled call inside the ranks: each fails alone, named.
    static func faults() async throws {
        try await ProcessPool.with(cluster: .mpi) { pool in
            var outcomes: [String] = []
            for try await result in try pool.imap(Crash(victim: 3, signal: SIGSEGV), Array(0..<8), chunksize: 1).results {
                if case .failure(let error) = result { outcomes.append("\(error)") } else { outcomes.append("ok") }
            }
            print("crash \(outcomes.filter { $0 == "ok" }.count) ok, failed: \(outcomes.first { $0 != "ok" } ?? "none")")
            do {
                _ = try await pool.map(Nap(seconds: 30, slowOn: [2]), Array(0..<4), chunksize: 1, timeout: .milliseconds(500))
                print("time limit missed")
            } catch {
                print("time limit: \(error)")
            }
            let started = ContinuousClock.now
            let call = Task { try await pool.map(Nap(seconds: 30, slowOn: Set(0..<6)), Array(0..<6), chunksize: 1) }
            try await Task.sleep(for: .milliseconds(300))
            call.cancel()
            do {
                _ = try await call.value
                print("cancel missed")
            } catch {
                print("cancelled: \(type(of: error)) after \(ContinuousClock.now - started < .seconds(10) ? "less" : "more") than 10 s")
            }
            print("next call \(try await pool.map(Square(), Array(0..<50)) == (0..<50).map { $0 * $0 })")
        }
    }
    #endif

    /// CPU ticks (user + system) of every other process of this program on this host that is
    /// not a pool worker: the serving ranks.
    static func servingRanksCPU() -> [pid_t: Int] {
        var result: [pid_t: Int] = [:]
        guard let directory = opendir("/proc") else { return result }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), pid != getpid(), let stat = readFile("/proc/\(pid)/stat"),
                let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
            else { continue }
            guard stat[stat.index(after: open)..<close] == "MPIProbe", executable(of: pid) == executable(of: getpid()) else { continue }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
            guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { continue }
            result[pid] = user + system
        }
        return result
    }

    static func executable(of pid: pid_t) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
        return count > 0 ? String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }

    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
    }
}
