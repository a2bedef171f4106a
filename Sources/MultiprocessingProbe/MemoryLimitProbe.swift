import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// `maxMemoryPerChild` with a task that leaks: a process of its own, so that its children are
// the pool's workers and nothing else.

/// Leaks `megabytes` MiB, touched, so that its worker's resident memory grows by as much; returns
/// its input squared and its worker's pid.
struct Leak: PoolTask {
    struct Answer: Codable, Sendable {
        var square: Int
        var pid: Int32
    }
    var megabytes: Int
    func run(_ x: Int) async throws -> Answer {
        let bytes = megabytes << 20
        // Never freed: the leak is what the test is about.
        if let block = malloc(bytes) { memset(block, 1, bytes) }
        return Answer(square: x * x, pid: getpid())
    }
}

extension Probe {
    /// Two workers under a 64 MiB limit run 16 items that leak 20 MiB each, one per chunk;
    /// counts this process's children at every result. Prints "memory WRONG PIDS MAXCHILDREN".
    static func memoryLimit() async throws {
        var configuration = ProcessPool.Configuration(processes: 2)
        configuration.maxMemoryPerChild = 64 << 20
        var wrong = 0
        var pids: Set<Int32> = []
        var maxChildren = 0
        try await ProcessPool.with(configuration) { pool in
            var index = 0
            for try await answer in try pool.imap(Leak(megabytes: 20), 0..<16, chunksize: 1) {
                if answer.square != index * index { wrong += 1 }
                pids.insert(answer.pid)
                maxChildren = max(maxChildren, childPIDs().count)
                index += 1
            }
            if index != 16 { wrong += 16 - index }
        }
        say("memory \(wrong) \(pids.count) \(maxChildren)")
    }
}
