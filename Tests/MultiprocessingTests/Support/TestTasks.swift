import Synchronization

@testable import Multiprocessing

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

/// Sleeps in the worker for `seconds` on the inputs in `slow` (a stuck task for timeouts).
struct SlowOn: PoolTask {
    var slow: Set<Int>
    var seconds: Double = 3600
    var ignoreSIGTERM = false
    var beacon: Beacon?
    func run(_ x: Int) async throws -> Int {
        if slow.contains(x) {
            beacon?.announce()
            if ignoreSIGTERM { signal(SIGTERM, SIG_IGN) }
            try await Task.sleep(for: .seconds(seconds))
        }
        return x
    }
}

/// Writes bytes that are not a valid frame up the worker's answers pipe (descriptor 4), as
/// memory corruption or a stray write would.
struct CorruptChannel: PoolTask {
    func run(_ x: Int) async throws -> Int {
        let garbage: [UInt8] = [5, 0, 0, 0, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE]
        let answers = WorkerProcess.answersDescriptor.load(ordering: .relaxed)
        _ = garbage.withUnsafeBytes { write(answers, $0.baseAddress, $0.count) }
        return x
    }
}

/// Returns `count` bytes.
struct MakeBytes: PoolTask {
    func run(_ count: Int) async throws -> [UInt8] { [UInt8](repeating: 1, count: count) }
}

/// An initializer that kills its worker before it is ready (a crash loop at start-up).
struct ExitingInitializer: PoolInitializer {
    func run() async throws { exit(9) }
}

/// Returns the worker's pid after holding on `gate` for the inputs in `gated`.
struct GatedPID: PoolTask {
    var gate: Gate
    var gated: Set<Int>
    var beacon: Beacon?
    func run(_ x: Int) async throws -> Int32 {
        beacon?.announce()
        if gated.contains(x) { gate.wait() }
        return getpid()
    }
}

/// A value whose encoding fails on purpose (an argument or result that cannot cross).
struct Unencodable: Codable, Sendable {
    struct Refused: Error {}
    var poisoned: Bool
    init(poisoned: Bool) { self.poisoned = poisoned }
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        poisoned = try container.decode(Bool.self)
    }
    func encode(to encoder: any Encoder) throws {
        if poisoned { throw Refused() }
        var container = encoder.singleValueContainer()
        try container.encode(poisoned)
    }
}

/// Returns an unencodable value for `true`.
struct MakeUnencodable: PoolTask {
    func run(_ poison: Bool) async throws -> Unencodable { Unencodable(poisoned: poison) }
}

/// Starts a `sleep` that outlives the worker, then exits the worker with status 4: the
/// grandchild must not keep the worker's channel open.
struct ExitLeavingChild: PoolTask {
    func run(_ seconds: Int) async throws -> Int {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        // Not the test runner's output either, or `swift test` would wait for the sleep.
        for fd in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup(String(seconds)), nil]
        _ = posix_spawn(&pid, "/bin/sleep", &actions, nil, argv, environ)
        exit(4)
    }
}

/// Returns a buffer's size; a buffer starting with 1 first announces itself, then waits at the
/// gate (a large payload held up in a worker).
struct GatedByteCount: PoolTask {
    var gate: Gate
    var beacon: Beacon
    func run(_ bytes: [UInt8]) async throws -> Int {
        if bytes.first == 1 {
            beacon.announce()
            gate.wait()
        }
        return bytes.count
    }
}

/// The scheduling policy (`sched_getscheduler`) of every thread of the worker that runs it,
/// the thread running the task first.
struct ThreadPolicies: PoolTask {
    func run(_ x: Int) async throws -> [Int32] {
        var policies = [sched_getscheduler(0)]
        for tid in threadIDs() { policies.append(sched_getscheduler(tid)) }
        return policies
    }
}

/// Keeps the worker's CPU busy for `milliseconds` per item and returns the item and the
/// worker's pid: long enough per chunk for a `map` to run as a chunk group. On `holdOn` it
/// first announces itself on `beacon` and waits at `gate`; it throws on `failOn` and exits the
/// worker on `dieOn`.
struct GroupProbe: PoolTask {
    var milliseconds: Double
    var holdOn: Int?
    var gate: Gate?
    var beacon: Beacon?
    var failOn: Int?
    var dieOn: Int?

    func run(_ x: Int) async throws -> [Int32] {
        if x == holdOn {
            beacon?.announce()
            gate?.wait()
        }
        if x == dieOn { exit(5) }
        let end = ContinuousClock.now + .microseconds(Int(milliseconds * 1000))
        while ContinuousClock.now < end {}
        if x == failOn { throw TestFailure(value: x) }
        return [Int32(x), getpid()]
    }
}

/// What a worker process was given by its parent, besides its channel.
struct InheritedState: PoolTask {
    struct Answer: Codable, Sendable, Equatable {
        /// What each open descriptor refers to (`/proc/self/fd`), the one listing them excepted.
        var descriptors: [Int32: String]
        /// Whether standard input is /dev/null.
        var stdinIsDevNull: Bool
    }
    func run(_ x: Int) async throws -> Answer {
        var descriptors: [Int32: String] = [:]
        if let directory = opendir("/proc/self/fd") {
            let own = dirfd(directory)
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard let fd = Int32(name), fd != own else { continue }
                var target = [CChar](repeating: 0, count: 4096)
                let count = readlink("/proc/self/fd/\(fd)", &target, target.count - 1)
                descriptors[fd] = count > 0 ? String(decoding: target.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
            }
            closedir(directory)
        }
        var input = stat()
        var null = stat()
        let isNull =
            fstat(0, &input) == 0 && stat("/dev/null", &null) == 0 && input.st_rdev == null.st_rdev
            && (input.st_mode & S_IFMT) == S_IFCHR
        return Answer(descriptors: descriptors, stdinIsDevNull: isNull)
    }
}

