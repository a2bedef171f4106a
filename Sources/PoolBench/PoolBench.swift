// pool-bench: our ProcessPool next to CPython's multiprocessing.Pool on the same machine, in the
// same run, alternating the two, with the raw socketpair floor beside them. It asserts nothing
// about speed; it prints medians. Build and run in release:
//
//     swift run -c release pool-bench [--quick] [--json] [--workload NAME]... [--rounds N]
//
// No Foundation on purpose: workers are fresh runs of this binary, and Foundation roughly doubles
// a worker's start-up.

import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@main
struct PoolBench {
    static func main() async {
        try? Multiprocessing.bootstrap()  // a pool worker never returns from here
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--floor-child" { floorChildMain(Array(arguments.dropFirst())) }
        if arguments.first == "--mpi-child" { await mpiChildMain(Array(arguments.dropFirst())) }
        if arguments.first == "--many-results-child" { await manyResultsChildMain(Array(arguments.dropFirst())) }
        signal(SIGPIPE, SIG_IGN)  // a floor child that dies must not kill the bench
        switch Options.parse(arguments) {
        case .help:
            emit(Options.usage)
        case .failure(let message):
            log("pool-bench: \(message)\n\n\(Options.usage)")
            exit(2)
        case .run(let options):
            await runBench(options)
        }
    }
}

// MARK: - Options

struct Options: Sendable {
    var quick = false
    var json = false
    var workloads: [String] = []
    var rounds: Int?
    var processes = 2
    var workerScheduling = ProcessPool.WorkerScheduling.inherit
    var pythonStartMethod = "spawn"
    var python = "python3"
    var pythonScript: String?
    var pythonTimeout = 120.0
    var skipPython = false
    var mpi = MPISettings()

    enum Parsed {
        case run(Options)
        case help
        case failure(String)
    }

    static let usage = """
        usage: pool-bench [--quick] [--json] [--workload NAME]... [--rounds N] [--processes N]
                          [--worker-scheduling inherit|batch]
                          [--python-start-method spawn|fork|forkserver] [--python PATH]
                          [--python-script PATH] [--python-timeout SECONDS] [--no-python]
                          [--mpi-ranks N] [--mpi-processes-per-rank N] [--mpiexec PATH]
                          [--mpi-python-script PATH] [--mpi-timeout SECONDS]

        Runs each workload with our ProcessPool and with CPython's multiprocessing.Pool
        (Benchmarks/python/pool_bench.py), alternating them for N rounds (default 5, --quick 3),
        and prints medians: a table, or with --json one JSON object per line.

        workloads: \(workloadNames.joined(separator: ", "))
          --quick                 smaller sizes, 3 rounds: under a minute in all
          --workload NAME         run only these (repeatable, or comma-separated; many-results
                                  names many-results-1m and many-results-10m)
          --processes N           workers per pool (default 2)
          --worker-scheduling     our pools' ProcessPool.WorkerScheduling: inherit (default) or batch
          --python-start-method   spawn (default), fork or forkserver
          --python-timeout S      kill a Python run after S seconds (default 120)
          --no-python             skip Python (its column is null)

        The mpi-* workloads (all of them: --workload mpi) run each round as two MPI jobs of the
        same size, ours (this binary, built with --traits MPI) and mpi4py.futures'
        (Benchmarks/python/mpi_pool_bench.py), under the launcher of the MPI this binary was built
        against. They run by default only in a build with the MPI trait.
          --mpi-ranks N           ranks per job (default 3): rank 0 calls, the others run tasks
          --mpi-processes-per-rank N
                                  workers of each of our serving ranks (default: the library's,
                                  the CPUs a rank may use); mpi4py's ranks are one process each
          --mpiexec PATH          the launcher (default mpiexec.openmpi or mpiexec.mpich)
          --mpi-python-script P   the mpi4py peer (default Benchmarks/python/mpi_pool_bench.py)
          --mpi-timeout S         end a job after S seconds (default 120)
        """

