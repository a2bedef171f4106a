import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// A program written as top-level code (`main.swift`), for the tests of where its workers start:
// its globals are set by the statements below as they run, so a worker that skipped them would
// read zeros. The first argument picks the scenario.

let scenario = CommandLine.arguments.dropFirst().first ?? "plain"
let factor = CommandLine.arguments.count * 10
let names = ["a", "b"]
let topLevelPID = getpid()

struct Scale: PoolTask { func run(_ x: Int) async throws -> Int { x * factor } }
struct Name: PoolTask { func run(_ x: Int) async throws -> String { names[x] } }
/// Whether this worker ran the top-level code itself.
struct RanTopLevel: PoolTask { func run(_ x: Int) async throws -> Bool { topLevelPID == getpid() } }

switch scenario {
case "bootstrap":
    // Python's `if __name__ == "__main__":`: everything above runs in workers too.
    try Multiprocessing.bootstrap()
    print("parent only")
case "no-start-point":
    // The parent reads a line; a worker reads /dev/null, finds none and ends before any pool.
    guard readLine() != nil else { exit(0) }
case "stuck-start":
    // Top-level code that never gets past this point in a worker: its pool must not wait forever.
    if getenv("SWIFT_MULTIPROCESSING_WORKER") != nil { while true { sleep(1000) } }
    do {
        _ = try await ProcessPool.with(processes: 1, startTimeout: .milliseconds(300)) { try await $0.apply(Scale(), 3) }
    } catch {
        print("\(error)")
    }
    exit(0)
case "orphan-in-main":
    // Workers that never get past this point say who they are; the test kills the parent.
    if getenv("SWIFT_MULTIPROCESSING_WORKER") != nil {
        let line = "worker \(getpid())\n"
        _ = line.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
        while true { sleep(1000) }
    }
    withExtendedLifetime(try ProcessPool(processes: 2)) { while true { sleep(1000) } }
default:
    break
}

do {
    print(try await ProcessPool.with(processes: 1) { try await $0.apply(Scale(), 3) })
    print(try await ProcessPool.with(processes: 1) { try await $0.apply(Name(), 1) })
    print(try await ProcessPool.with(processes: 2) { try await $0.map(RanTopLevel(), [0, 1, 2, 3]) })
} catch {
    print("\(error)")
}
