// The MPI workloads, the parent's side: each round is two MPI jobs of the same size under the
// same launcher, ours (this binary with `--mpi-child`, see MPIChild.swift) and mpi4py.futures'
// (Benchmarks/python/mpi_pool_bench.py under `python3 -m mpi4py.futures`), alternated as the
// other workloads alternate their contenders. Rank 0 of each job times the workload and prints
// one JSON line, which comes back through the launcher's standard output. Nothing here needs
// MPI: without the MPI trait the rows are null, with a note.

import Multiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the MPI workloads start their jobs.
struct MPISettings: Sendable {
    /// Ranks per job, ours and mpi4py's alike: rank 0 calls, the others run the tasks.
    var ranks = 3
    /// Workers of each of our serving ranks' pools; nil: the library's default.
    var processesPerRank: Int?
    /// The launcher, instead of the one of the MPI this binary was built against.
    var launcher: String?
    /// The mpi4py peer script, instead of Benchmarks/python/mpi_pool_bench.py.
    var pythonScript: String?
    /// A job still running after this long is ended.
    var timeoutSeconds = 120.0
}

extension Sizes {
    /// Fewer round trips than `apply-latency`'s: mpi4py's take milliseconds each.
    var mpiApplyCalls: Int { quick ? 500 : 2_000 }
    var mpiMapItems: Int { quick ? 4_000 : 20_000 }
}

/// Each MPI workload, its unit, and the ratio (times better than mpi4py) it is meant to reach.
let mpiWorkloadSpecs: [(name: String, unit: String, lowerIsBetter: Bool, target: Double)] = [
    ("mpi-apply", "us", true, 40),
    ("mpi-map-chunk1", "tasks/s", false, 40),
    ("mpi-map-64", "tasks/s", false, 8),
    ("mpi-startup", "ms", true, 1),
]

let mpiWorkloadNames = mpiWorkloadSpecs.map(\.name)

let mpiWorkloads: [Workload] = mpiWorkloadSpecs.map { spec -> Workload in
    var workload = Workload(
        name: spec.name, unit: spec.unit, lowerIsBetter: spec.lowerIsBetter,
        ours: { setup, sizes in try oursMPIJob(spec.name, settings: setup.mpi, quick: sizes.quick) },
        floor: nil,
        python: { options, sizes in mpi4pyJob(spec.name, options: options, quick: sizes.quick) },
        unavailable: mpiUnavailable)
    if spec.name == "mpi-apply" {
        workload.mpiFloor = { options, sizes in try mpiPingPongFloor(options: options, quick: sizes.quick) }
    }
    return workload
}

/// Why this build cannot run the MPI workloads, if it cannot.
let mpiUnavailable: String? = {
    #if MPI
    return nil
    #else
    return "built without the MPI trait (swift build -c release --traits MPI --product pool-bench)"
    #endif
}()

/// The MPI this binary was built against ("Open MPI", "MPICH"), nil without the trait.
let mpiImplementation: String? = {
    #if MPI
    return MPICluster.implementation
    #else
    return nil
    #endif
}()

/// The launcher command for a job of `settings.ranks`, without the program: the one of the MPI
/// this binary was built against, oversubscribed under Open MPI (which otherwise refuses more
/// ranks than cores; MPICH's launcher does not check).
func mpiLauncher(_ settings: MPISettings) -> [String] {
    let openMPI = mpiImplementation != "MPICH"
    let path = settings.launcher ?? (openMPI ? "mpiexec.openmpi" : "mpiexec.mpich")
    return [path] + (openMPI ? ["--oversubscribe"] : []) + ["-n", String(settings.ranks)]
}

/// This process's environment, plus what Open MPI needs to run as root (as in a container),
/// plus the MPI library mpi4py is to load: its wheel loads `libmpi.so`, which Debian points at
/// whichever MPI is selected when the job runs, not the one this binary was built against, and
/// under the other one's launcher every rank would be a job of its own.
func mpiEnvironment() -> [String] {
    var result: [String] = []
    var cursor = environ
    while let entry = cursor.pointee {
        result.append(String(cString: entry))
        cursor += 1
    }
    result += ["OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"]
    if !result.contains(where: { $0.hasPrefix("MPI4PY_LIBMPI=") }) {
        result.append("MPI4PY_LIBMPI=" + (mpiImplementation == "MPICH" ? "libmpich.so.12" : "libmpi.so.40"))
    }
    return result
}