    static func parse(_ arguments: [String]) -> Parsed {
        var options = Options()
        var index = 0
        func value(_ flag: String) -> String? {
            guard index + 1 < arguments.count else { return nil }
            index += 1
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-h", "--help": return .help
            case "--quick": options.quick = true
            case "--json": options.json = true
            case "--no-python": options.skipPython = true
            case "--workload":
                guard let names = value(argument) else { return .failure("--workload needs a name") }
                for name in names.split(separator: ",").flatMap(expandedWorkloadNames) {
                    guard workloadNames.contains(name) else {
                        return .failure("unknown workload '\(name)' (known: \(workloadNames.joined(separator: ", ")))")
                    }
                    if !options.workloads.contains(name) { options.workloads.append(name) }
                }
            case "--rounds":
                guard let text = value(argument), let rounds = Int(text), rounds >= 1 else {
                    return .failure("--rounds needs a whole number of at least 1")
                }
                options.rounds = rounds
            case "--processes":
                guard let text = value(argument), let processes = Int(text), processes >= 1 else {
                    return .failure("--processes needs a whole number of at least 1")
                }
                options.processes = processes
            case "--worker-scheduling":
                switch value(argument) {
                case "inherit": options.workerScheduling = .inherit
                case "batch": options.workerScheduling = .batch
                default: return .failure("--worker-scheduling is inherit or batch")
                }
            case "--python-start-method":
                guard let method = value(argument), ["spawn", "fork", "forkserver"].contains(method) else {
                    return .failure("--python-start-method is spawn, fork or forkserver")
                }
                options.pythonStartMethod = method
            case "--python":
                guard let path = value(argument) else { return .failure("--python needs an interpreter") }
                options.python = path
            case "--python-script":
                guard let path = value(argument) else { return .failure("--python-script needs a path") }
                options.pythonScript = path
            case "--python-timeout":
                guard let text = value(argument), let seconds = Double(text), seconds > 0 else {
                    return .failure("--python-timeout needs a number of seconds")
                }
                options.pythonTimeout = seconds
            case "--mpi-ranks":
                guard let text = value(argument), let ranks = Int(text), ranks >= 2 else {
                    return .failure("--mpi-ranks needs a whole number of at least 2")
                }
                options.mpi.ranks = ranks
            case "--mpi-processes-per-rank":
                guard let text = value(argument), let processes = Int(text), processes >= 1 else {
                    return .failure("--mpi-processes-per-rank needs a whole number of at least 1")
                }
                options.mpi.processesPerRank = processes
            case "--mpiexec":
                guard let path = value(argument) else { return .failure("--mpiexec needs a launcher") }
                options.mpi.launcher = path
            case "--mpi-python-script":
                guard let path = value(argument) else { return .failure("--mpi-python-script needs a path") }
                options.mpi.pythonScript = path
            case "--mpi-timeout":
                guard let text = value(argument), let seconds = Double(text), seconds > 0 else {
                    return .failure("--mpi-timeout needs a number of seconds")
                }
                options.mpi.timeoutSeconds = seconds
            default:
                return .failure("unknown argument '\(argument)'")
            }
            index += 1
        }
        if options.workloads.isEmpty { options.workloads = defaultWorkloadNames }
        return .run(options)
    }
}

// MARK: - Workloads

struct Workload: Sendable {
    let name: String
    let unit: String
    let lowerIsBetter: Bool
    let ours: @Sendable (_ setup: PoolSetup, _ sizes: Sizes) async throws -> Measurement
    /// The raw socketpair figure measured in the same rounds, if this workload has one.
    let floor: (@Sendable (_ sizes: Sizes) throws -> Measurement)?
    /// The Python script's workload doing the same thing for a user (default: `name`).
    var pythonName: String? = nil
    /// Runs after the row's last round (ends a peer process kept across its rounds).
    var finish: (@Sendable () -> Void)? = nil
    /// Python's side when it is not the peer script's `pythonName` (the MPI workloads' mpi4py).
    var python: (@Sendable (_ options: Options, _ sizes: Sizes) -> Result<Measurement, BenchError>)? = nil
    /// Why the workload cannot run in this build (its row is null, with this as its note).
    var unavailable: String? = nil
    /// The floor when it needs the run's options (the MPI ping-pong, under the run's launcher).
    var mpiFloor: (@Sendable (_ options: Options, _ sizes: Sizes) throws -> Measurement)? = nil
}

