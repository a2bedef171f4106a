import Synchronization
import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Instances of ``Counted``'s box alive in this process (the parent: workers count their own).
let countedAlive = Atomic<Int>(0)

/// An output that owns a class instance, counted, so that a leaked or doubly released output
/// shows in ``countedAlive``.
struct Counted: Codable, Sendable, Equatable {
    final class Box: Sendable {
        let value: Int
        init(_ value: Int) {
            self.value = value
            countedAlive.add(1, ordering: .relaxed)
        }
        deinit { countedAlive.subtract(1, ordering: .relaxed) }
    }
    let box: Box
    var value: Int { box.value }

    init(_ value: Int) { box = Box(value) }
    init(from decoder: any Decoder) throws { box = Box(try decoder.singleValueContainer().decode(Int.self)) }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
    static func == (a: Counted, b: Counted) -> Bool { a.value == b.value }
}

/// `Counted(x)`, except for the inputs in `failing`, which throw.
struct MakeCounted: PoolTask {
    var failing: Set<Int> = []
    func run(_ x: Int) async throws -> Counted {
        if failing.contains(x) { throw TestFailure(value: x) }
        return Counted(x)
    }
}

/// Waits (up to `seconds`) until no ``Counted`` is alive in this process; returns how many are.
func countedAliveSettles(within seconds: Double = 10) async -> Int {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while countedAlive.load(ordering: .relaxed) != 0 && ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(10))
    }
    return countedAlive.load(ordering: .relaxed)
}

@Suite("map's outputs stored in place: order, failures, no leak", .serialized, .timeLimit(.minutes(2)))
struct MapOutputsTests {
    @Test("trivial outputs stored out of order are taken in order, without a copy of another array")
    func trivialInOrder() {
        let outputs = MapOutputs<Int>(count: 6)
        outputs.store([4, 5], at: 4)
        outputs.store([0, 1], at: 0)
        outputs.store([2, 3], at: 2)
        #expect(outputs.take() == [0, 1, 2, 3, 4, 5])
        #expect(MapOutputs<Int>(count: 0).take().isEmpty)
    }

    @Test("class-holding outputs: taken in order, and those stored for a call that never finished are released")
    func classOutputsReleased() async {
        #expect(await countedAliveSettles() == 0)
        do {
            let outputs = MapOutputs<Counted>(count: 4)
            outputs.store([Counted(2), Counted(3)], at: 2)
            outputs.store([Counted(0), Counted(1)], at: 0)
            let all = outputs.take()
            #expect(all.map(\.value) == [0, 1, 2, 3])
            #expect(countedAlive.load(ordering: .relaxed) == 4)
        }
        #expect(countedAlive.load(ordering: .relaxed) == 0)
        do {
            // A failed call: two of three ranges stored, never taken.
            let outputs = MapOutputs<Counted>(count: 6)
            outputs.store([Counted(0), Counted(1)], at: 0)
            outputs.store([Counted(4), Counted(5)], at: 4)
            #expect(countedAlive.load(ordering: .relaxed) == 4)
        }
        #expect(countedAlive.load(ordering: .relaxed) == 0)
    }

    @Test("a large map keeps input order; an item that throws in a middle chunk fails the call with that item")
    func largeMapWithAFailure() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let input = Array(0..<300_000)
                let output = try await pool.map(Square(), input)
                #expect(output == input.map { $0 * $0 })
                let error = await #expect(throws: TaskError.self) {
                    try await pool.map(FailOn(failing: [170_001]), input)
                }
                #expect(error?.itemIndex == 170_001)
                #expect(try await pool.map(Square(), input) == output)
            }
        }
    }

    @Test("a worker killed mid-map fails the call with its chunk; the pool goes on in order")
    func workerKilledMidMap() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let input = Array(0..<300_000)
                let error = await #expect(throws: PoolError.self) {
                    try await pool.map(DieOn(fatal: [160_000], way: .kill), input)
                }
                #expect(error?.code == .workerDied, "\(String(describing: error))")
                #expect(try await pool.map(Square(), input) == input.map { $0 * $0 })
            }
        }
    }

    @Test("outputs that own objects: none leaks after a success, a failed item, a cancelled call or a killed worker")
    func noLeak() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let input = Array(0..<50_000)
                do {
                    let output = try await pool.map(MakeCounted(), input)
                    #expect(output.map(\.value) == input)
                    #expect(countedAlive.load(ordering: .relaxed) == input.count)
                }
                #expect(await countedAliveSettles() == 0)

                let failed = await #expect(throws: TaskError.self) {
                    try await pool.map(MakeCounted(failing: [30_000]), input)
                }
                #expect(failed?.itemIndex == 30_000)
                #expect(await countedAliveSettles() == 0)

                let call = Task { try await pool.map(MakeCounted(), Array(0..<400_000)) }
                try await Task.sleep(for: .milliseconds(20))
                call.cancel()
                _ = await call.result
                #expect(await countedAliveSettles() == 0)

                let killed = await #expect(throws: PoolError.self) {
                    try await pool.map(DieOnCounted(fatal: 40_000), input)
                }
                #expect(killed?.code == .workerDied)
                #expect(await countedAliveSettles() == 0)
            }
        }
    }
}

/// `Counted(x)`, except that the worker SIGKILLs itself at `fatal`.
struct DieOnCounted: PoolTask {
    var fatal: Int
    func run(_ x: Int) async throws -> Counted {
        if x == fatal { raise(SIGKILL) }
        return Counted(x)
    }
}