/// Runs `program` under the launcher, telling it (`--launched-at`) the CLOCK_MONOTONIC reading
/// taken just before the launcher starts, so that rank 0 can time start-up from there with the
/// same clock; returns the measurement rank 0 printed.
func runMPIJob(_ program: [String], settings: MPISettings, peer: String) -> Result<Measurement, BenchError> {
    let launcher = mpiLauncher(settings)
    let launchedAt = monotonicNanos()
    let arguments = launcher + program + ["--launched-at", String(launchedAt)]
    switch runProcess(arguments, timeoutSeconds: settings.timeoutSeconds, environment: mpiEnvironment(), terminateFirst: true) {
    case .failure(let error): return .failure(error)
    case .success(let output):
        // Start-up's other end: the whole job, to the launcher's exit.
        let jobSeconds = seconds(since: launchedAt)
        return measurement(printedBy: output, peer: peer).map { m in
            var m = m
            m.details.append(.init(name: "job_s", value: jobSeconds))
            return m
        }
    }
}

/// One round of ours: this binary under the launcher, `--mpi-child WORKLOAD` on every rank.
func oursMPIJob(_ workload: String, settings: MPISettings, quick: Bool) throws -> Measurement {
    if let reason = mpiUnavailable { throw BenchError(reason) }
    var program = [ownExecutable(), "--mpi-child", workload]
    if quick { program.append("--quick") }
    if let processes = settings.processesPerRank { program += ["--processes-per-rank", String(processes)] }
    return try runMPIJob(program, settings: settings, peer: "our MPI job").get()
}

/// One round of mpi4py's: the peer script under `python3 -m mpi4py.futures`, same launcher and
/// ranks; fails with a clear reason if mpi4py is missing.
func mpi4pyJob(_ workload: String, options: Options, quick: Bool) -> Result<Measurement, BenchError> {
    let script = options.mpi.pythonScript ?? mpiPythonScript()
    guard fileIsReadable(script) else { return .failure(BenchError("mpi4py script not found at \(script)")) }
    if case .failure(let error) = MPI4PyCheck.shared.status(python: options.python, script: script) {
        return .failure(error)
    }
    var program = [options.python, "-m", "mpi4py.futures", script, "--workload", workload]
    if quick { program.append("--quick") }
    return runMPIJob(program, settings: options.mpi, peer: "mpi4py")
}

/// `mpi-apply`'s floor: 8-byte MPI_Send/MPI_Recv round trips between ranks 0 and 1 of a job of
/// the same size under the same launcher (mpi4py, without its futures), p50 in microseconds;
/// its `relay_p50_us` detail, the same round trips through a child process of rank 1's.
func mpiPingPongFloor(options: Options, quick: Bool) throws -> Measurement {
    let script = options.mpi.pythonScript ?? mpiPythonScript()
    try MPI4PyCheck.shared.status(python: options.python, script: script).map { _ in () }.get()
    var program = [options.python, script, "--floor-pingpong"]
    if quick { program.append("--quick") }
    return try runMPIJob(program, settings: options.mpi, peer: "the MPI ping-pong floor").get()
}

/// Whether mpi4py is there for a Python, asked once per run (`mpi_pool_bench.py --check`):
/// without it every rank would fail to start with an error that names no remedy.
final class MPI4PyCheck: Sendable {
    static let shared = MPI4PyCheck()
    private let known = Mutex<[String: Result<String, BenchError>]>([:])

    /// "mpi4py 4.1.0 on Open MPI v4.1.4 ...", or why mpi4py cannot run.
    func status(python: String, script: String) -> Result<String, BenchError> {
        if let status = known.withLock({ $0[python] }) { return status }
        let status = Self.ask(python: python, script: script)
        known.withLock { $0[python] = status }
        return status
    }

    /// What has been learned so far about `python`, without asking.
    func known(python: String) -> Result<String, BenchError>? { known.withLock { $0[python] } }

