import Multiprocessing
import Testing

/// An item whose argument cannot be decoded in the worker, or whose result cannot be encoded
/// there or decoded in the caller, fails alone, with its own index; the rest of its chunk
/// completes.
@Suite("one bad item fails alone", .timeLimit(.minutes(1)))
struct ItemIsolationTests {
    /// The outcome of each item: its value, or the error's code and item index.
    private enum Outcome: Equatable {
        case ok(Int)
        case failed(PoolError.Code, item: Int?)

        init(_ result: Result<Int, any Error>) {
            switch result {
            case .success(let value): self = .ok(value)
            case .failure(let error as PoolError): self = .failed(error.code, item: error.itemIndex)
            case .failure: self = .failed(.protocolViolation, item: nil)
            }
        }
    }

    @Test("an argument the worker cannot decode fails only its item, with its index (imap, chunks of 4)")
    func undecodableArgumentInAStream() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 2) { pool in
                var outcomes: [Outcome] = []
                let inputs = (0..<6).map { Picky($0 == 2 ? -1 : $0) }
                for try await result in try pool.imap(PickyValue(), inputs, chunksize: 4).results {
                    outcomes.append(Outcome(result))
                }
                #expect(outcomes == [.ok(0), .ok(1), .failed(.decodingFailed, item: 2), .ok(3), .ok(4), .ok(5)])
            }
        }
    }

    @Test("map reports the undecodable item itself, not the chunk's first")
    func undecodableArgumentInAMap() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { pool in
                let error = await #expect(throws: PoolError.self) {
                    try await pool.map(PickyValue(), [Picky(1), Picky(-1), Picky(3)], chunksize: 3)
                }
                #expect(error?.code == .decodingFailed)
                #expect(error?.itemIndex == 1)
                #expect(error?.message.contains("item 1") == true, "\(String(describing: error))")
            }
        }
    }

    @Test("a result the worker cannot encode, or the caller cannot decode, fails only its item")
    func badResults() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { pool in
                var outcomes: [Outcome] = []
                for try await result in try pool.imap(MakePicky(), [12, 13, 14, -5, 2], chunksize: 5).results {
                    outcomes.append(Outcome(result.map(\.v)))
                }
                #expect(outcomes == [.ok(12), .failed(.encodingFailed, item: 1), .ok(14), .failed(.decodingFailed, item: 3), .ok(2)])
            }
        }
    }
}
