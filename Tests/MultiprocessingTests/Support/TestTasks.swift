import Multiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Task types for the tests. They must not be private: workers find them by name.

struct Square: PoolTask {
    func run(_ x: Int) async throws -> Int { x * x }
}

struct Identity<Value: Codable & Sendable>: PoolTask {
    func run(_ x: Value) async throws -> Value { x }
}

struct WhoAmI: PoolTask {
    struct Answer: Codable, Sendable, Hashable {
        var pid: Int32
        var name: String
        var initializerRuns: Int
        var initializerTag: String?
    }
    func run(_ x: Int) async throws -> Answer {
        let state = WorkerInitState.shared.withLock { $0 }
        return Answer(pid: getpid(), name: CurrentProcess.name, initializerRuns: state.runs, initializerTag: state.tag)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let value: Int
    var description: String { "refused \(value)" }
}

/// Throws for the inputs in `failing`.
struct FailOn: PoolTask {
    var failing: Set<Int>
    func run(_ x: Int) async throws -> Int {
        if failing.contains(x) { throw TestFailure(value: x) }
        return x
    }
}

/// Blocks on `gate` for the inputs in `gated`; returns the input.
struct GatedEcho: PoolTask {
    var gate: Gate
    var gated: Set<Int>
    func run(_ x: Int) async throws -> Int {
        if gated.contains(x) { gate.wait() }
        return x
    }
}

/// Exits the worker process for the inputs in `fatal` with the given way of dying.
struct DieOn: PoolTask {
    enum Way: Codable, Sendable { case exit, kill, trap }
    var fatal: Set<Int>
    var way: Way
    func run(_ x: Int) async throws -> Int {
        if fatal.contains(x) {
            switch way {
            case .exit: exit(3)
            case .kill: raise(SIGKILL)
            case .trap: fatalError("DieOn trap at \(x)")
            }
        }
        return x
    }
}

struct Add: PoolTask {
    func run(_ arguments: StarArguments<Int, Int>) async throws -> Int {
        let (a, b) = arguments.values
        return a + b
    }
}

struct Describe: PoolTask {
    func run(_ arguments: StarArguments<String, Int, Bool>) async throws -> String {
        let (name, count, flag) = arguments.values
        return "\(name)-\(count)-\(flag)"
    }
}

/// Per-worker state written by `RecordingInitializer`.
enum WorkerInitState {
    static let shared = Mutex<(runs: Int, tag: String?)>((0, nil))
}

struct RecordingInitializer: PoolInitializer {
    var tag: String
    func run() async throws {
        WorkerInitState.shared.withLock { state in
            state.runs += 1
            state.tag = tag
        }
    }
}

struct FailingInitializer: PoolInitializer {
    struct Refused: Error {}
    func run() async throws { throw Refused() }
}