/// The workloads of one machine: our pool next to CPython's.
let localWorkloads: [Workload] = [
    Workload(name: "startup", unit: "ms", lowerIsBetter: true, ours: oursStartup, floor: nil),
    Workload(
        name: "apply-latency", unit: "us", lowerIsBetter: true, ours: oursApplyLatency,
        floor: { sizes in try floorPingPong(count: sizes.floorPingPongs) }),
    Workload(
        name: "apply-executor", unit: "us", lowerIsBetter: true, ours: oursApplyLatencyOnPoolExecutor,
        floor: { sizes in try floorPingPong(count: sizes.floorPingPongs) }, pythonName: "apply-latency"),
    Workload(
        name: "apply-main-actor", unit: "us", lowerIsBetter: true, ours: oursApplyLatencyOnMainActor,
        floor: nil, pythonName: "apply-latency"),
    Workload(name: "map-chunk1", unit: "tasks/s", lowerIsBetter: false, ours: oursMapChunk1, floor: nil),
    Workload(
        name: "map-chunk1-parent-logs", unit: "tasks/s", lowerIsBetter: false, ours: oursMapChunk1ParentLogs, floor: nil,
        pythonName: "map-chunk1"),
    Workload(name: "map-default", unit: "tasks/s", lowerIsBetter: false, ours: oursMapDefault, floor: nil),
    Workload(name: "imap-stream", unit: "tasks/s", lowerIsBetter: false, ours: oursIMapStream, floor: nil),
    Workload(
        name: "imap-main-actor", unit: "tasks/s", lowerIsBetter: false, ours: oursIMapMainActor,
        floor: nil, pythonName: "imap-stream"),
    Workload(
        name: "payload", unit: "MB/s", lowerIsBetter: false, ours: oursPayload,
        floor: { sizes in try floorBulk(bytes: sizes.floorStreamBytes) }),
    Workload(
        name: "payload-data", unit: "MB/s", lowerIsBetter: false, ours: oursPayloadData, floor: nil,
        pythonName: "payload", finish: { DataPayloadPeer.shared.stop() }),
    Workload(name: "shared-payload", unit: "MB/s", lowerIsBetter: false, ours: oursSharedPayload, floor: nil),
    Workload(name: "cpu-bound", unit: "x", lowerIsBetter: false, ours: oursCPUBound, floor: nil),
]

let workloads = localWorkloads + manyResultsWorkloads + mpiWorkloads

let workloadNames = workloads.map(\.name) + ["floor"]

/// A `--workload` name as the workloads it stands for: `mpi` and `many-results` name groups.
func expandedWorkloadNames(_ name: Substring) -> [String] {
    switch name {
    case "mpi": mpiWorkloadNames
    case "many-results": manyResultsWorkloadNames
    default: [String(name)]
    }
}

/// What runs without `--workload`: everything, but the MPI workloads only where they can run.
let defaultWorkloadNames = workloadNames.filter { name in
    workloads.first(where: { $0.name == name })?.unavailable == nil
}

// MARK: - Running

/// One output row: every round's measurements of each contender.
struct Row {
    let name: String
    let unit: String
    let lowerIsBetter: Bool
    var ours: [Measurement] = []
    var python: [Measurement] = []
    var floor: [Measurement] = []
    var hasOurs = true
    var hasPython = true
    /// Said in the JSON line (`note`) and under the table.
    var note: String? = nil
    /// More members of the JSON line, as name and JSON text.
    var fields: [(name: String, json: String)] = []

    var oursMedian: Double? { median(ours.map(\.value)) }
    var pythonMedian: Double? { median(python.map(\.value)) }
    var floorMedian: Double? { median(floor.map(\.value)) }

