import Logging
import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Dies in the way it is told on the item `victim`, after logging it (on the worker's standard
/// error, which the item's error ends with); returns the other items.
struct Crash: PoolTask {
    enum Way: Codable, Sendable { case segfault, trap, exit, none }
    var victim: Int
    var way: Way

    func run(_ i: Int) async throws -> Int {
        guard i == victim else { return i }
        if way != .none { logger.warning("item \(i): about to die (\(way))") }
        switch way {
        case .segfault: raise(SIGSEGV)
        case .trap: fatalError("worker trapped on item \(i)")
        case .exit: exit(3)
        case .none: break
        }
        return i
    }
}

/// Sleeps `seconds` in the worker.
struct Nap: PoolTask {
    func run(_ seconds: Double) async throws -> Double {
        try await Task.sleep(for: .seconds(seconds))
        return seconds
    }
}

/// An initializer that refuses to start its worker.
struct BrokenInitializer: PoolInitializer {
    struct DatabaseUnreachable: Error, CustomStringConvertible {
        var description: String { "cannot reach db.example:5432" }
    }
    func run() async throws { throw DatabaseUnreachable() }
}

/// Returns a buffer of `count` bytes.
struct Blob: PoolTask {
    func run(_ count: Int) async throws -> [UInt8] { [UInt8](repeating: 0, count: count) }
}

private struct LocalSecret: PoolTask {
    func run(_ i: Int) async throws -> Int { i }
}

/// `multiprocessing-demo faults`: each fault, what the pool reports, and what Python's Pool does.
enum FaultsProgram {
    static func run() async throws {
        try await ProcessPool.with(processes: 2) { pool in
            for way in [Crash.Way.segfault, .trap, .exit] {
                logger.info("-- a worker dies mid-task (\(way)); Python's Pool.map would hang forever")
                let started = ContinuousClock.now
                var line: [String] = []
                for try await result in try pool.imap(Crash(victim: 3, way: way), 0..<8).results {
                    switch result {
                    case .success(let value): line.append("\(value)")
                    case .failure(let error):
                        line.append("✗")
                        logger.info("item failed: \(error)")
                    }
                }
                logger.info("results: [\(line.joined(separator: ", "))] after \(started.duration(to: .now))")
            }

            logger.info("-- an item over its time limit (0.5 s); Python has no per-task timeout")
            do {
                _ = try await pool.apply(Nap(), 30, timeout: .milliseconds(500))
            } catch {
                logger.info("\(error)")
            }

            logger.info("-- cancelling the Swift task that awaits map; Python cannot cancel map")
            let call = Task { try await pool.map(Nap(), [30, 30, 30]) }
            try await Task.sleep(for: .milliseconds(200))
            call.cancel()
            do {
                _ = try await call.value
            } catch {
                let after = try await pool.map(Crash(victim: -1, way: .none), [1, 2, 3])
                logger.info("map threw \(type(of: error)); the pool goes on: \(after)")
            }

            logger.info("-- a task type the workers cannot find by name (private)")
            do {
                _ = try await pool.apply(LocalSecret(), 1)
            } catch {
                logger.info("\(error)")
            }
        }

        logger.info("-- a result over maxMessageBytes (64 KiB)")
        let small = try ProcessPool(processes: 1, maxMessageBytes: 64 * 1024)
        do {
            _ = try await small.apply(Blob(), 1 << 20)
        } catch {
            logger.info("\(error)")
        }
        logger.info("-- terminate() with work pending; Python leaves the results pending forever")
        let pending = try small.mapAsync(Nap(), [30, 30])
        small.terminate()
        do {
            _ = try await pending.get()
        } catch {
            logger.info("\(error)")
        }
        try await small.join()

        logger.info("-- an initializer that throws; Python respawns workers forever")
        let broken = try ProcessPool(processes: 2, initializer: BrokenInitializer())
        do {
            _ = try await broken.map(Nap(), [0, 0])
        } catch {
            logger.info("\(error)")
        }
        try await broken.join()
    }
}
