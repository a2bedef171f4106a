// pool-bench-data: pool-bench's `payload-data` workload, its `payload` map with Foundation `Data`
// buffers instead of `[UInt8]`. It is a program of its own because it imports Foundation:
// pool-bench does not, so that its workers start as fast as those of a program without
// Foundation (its `startup` workload measures that). It prints one JSON line per round, as the
// Python peer does; with `--serve`, pool-bench keeps it running across a row's rounds and asks
// for each with a line "run" on its input (it exits at the end of its input).
//
//     pool-bench-data [--serve] --buffers 64 --bytes 1048576 --processes 2 --worker-scheduling inherit

import Foundation
import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// CLOCK_MONOTONIC in nanoseconds, as pool-bench times its own workloads.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// `identity` on a byte buffer, as `Data`.
struct EchoData: PoolTask {
    func run(_ buffer: Data) async throws -> Data { buffer }
}

/// The identity on an Int, for the warm-up pool-bench also does.
struct Identity: PoolTask {
    func run(_ x: Int) async throws -> Int { x }
}

struct Arguments {
    var buffers = 64
    var bytes = 1 << 20
    var processes = 2
    var workerScheduling = ProcessPool.WorkerScheduling.inherit
    var serve = false

    init(_ arguments: [String]) throws {
        var index = 0
        func number(_ flag: String) throws -> Int {
            index += 1
            guard index < arguments.count, let value = Int(arguments[index]), value >= 1 else {
                throw BenchDataError("\(flag) needs a whole number of at least 1")
            }
            return value
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--buffers": buffers = try number("--buffers")
            case "--bytes": bytes = try number("--bytes")
            case "--processes": processes = try number("--processes")
            case "--serve": serve = true
            case "--worker-scheduling":
                index += 1
                switch index < arguments.count ? arguments[index] : "" {
                case "inherit": workerScheduling = .inherit
                case "batch": workerScheduling = .batch
                default: throw BenchDataError("--worker-scheduling is inherit or batch")
                }
            case let other: throw BenchDataError("unknown argument '\(other)'")
            }
            index += 1
        }
    }
}

struct BenchDataError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@main
struct PoolBenchData {
    static func main() async {
        try? Multiprocessing.bootstrap()  // a pool worker never returns from here
        do {
            let arguments = try Arguments(Array(CommandLine.arguments.dropFirst()))
            if !arguments.serve {
                print(try await payloadData(arguments))
                return
            }
            while let request = readLine() {
                guard request == "run" else { throw BenchDataError("unknown request '\(request)'") }
                print(try await payloadData(arguments))
                fflush(nil)  // the answer goes down a pipe, where stdout is buffered
            }
        } catch {
            FileHandle.standardError.write(Data("pool-bench-data: \(error)\n".utf8))
            exit(1)
        }
    }

    /// The `payload` workload with `Data`: a chunksize-1 identity map over the buffers on a
    /// warmed pool, timed; MB/s in + out (1 MB = 1e6 B), as a JSON line.
    nonisolated static func payloadData(_ arguments: Arguments) async throws -> String {
        let count = arguments.buffers
        let size = arguments.bytes
        let buffers = (0..<count).map { i in Data(repeating: UInt8(truncatingIfNeeded: i &* 37 &+ 1), count: size) }
        let (out, elapsed) = try await ProcessPool.with(
            processes: arguments.processes,
            workerScheduling: arguments.workerScheduling
        ) { pool in
            // As pool-bench's warm(): every worker up and the task types looked up.
            let items = Array(0..<(pool.processes * 8))
            guard try await pool.map(Identity(), items, chunksize: 1) == items else {
                throw BenchDataError("warm-up map returned wrong values")
            }
            for i in 0..<5 {
                guard try await pool.apply(Identity(), i) == i else { throw BenchDataError("warm-up apply returned a wrong value") }
            }
            let start = monotonicNanos()
            let out = try await pool.map(EchoData(), buffers, chunksize: 1)
            return (out, Double(monotonicNanos() - start) * 1e-9)
        }
        guard out.count == count else { throw BenchDataError("verification failed: got \(out.count) buffers, expected \(count)") }
        for (i, buffer) in out.enumerated() {
            let fill = UInt8(truncatingIfNeeded: i &* 37 &+ 1)
            guard buffer.count == size, buffer.first == fill, buffer.last == fill, buffer[size / 2] == fill else {
                throw BenchDataError("verification failed: buffer \(i) came back changed")
            }
        }
        let moved = 2 * count * size
        return "{\"value\": \(Double(moved) / elapsed / 1e6), \"extra\": {\"buffers\": \(count), "
            + "\"bytes_moved\": \(moved), \"seconds\": \(elapsed)}}"
    }
}