    /// How many times better ours is than Python's (> 1: ours is better).
    var ratio: Double? {
        guard let ours = oursMedian, let python = pythonMedian, ours > 0, python > 0 else { return nil }
        return lowerIsBetter ? python / ours : ours / python
    }

    func detailMedian(_ side: [Measurement], _ name: String) -> Double? {
        median(side.compactMap { $0.detail(name) })
    }
}

nonisolated func runBench(_ options: Options) async {
    let benchStart = monotonicNanos()
    let sizes = Sizes(quick: options.quick)
    let rounds = options.rounds ?? (options.quick ? 3 : 5)
    let peer = PythonPeer(
        interpreter: options.python, script: options.pythonScript ?? PythonPeer.defaultScript(),
        startMethod: options.pythonStartMethod, processes: options.processes, quick: options.quick,
        timeoutSeconds: options.pythonTimeout)
    log(
        "pool-bench: \(options.quick ? "quick" : "full") run, \(rounds) rounds, \(options.processes) workers"
            + (options.workerScheduling == .batch ? " (worker scheduling batch)" : "") + "; "
            + (options.skipPython ? "python skipped" : "python: \(peer.interpreter) \(peer.script) (\(peer.startMethod))"))

    var rows: [Row] = []
    for name in options.workloads {
        let workloadStart = monotonicNanos()
        let produced: [Row]
        if name == "floor" {
            produced = runFloorRows(sizes: sizes, rounds: rounds)
        } else if let workload = workloads.first(where: { $0.name == name }) {
            produced = [await runRow(workload, options: options, sizes: sizes, rounds: rounds, peer: peer)]
        } else {
            continue
        }
        log("[\(name)] done in \(fixed(seconds(since: workloadStart), 1)) s")
        for row in produced {
            if options.json { emit(jsonLine(row, rounds: rounds, earlier: rows)) }
            rows.append(row)
        }
    }
    let total = seconds(since: benchStart)
    if !options.json {
        emit(table(rows, options: options, rounds: rounds))
        emit("total wall time: \(fixed(total, 1)) s")
    }
    log("pool-bench: total wall time \(fixed(total, 1)) s")
}

/// Alternates ours, Python's and the floor (if any), rotating who goes first each round.
nonisolated func runRow(
    _ workload: Workload, options: Options, sizes: Sizes, rounds: Int,
    peer: PythonPeer
) async -> Row {
    var row = Row(name: workload.name, unit: workload.unit, lowerIsBetter: workload.lowerIsBetter)
    row.hasPython = !options.skipPython
    if let reason = workload.unavailable {
        log("[\(workload.name)] not run: \(reason)")
        row.note = reason
        return row
    }
    enum Contender { case ours, python, floor }
    var contenders: [Contender] = [.ours]
    if !options.skipPython { contenders.append(.python) }
    if workload.floor != nil || workload.mpiFloor != nil { contenders.append(.floor) }
    var pythonFailures = 0

    for round in 0..<rounds {
        var order = contenders
        for _ in 0..<(round % order.count) { order.append(order.removeFirst()) }
        var said: [String] = []
        for contender in order {
            switch contender {
            case .ours:
                do {
                    let m = try await workload.ours(
                        PoolSetup(processes: options.processes, workerScheduling: options.workerScheduling, mpi: options.mpi), sizes)
                    row.ours.append(m)
                    said.append(
                        "ours \(readable(m.value))"
                            + (m.detail("main_over_nonisolated").map { " (main actor / nonisolated \(fixed($0, 2))x)" } ?? ""))
                } catch {
                    log("[\(workload.name)] ours failed: \(error)")
                    said.append("ours failed")
                }
            case .python:
                // Two failures in a row (missing interpreter, broken script) end Python's rounds.
                if pythonFailures >= 2 && row.python.isEmpty { continue }
                switch workload.python?(options, sizes) ?? peer.run(workload: workload.pythonName ?? workload.name) {
                case .success(let m):
                    row.python.append(m)
                    said.append("python \(readable(m.value))")
                case .failure(let error):
                    pythonFailures += 1
                    log("[\(workload.name)] python failed: \(error)")
                    said.append("python failed")
                }
            case .floor:
                do {
                    let m = try workload.mpiFloor.map { try $0(options, sizes) } ?? workload.floor!(sizes)
                    row.floor.append(m)
                    said.append("floor \(readable(m.value))")
                } catch {
                    log("[\(workload.name)] floor failed: \(error)")
                }
            }
        }
        log("[\(workload.name)] round \(round + 1)/\(rounds): \(said.joined(separator: ", ")) \(workload.unit)")
    }
    workload.finish?()
    if mpiWorkloadNames.contains(workload.name) { describeMPIRow(&row, options: options) }
    return row
}

