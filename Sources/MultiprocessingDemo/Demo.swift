import Logging
import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The seed tutorial's logger: `logging.basicConfig(level=logging.DEBUG, format='%(processName)s: %(message)s')`.
let logger = Logger(label: "seed")

/// `def worker1(i): logging.debug('start'); time.sleep(5); logging.debug('end'); return i`
struct Worker1: PoolTask {
    var seconds: Double

    func run(_ i: Int) async throws -> Int {
        logger.debug("start")
        try await Task.sleep(for: .seconds(seconds))
        logger.debug("end")
        return i
    }
}

@main
struct Demo {
    static let usage = """
        usage: multiprocessing-demo [map | map-async | imap | faults | progress] [--seconds S] [--show-timeout]
                                    [--show-iterator] [--items N] [--mpi]

        Runs the seed tutorial's programs with a pool of 3 worker processes; `faults` shows how the
        pool reports crashes, timeouts, cancellation and bad input; `progress` counts primes in N
        blocks of 50000 numbers with a progress bar (plain lines when stdout is not a terminal).
        With no program name, runs all three, each in a fresh process (as three Python scripts would).
          --seconds S        how long worker1 sleeps (default 5, as in the seed)
          --show-timeout     map-async: also show get(timeout: 1 s) expiring first
          --show-iterator    imap: also log the iterator object before iterating
          --items N          progress: how many blocks (default 200)
          --mpi              under mpiexec (built with the MPI trait): the pool's workers are the
                             other ranks' (mpiexec -n 3 multiprocessing-demo map --seconds 1 --mpi)
        """

    static func main() async throws {
        try Multiprocessing.bootstrap()
        var arguments = Array(CommandLine.arguments.dropFirst())
        var seconds = 5.0
        var showTimeout = false
        var showIterator = false
        var programs: [String] = []
        var onCluster = false
        var items = 200
        while !arguments.isEmpty {
            let argument = arguments.removeFirst()
            switch argument {
            case "--seconds":
                guard let value = arguments.first.flatMap(Double.init), value >= 0 else { fail("--seconds needs a number") }
                arguments.removeFirst()
                seconds = value
            case "--items":
                guard let value = arguments.first.flatMap(Int.init), value >= 0 else { fail("--items needs a count") }
                arguments.removeFirst()
                items = value
            case "--show-timeout": showTimeout = true
            case "--show-iterator": showIterator = true
            case "--mpi": onCluster = true
            case "-h", "--help":
                print(usage)
                return
            case "map", "map-async", "imap", "faults", "progress": programs.append(argument)
            default: fail("unknown argument \(argument)")
            }
        }
        if programs.isEmpty && !onCluster {
            for program in ["map", "map-async", "imap"] {
                FileDescriptorOutput.standardError.write("== \(program) ==\n")
                runSelf(
                    [program, "--seconds", String(seconds)]
                        + (showTimeout ? ["--show-timeout"] : []) + (showIterator ? ["--show-iterator"] : []))
            }
            return
        }
        // Before the cluster starts: each rank's workers log as the rank does.
        ProcessNameLogHandler.bootstrap(logLevel: .debug)
        if onCluster {
            #if MPI
            try MPICluster.bootstrap()
            #else
            fail("--mpi needs a build with the MPI trait: swift build --traits MPI")
            #endif
        } else if programs.isEmpty {
            fail("no program")
        }
        for program in programs {
            switch program {
            case "map": try await mapProgram(seconds: seconds, onCluster: onCluster)
            case "map-async": try await mapAsyncProgram(seconds: seconds, showTimeout: showTimeout, onCluster: onCluster)
            case "faults": try await FaultsProgram.run()
            case "progress": try await ProgressProgram.run(items: items, blockSize: 50_000)
            default: try await imapProgram(seconds: seconds, showIterator: showIterator, onCluster: onCluster)
            }
        }
    }

    /// `r = p.map(worker1, [100, 50])`: the caller waits for every result, in input order.
    static func mapProgram(seconds: Double, onCluster: Bool) async throws {
        try await withPool(onCluster: onCluster) { p in
            let r = try await p.map(Worker1(seconds: seconds), [100, 50])
            logger.debug("executed")
            logger.debug("\(r)")
        }
    }

    /// `r = p.map_async(worker1, [100, 50])`: the caller goes on while the workers work.
    static func mapAsyncProgram(seconds: Double, showTimeout: Bool, onCluster: Bool) async throws {
        try await withPool(onCluster: onCluster) { p in
            let r = try p.mapAsync(Worker1(seconds: seconds), [100, 50])
            logger.debug("executed")
            if showTimeout {
                do {
                    let early = try await r.get(timeout: .seconds(1))
                    logger.debug("\(early)")
                } catch let error as PoolError where error.code == .timeout {
                    logger.debug("get(timeout: 1 s) threw \(error)")
                }
            }
            let values = try await r.get()
            logger.debug("\(values)")
        }
    }

    /// `r = p.imap(worker1, [100, 50])`: lazy, ordered; each result as soon as it is ready.
    static func imapProgram(seconds: Double, showIterator: Bool, onCluster: Bool) async throws {
        try await withPool(onCluster: onCluster) { p in
            let r = try p.imap(Worker1(seconds: seconds), [100, 50])
            logger.debug("executed")
            if showIterator { logger.debug("\(r)") }
            for try await i in r {
                logger.debug("\(i)")
            }
        }
    }

    /// A pool of 3 workers, or across the MPI job's ranks with `--mpi`.
    static func withPool(onCluster: Bool, _ body: (ProcessPool) async throws -> Void) async throws {
        #if MPI
        if onCluster {
            try await ProcessPool.with(cluster: .mpi) { try await body($0) }
            return
        }
        #endif
        try await ProcessPool.with(processes: 3) { try await body($0) }
    }

    static func fail(_ message: String) -> Never {
        FileDescriptorOutput.standardError.write("multiprocessing-demo: \(message)\n\n\(usage)\n")
        exit(2)
    }

    /// Runs this binary again with `arguments` and waits for it.
    static func runSelf(_ arguments: [String]) {
        let argv = ([CommandLine.arguments[0]] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/proc/self/exe", nil, nil, argv, environ) == 0 else { fail("cannot run itself") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// Unbuffered writes to a descriptor.
struct FileDescriptorOutput {
    static let standardError = FileDescriptorOutput(descriptor: STDERR_FILENO)
    let descriptor: Int32

    func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = Glibc.write(descriptor, &bytes, bytes.count)
    }
}
