import Multiprocessing
import Testing

@Suite("calls awaited on an actor stay on it", .timeLimit(.minutes(2)))
struct ActorIsolationTests {
    @Test("an imap consumed on an actor resumes it at most once per chunk, not once per item",
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
}