/// The `floor` workload on its own: raw ping-pong and streaming, `rounds` times each.
nonisolated func runFloorRows(sizes: Sizes, rounds: Int) -> [Row] {
    var pingPong = Row(name: "floor-pingpong", unit: "us", lowerIsBetter: true, hasOurs: false, hasPython: false)
    var stream = Row(name: "floor-stream", unit: "MB/s", lowerIsBetter: false, hasOurs: false, hasPython: false)
    for round in 0..<rounds {
        do {
            let p = try floorPingPong(count: sizes.floorPingPongs)
            let s = try floorBulk(bytes: sizes.floorStreamBytes)
            pingPong.floor.append(p)
            stream.floor.append(s)
            log(
                "[floor] round \(round + 1)/\(rounds): ping-pong p50 \(readable(p.value)) us, "
                    + "stream \(readable(s.value)) MB/s")
        } catch {
            log("[floor] failed: \(error)")
        }
    }
    return [pingPong, stream]
}

// MARK: - Output

/// `row` as a JSON object; `earlier` are the rows already printed (payload-data's line gives its
/// ratio to payload's).
func jsonLine(_ row: Row, rounds: Int, earlier: [Row] = []) -> String {
    func list(_ values: [Measurement]) -> String {
        "[" + values.map { jsonNumber($0.value) }.joined(separator: ", ") + "]"
    }
    func details(_ side: [Measurement]) -> String {
        var names: [String] = []
        for m in side { for d in m.details where !names.contains(d.name) { names.append(d.name) } }
        let members = names.map { "\(jsonString($0)): \(jsonNumber(row.detailMedian(side, $0)))" }
        return "{" + members.joined(separator: ", ") + "}"
    }
    var fields = [
        "\"workload\": \(jsonString(row.name))",
        "\"ours\": \(jsonNumber(row.oursMedian))",
        "\"python\": \(jsonNumber(row.pythonMedian))",
        "\"unit\": \(jsonString(row.unit))",
        "\"ratio\": \(jsonNumber(row.ratio))",
        "\"floor\": \(jsonNumber(row.floorMedian))",
        "\"rounds\": \(rounds)",
    ]
    if row.name == "payload-data" {
        let payload = earlier.first(where: { $0.name == "payload" })?.oursMedian
        fields.append("\"vs_payload\": \(jsonNumber(row.oursMedian.flatMap { data in payload.map { data / $0 } }))")
    }
    if row.name == "shared-payload" {
        let payload = earlier.first(where: { $0.name == "payload" })
        let ours = row.oursMedian
        fields.append("\"vs_payload\": \(jsonNumber(ours.flatMap { shared in payload?.oursMedian.map { shared / $0 } }))")
        fields.append("\"vs_python_payload\": \(jsonNumber(ours.flatMap { shared in payload?.pythonMedian.map { shared / $0 } }))")
    }
    fields += row.fields.map { "\(jsonString($0.name)): \($0.json)" }
    if let note = row.note { fields.append("\"note\": \(jsonString(note))") }
    if row.hasOurs { fields += ["\"ours_rounds\": \(list(row.ours))", "\"ours_detail\": \(details(row.ours))"] }
    if row.hasPython { fields += ["\"python_rounds\": \(list(row.python))", "\"python_detail\": \(details(row.python))"] }
    if !row.floor.isEmpty { fields += ["\"floor_rounds\": \(list(row.floor))", "\"floor_detail\": \(details(row.floor))"] }
    return "{" + fields.joined(separator: ", ") + "}"
}

