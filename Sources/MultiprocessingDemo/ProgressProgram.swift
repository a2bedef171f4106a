import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Counts the primes in block `i` of the integers (`size` numbers from `i × size`), by trial
/// division: real work whose cost grows with `i`.
struct CountPrimes: PoolTask {
    var size: Int

    func run(_ block: Int) async throws -> Int {
        var count = 0
        for n in max(2, block * size)..<((block + 1) * size) {
            var divisor = 2
            var prime = true
            while divisor * divisor <= n {
                if n % divisor == 0 {
                    prime = false
                    break
                }
                divisor += 1
            }
            if prime { count += 1 }
        }
        return count
    }
}

/// `multiprocessing-demo progress`: a `mapAsync` watched through its handle's `progress`, as
/// tqdm would show it. On a terminal the bar is one line, rewritten in place; otherwise (a
/// pipe, a log file) it is a plain line at each tenth of the items and one at the end.
enum ProgressProgram {
    static func run(items: Int, blockSize: Int) async throws {
        let interactive = isatty(STDOUT_FILENO) == 1
        try await ProcessPool.with(processes: 3) { pool in
            let handle = try pool.mapAsync(CountPrimes(size: blockSize), Array(0..<items), chunksize: 1)
            var lastTenth = -1
            for await p in handle.progress {
                if interactive {
                    write("\r" + bar(p) + "\u{1B}[K")
                } else {
                    // A line each time another tenth is done, and the last one.
                    let tenth = Int((p.fractionCompleted ?? 0) * 10)
                    guard tenth > lastTenth || p.isFinished else { continue }
                    lastTenth = tenth
                    write(p.description + "\n")
                }
            }
            if interactive { write("\n") }
            let counts = try await handle.get()
            write("\(counts.reduce(0, +)) primes below \(items * blockSize)\n")
        }
    }

    /// "[##########··········]  50% 100/200 items, 41.2 items/s, 2.4 s left"
    static func bar(_ p: CallProgress, width: Int = 30) -> String {
        let fraction = p.fractionCompleted ?? 0
        let filled = min(width, Int(fraction * Double(width)))
        let percent = String(Int(fraction * 100))
        return "[" + String(repeating: "#", count: filled) + String(repeating: "·", count: width - filled) + "] "
            + String(repeating: " ", count: max(0, 3 - percent.count)) + percent + "% " + p.description
    }

    /// Writes to standard output unbuffered, so that a line rewritten with `\r` shows at once.
    static func write(_ text: String) {
        FileDescriptorOutput(descriptor: STDOUT_FILENO).write(text)
    }
}