    private static func ask(python: String, script: String) -> Result<String, BenchError> {
        switch runProcess([python, script, "--check"], timeoutSeconds: 60, environment: mpiEnvironment()) {
        case .failure(let error):
            return .failure(BenchError("mpi4py not checked: \(error)"))
        case .success(let output):
            let said = String(decoding: output.stderr, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            guard output.exitStatus == 0 else {
                return .failure(BenchError(said.isEmpty ? "\(python) cannot run mpi4py (status \(output.exitStatus))" : said))
            }
            let line = String(decoding: output.stdout, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            guard let json = try? JSONValue.parse(line), case .string(let version)? = json["mpi4py"] else {
                return .failure(BenchError("\(script) --check printed no version: \(line) \(said)"))
            }
            if case .string(let library)? = json["mpi"] {
                // "Open MPI v4.1.4, package: ...": the name and version are enough.
                let short = library.split(separator: ",").first.map(String.init) ?? library
                return .success("mpi4py \(version) on \(short)")
            }
            return .success("mpi4py \(version)")
        }
    }
}

/// Benchmarks/python/mpi_pool_bench.py beside pool_bench.py.
func mpiPythonScript() -> String {
    let script = PythonPeer.defaultScript()
    guard let slash = script.lastIndex(of: "/") else { return "mpi_pool_bench.py" }
    return String(script[...slash]) + "mpi_pool_bench.py"
}

/// The path of this program, for the launcher to start on every rank.
func ownExecutable() -> String {
    var path = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &path, Int(PATH_MAX))
    guard length > 0 else { return CommandLine.arguments[0] }
    return String(decoding: path[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: - Output

/// The JSON members and note of an MPI row: the jobs' size and launcher, and how many processes
/// ran tasks on each side.
func describeMPIRow(_ row: inout Row, options: Options) {
    let launcher = mpiLauncher(options.mpi).joined(separator: " ")
    let oursProcesses = row.detailMedian(row.ours, "task_processes")
    let pythonProcesses = row.detailMedian(row.python, "task_processes")
    row.fields += [
        ("ranks", String(options.mpi.ranks)),
        ("mpi", mpiImplementation.map(jsonString) ?? "null"),
        ("launcher", jsonString(launcher)),
        ("ours_task_processes", jsonNumber(oursProcesses)),
        (
            "ours_processes_per_rank",
            jsonNumber(options.mpi.processesPerRank.map(Double.init) ?? oursProcesses.map { $0 / Double(options.mpi.ranks - 1) })
        ),
        ("python_task_processes", jsonNumber(pythonProcesses)),
    ]
    if let relayFloor = row.detailMedian(row.floor, "relay_p50_us") {
        // The least a round trip through a worker process can take here, and the ratio to
        // mpi4py's that a round trip at it would print.
        row.fields += [
            ("relay_floor", jsonNumber(relayFloor)),
            ("ratio_at_relay_floor", jsonNumber(row.pythonMedian.map { $0 / relayFloor })),
        ]
    }
    func count(_ value: Double?) -> String { value.map { String(Int($0.rounded())) } ?? "null" }
    var said = ["\(options.mpi.ranks) ranks under \(launcher)"]
    let serving = options.mpi.ranks - 1
    if let oursProcesses {
        let each = options.mpi.processesPerRank.map(String.init) ?? "\(count(oursProcesses / Double(serving))) (the library's default)"
        said.append("ours: \(count(oursProcesses)) task processes (\(serving) serving ranks x \(each))")
    }
    if !row.hasPython {
        said.append("mpi4py skipped")
    } else if let status = MPI4PyCheck.shared.known(python: options.python) {
        switch status {
        case .success(let version):
            said.append(
                "\(version), MPIPoolExecutor: \(count(pythonProcesses)) task processes (its worker ranks)")
        case .failure(let error):
            said.append("python null: \(error)")
        }
    }
    row.note = said.joined(separator: "; ")
}

/// The lines under the table for an MPI row.
func mpiNotes(_ row: Row) -> [String] {
    func value(_ side: [Measurement], _ name: String, _ unit: String) -> String {
        row.detailMedian(side, name).map { readable($0) + unit } ?? "null"
    }
    let target = mpiWorkloadSpecs.first(where: { $0.name == row.name }).map { "\(Int($0.target))x" } ?? "?"
    var lines = ["- \(row.name): \(row.note ?? "")"]
    guard !row.ours.isEmpty || !row.python.isEmpty else { return lines }
    switch row.name {
    case "mpi-apply":
        lines.append(
            "  round trip p50 in the table (target ratio \(target)); mean: ours \(value(row.ours, "mean_us", " us")), "
                + "mpi4py \(value(row.python, "mean_us", " us")); floor: raw MPI ping-pong of 8 bytes between ranks 0 "
                + "and 1 (mpi4py Send/Recv, same launcher and ranks), p50 \(value(row.floor, "p50_us", " us")), mean "
                + "\(value(row.floor, "mean_us", " us"))")
    case "mpi-map-chunk1", "mpi-map-64":
        lines.append(
            "  per task: ours \(value(row.ours, "us_per_task", " us")), mpi4py \(value(row.python, "us_per_task", " us")) "
                + "(target ratio \(target))")
    case "mpi-startup":
        lines.append(
            "  launcher start to first result on rank 0 (target ratio \(target): not slower); ours: main entered "
                + "\(value(row.ours, "main_ms", " ms")), MPI up \(value(row.ours, "bootstrap_ms", " ms")), "
                + "pool up \(value(row.ours, "pool_ms", " ms")); mpi4py: script started "
                + "\(value(row.python, "script_start_ms", " ms")); whole job to the launcher's exit: ours "
                + "\(value(row.ours, "job_s", " s")), mpi4py \(value(row.python, "job_s", " s"))")
    default:
        break
    }
    return lines
}