func table(_ rows: [Row], options: Options, rounds: Int) -> String {
    func cell(_ value: Double?, present: Bool = true) -> String {
        guard present else { return "—" }
        return value.map(grouped) ?? "null"
    }
    let header = ["workload", "ours", "python", "unit", "ratio (x better)", "floor"]
    var body: [[String]] = []
    for row in rows {
        body.append([
            row.name,
            cell(row.oursMedian, present: row.hasOurs),
            cell(row.pythonMedian, present: row.hasPython),
            row.unit,
            row.ratio.map { fixed($0, 2) + "x" } ?? "—",
            row.floor.isEmpty ? "—" : cell(row.floorMedian),
        ])
    }
    var widths = header.map(\.count)
    for line in body { for (i, text) in line.enumerated() { widths[i] = max(widths[i], text.count) } }
    func render(_ line: [String]) -> String {
        "| "
            + line.enumerated().map { i, text in padded(text, widths[i], right: i != 0 && i != 3) }
            .joined(separator: " | ") + " |"
    }
    var out: [String] = []
    out.append(
        "pool-bench: \(options.quick ? "quick" : "full"), medians of \(rounds) rounds, "
            + "\(options.processes) workers"
            + (options.workerScheduling == .batch ? " (worker scheduling batch)" : "")
            + ", python start method \(options.pythonStartMethod)")
    out.append(render(header))
    out.append(
        "|"
            + widths.enumerated().map { i, w in
                (i != 0 && i != 3) ? String(repeating: "-", count: w + 1) + ":" : String(repeating: "-", count: w + 2)
            }.joined(separator: "|") + "|")
    for line in body { out.append(render(line)) }
    out.append(
        "ratio = how many times better ours is than Python's (python/ours for ms and us, "
            + "ours/python for rates); floor = raw socketpair between two processes, same run.")
    out.append(contentsOf: notes(rows))
    return out.joined(separator: "\n")
}