/// Closes the worker's descriptors `from...through` (its channel among them, if in range).
struct CloseDescriptors: PoolTask {
    var from: Int32
    var through: Int32
    func run(_ x: Int) async throws -> Int {
        for fd in from...through { close(fd) }
        return x
    }
}

/// A value that cannot be decoded when negative, nor encoded when 13: one bad item among good ones.
struct Picky: Codable, Sendable, Equatable {
    var v: Int
    init(_ v: Int) { self.v = v }
    init(from decoder: any Decoder) throws {
        v = try decoder.singleValueContainer().decode(Int.self)
        if v < 0 { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "negative")) }
    }
    func encode(to encoder: any Encoder) throws {
        if v == 13 { throw EncodingError.invalidValue(v, .init(codingPath: [], debugDescription: "unlucky")) }
        var container = encoder.singleValueContainer()
        try container.encode(v)
    }
}

/// Reads a `Picky` argument.
struct PickyValue: PoolTask {
    func run(_ x: Picky) async throws -> Int { x.v }
}

/// Returns a `Picky` result.
struct MakePicky: PoolTask {
    func run(_ x: Int) async throws -> Picky { Picky(x) }
}

/// An initializer that never finishes.
struct StuckInitializer: PoolInitializer {
    func run() async throws { try await Task.sleep(for: .seconds(1000)) }
}

/// A `Codable` error: it comes back to the caller as itself.
enum ParseError: Error, Codable, Equatable {
    case badDigit(Character.UTF8View.Element, line: Int)
    case empty
}

/// A `Codable` error that keeps where it was thrown.
struct LocatedError: Error, Codable {
    var reason: String
    var origin: TaskOrigin?
    enum CodingKeys: CodingKey { case reason }
    init(reason: String) { self.reason = reason }
    init(from decoder: any Decoder) throws {
        reason = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .reason)
        origin = decoder.userInfo[.taskOrigin] as? TaskOrigin
    }
}

/// Throws a `ParseError` for odd inputs, a `LocatedError` for inputs over 100.
struct ParseOdd: PoolTask {
    func run(_ x: Int) async throws -> Int {
        if x > 100 { throw LocatedError(reason: "too big: \(x)") }
        if x % 2 == 1 { throw ParseError.badDigit(UInt8(48 + x % 10), line: x) }
        return x
    }
}

/// Throws a `Codable` error whose type a worker cannot look up by name.
struct ThrowPrivateError: PoolTask {
    private struct Hidden: Error, Codable { var code: Int }
    func run(_ x: Int) async throws -> Int { throw Hidden(code: x) }
}

/// An item of `LoggedStart`, padded to `padding` bytes.
struct PaddedItem: Codable, Sendable {
    var index: Int
    var padding: [UInt8]
}

/// Records its item in `log` as it starts; items other than 0 then wait at `gate`.
struct LoggedStart: PoolTask {
    var log: StartLog
    var gate: Gate
    func run(_ item: PaddedItem) async throws -> Int {
        log.record(item.index)
        if item.index != 0 { gate.wait() }
        return item.index
    }
}

/// Writes `message` on standard error, then dies the way it is told: what its item's error
/// must carry in its `stderrTail`.
struct ShoutThenDie: PoolTask {
    enum Way: Codable, Sendable { case segfault, abort, trap }
    var message: String
    var way: Way
    func run(_ x: Int) async throws -> Int {
        let line = message + "\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        switch way {
        case .segfault: raise(SIGSEGV)
        case .abort: abort()
        case .trap: fatalError(message)
        }
        return x
    }
}

/// Starts a `sleep` of `seconds` that keeps the worker's standard error open, says its pid on
/// standard error ("grandchild PID"), then traps: the worker's end must not wait for the sleep.
struct TrapLeavingChildOnStderr: PoolTask {
    func run(_ seconds: Int) async throws -> Int {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        for fd in [STDIN_FILENO, STDOUT_FILENO] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("sleep"), strdup(String(seconds)), nil]
        _ = posix_spawn(&pid, "/bin/sleep", &actions, nil, argv, environ)
        let line = "grandchild \(pid)\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        fatalError("trapped with a child holding standard error")
    }
}

/// Makes a pool of one worker at each of `depth` levels below it and returns the sum of the
/// squares at the bottom, with the (pid, parent pid) of the first process at each level.
struct NestedSquares: PoolTask {
    struct Answer: Codable, Sendable {
        var sum: Int
        var chain: [[Int32]]
    }
    var depth: Int
    func run(_ x: Int) async throws -> Answer {
        let me = [getpid(), getppid()]
        guard depth > 0 else { return Answer(sum: x * x, chain: [me]) }
        let below = try await ProcessPool.with(processes: 1) { pool in
            try await pool.map(NestedSquares(depth: depth - 1), [x, x + 1])
        }
        return Answer(sum: below.map(\.sum).reduce(0, +), chain: [me] + below[0].chain)
    }
}
