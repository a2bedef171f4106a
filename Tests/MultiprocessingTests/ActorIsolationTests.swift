import Multiprocessing
import Synchronization
import Testing

/// A value that notes which thread of this process encodes or decodes it, as "encode NAME" or
/// "decode NAME": where `apply`'s own code runs in the caller.
struct WhereCoded: Codable, Sendable, Equatable {
    /// What the test process saw; a worker's copy of it is its own and goes unread.
    static let places = Recorder<String>()
    var value: Int

    init(_ value: Int) { self.value = value }

    init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(Int.self)
        Self.places.append("decode " + readProcFile("/proc/thread-self/comm"))
    }

    func encode(to encoder: any Encoder) throws {
        Self.places.append("encode " + readProcFile("/proc/thread-self/comm"))
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

// Serialized: the tests that read `WhereCoded.places` must not see each other's values.
@Suite("calls awaited on an actor stay on it", .serialized, .timeLimit(.minutes(2)))
struct ActorIsolationTests {
    @Test(
        "an imap consumed on an actor resumes it at most once per chunk, not once per item",
        arguments: ["imap", "imapUnordered", "results"])
    func imapOnActor(form: String) async throws {
        try await withDeadline { () async throws in
            let executor = CountingExecutor()
            defer { executor.stop() }
            let actor = CountedActor(executor: executor)
            let (items, chunksize) = (2_000, 100)
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let (output, resumptions, onActor) = try await actor.run { actor in
                    let onActor = actor.executor.isCurrent
                    let before = actor.executor.enqueuedJobs
                    var output: [Int] = []
                    switch form {
                    case "imap":
                        for try await x in try pool.imap(Square(), 0..<items, chunksize: chunksize) { output.append(x) }
                    case "imapUnordered":
                        for try await x in try pool.imapUnordered(Square(), 0..<items, chunksize: chunksize) { output.append(x) }
                    default:
                        for try await result in try pool.imap(Square(), 0..<items, chunksize: chunksize).results {
                            output.append(try result.get())
                        }
                    }
                    return (output, actor.executor.enqueuedJobs - before, onActor)
                }
                #expect(onActor)
                let expected = (0..<items).map { $0 * $0 }
                #expect((form == "imapUnordered" ? output.sorted() : output) == expected)
                // Taking an item from the chunk in hand never leaves the actor; only waiting for
                // a chunk does, and a chunk is waited for at most once.
                #expect(resumptions <= items / chunksize, "\(resumptions) resumptions for \(items) items")
            }
        }
    }

    @Test("apply called on an actor encodes its input and decodes its output there, and resumes it at most once per call")
    func applyOnActor() async throws {
        try await withDeadline { () async throws in
            let executor = CountingExecutor()
            defer { executor.stop() }
            let actor = CountedActor(executor: executor)
            let calls = 200
            let placesBefore = WhereCoded.places.values.count
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let (outputs, resumptions) = try await actor.run { actor in
                    let before = actor.executor.enqueuedJobs
                    var outputs: [Int] = []
                    for i in 0..<calls { outputs.append(try await pool.apply(Identity<WhereCoded>(), WhereCoded(i)).value) }
                    return (outputs, actor.executor.enqueuedJobs - before)
                }
                #expect(outputs == Array(0..<calls))
                // Each call's code before and after its wait ran on the actor: it did not hop
                // through another executor to start or to resume.
                let places = WhereCoded.places.values.suffix(from: placesBefore)
                let onActor = ["encode", "decode"].map { "\($0) \(executor.threadName)" }
                let elsewhere = places.filter { !onActor.contains($0) }
                #expect(places.count == 2 * calls)
                #expect(elsewhere.count == 0, "\(elsewhere.count) of \(places.count) off the actor: \(Set(elsewhere))")
                #expect(resumptions <= calls, "\(resumptions) resumptions for \(calls) calls")
            }
        }
    }

    @Test("map and starmap called on an actor encode their items there, and resume it at most once per call")
    func mapOnActor() async throws {
        try await withDeadline { () async throws in
            let executor = CountingExecutor()
            defer { executor.stop() }
            let actor = CountedActor(executor: executor)
            let calls = 50
            let placesBefore = WhereCoded.places.values.count
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let (outputs, sums, resumptions) = try await actor.run { actor in
                    let before = actor.executor.enqueuedJobs
                    var outputs: [[Int]] = []
                    var sums: [Int] = []
                    for i in 0..<calls {
                        outputs.append(try await pool.map(Identity<WhereCoded>(), [WhereCoded(i), WhereCoded(i + 1)]).map(\.value))
                        sums += try await pool.starmap(Add(), [(i, 1)])
                    }
                    return (outputs, sums, actor.executor.enqueuedJobs - before)
                }
                #expect(outputs == (0..<calls).map { [$0, $0 + 1] })
                #expect(sums == (0..<calls).map { $0 + 1 })
                // The items were cut and encoded on the actor, before the call waited.
                let encodings = WhereCoded.places.values.suffix(from: placesBefore).filter { $0.hasPrefix("encode ") }
                let elsewhere = encodings.filter { $0 != "encode \(executor.threadName)" }
                #expect(encodings.count == 2 * calls)
                #expect(elsewhere.count == 0, "\(elsewhere.count) of \(encodings.count) off the actor: \(Set(elsewhere))")
                #expect(resumptions <= 2 * calls, "\(resumptions) resumptions for \(2 * calls) calls")
            }
        }
    }

    @Test("AsyncResult.get and wait on an actor take a result that is already there without leaving it")
    func readyResultOnActor() async throws {
        try await withDeadline { () async throws in
            let executor = CountingExecutor()
            defer { executor.stop() }
            let actor = CountedActor(executor: executor)
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let job = try pool.applyAsync(Square(), 7)
                let (value, resumptions) = try await actor.run { actor in
                    // This wait may suspend: the result may not be there yet.
                    await job.wait()
                    let before = actor.executor.enqueuedJobs
                    await job.wait()
                    let value = try await job.get()
                    return (value, actor.executor.enqueuedJobs - before)
                }
                #expect(value == 49)
                #expect(resumptions == 0)
            }
        }
    }
}