/// The figures behind the headline numbers, one line per workload that has some.
func notes(_ rows: [Row]) -> [String] {
    var lines: [String] = []
    func value(_ row: Row, _ side: [Measurement], _ name: String, _ unit: String) -> String {
        row.detailMedian(side, name).map { readable($0) + unit } ?? "null"
    }
    for row in rows {
        switch row.name {
        case "apply-latency":
            lines.append(
                "- apply-latency mean: ours \(value(row, row.ours, "mean_us", " us")), "
                    + "python \(value(row, row.python, "mean_us", " us")), "
                    + "floor \(value(row, row.floor, "mean_us", " us")) (p50 in the table)")
        case "apply-executor":
            lines.append(
                "- apply-executor: the same apply loop run under withTaskExecutorPreference(pool.executor); "
                    + "mean ours \(value(row, row.ours, "mean_us", " us")), python's column is its plain apply")
        case "apply-main-actor":
            lines.append(
                "- apply-main-actor: the apply-latency loop called from the main actor, p50 "
                    + "\(value(row, row.ours, "p50_us", " us")), mean \(value(row, row.ours, "mean_us", " us")); "
                    + "the same loop nonisolated in the same rounds: p50 "
                    + "\(value(row, row.ours, "nonisolated_p50_us", " us")), mean "
                    + "\(value(row, row.ours, "nonisolated_mean_us", " us")); main actor / nonisolated "
                    + "\(value(row, row.ours, "main_over_nonisolated", "x")) (target 1.5x at most); "
                    + "python's column is its plain apply")
        case "imap-main-actor":
            lines.append(
                "- imap-main-actor: the imap-stream loop consumed on the main actor, "
                    + "\(value(row, row.ours, "seconds", " s")); the same loop nonisolated in the same rounds: "
                    + "\(value(row, row.ours, "nonisolated_seconds", " s")) "
                    + "(\(value(row, row.ours, "nonisolated_tasks_per_s", " tasks/s"))); main actor / nonisolated "
                    + "time \(value(row, row.ours, "main_over_nonisolated", "x")) (target 1.5x at most); "
                    + "python's column is its imap-stream")
        case "imap-stream":
            func memory(_ side: [Measurement]) -> String {
                "RSS \(value(row, side, "rss_before_mib", "")) -> \(value(row, side, "rss_after_mib", "")) MiB, "
                    + "peak \(value(row, side, "hwm_after_mib", "")) MiB "
                    + "(peak growth \(value(row, side, "peak_growth_mib", " MiB")))"
            }
            lines.append("- imap-stream parent memory, ours: \(memory(row.ours))")
            lines.append("  python: \(memory(row.python)) (compare growth: our parent also holds the Swift runtime)")
        case "payload":
            lines.append(
                "- payload floor: 64 KiB writes \(value(row, row.floor, "write_64KiB_MBps", " MB/s")), "
                    + "1 MiB writes \(value(row, row.floor, "write_1MiB_MBps", " MB/s")) (table: the better)")
        case "payload-data":
            // Against `payload` of the same run: Data should cost no more than [UInt8].
            let payload = rows.first(where: { $0.name == "payload" })?.oursMedian
            let share = row.oursMedian.flatMap { data in payload.map { fixed(data / $0, 2) + "x" } } ?? "null (run payload too)"
            lines.append(
                "- payload-data: ours \(row.oursMedian.map(readable) ?? "null") MB/s = \(share) payload's "
                    + "\(payload.map(readable) ?? "null") MB/s (same run); python's column is its bytes payload again")
        case "shared-payload":
            // Against `payload` of the same run: the copying map, ours and Python's.
            let payload = rows.first(where: { $0.name == "payload" })
            func share(_ other: Double?) -> String {
                row.oursMedian.flatMap { shared in other.map { fixed(shared / $0, 1) + "x" } } ?? "null (run payload too)"
            }
            lines.append(
                "- shared-payload: ours in place \(row.oursMedian.map(readable) ?? "null") MB/s = "
                    + "\(share(payload?.oursMedian)) our copying payload, \(share(payload?.pythonMedian)) python's copying payload "
                    + "(same run); python's column is SharedMemory + numpy in place")
        case "cpu-bound":
            lines.append(
                "- cpu-bound ours: serial \(value(row, row.ours, "serial_s", " s")), "
                    + "pool \(value(row, row.ours, "pool_s", " s")); in-process TaskGroup "
                    + "\(value(row, row.ours, "taskgroup_s", " s")) = "
                    + "\(value(row, row.ours, "taskgroup_speedup", "x")) speedup; "
                    + "python: serial \(value(row, row.python, "serial_s", " s")), "
                    + "pool \(value(row, row.python, "pool_s", " s")); "
                    + "count \(value(row, row.ours, "count", "")) (expected \(primesBelow30000))")
        case let name where mpiWorkloadNames.contains(name):
            lines += mpiNotes(row)
        case let name where manyResultsWorkloadNames.contains(name):
            func memory(_ side: [Measurement]) -> String {
                "peak growth \(value(row, side, "peak_growth_mib", " MiB")) for \(value(row, side, "results_mib", " MiB")) "
                    + "of results = \(value(row, side, "growth_over_results", "x"))"
            }
            lines.append("- \(name) parent memory, ours: \(memory(row.ours)); python: \(memory(row.python))")
        case "floor-stream":
            lines.append(
                "- floor-stream: 64 KiB writes \(value(row, row.floor, "write_64KiB_MBps", " MB/s")), "
                    + "1 MiB writes \(value(row, row.floor, "write_1MiB_MBps", " MB/s"))")
        default:
            break
        }
    }
    return lines
}
