@testable import Multiprocessing
import Testing

@Suite("wire messages")
struct WireMessageTests {
    /// Strips the 4-byte length prefix after checking it.
    private func payload(_ frame: [UInt8]) -> ArraySlice<UInt8> {
        let length = Int(frame[0]) | Int(frame[1]) << 8 | Int(frame[2]) << 16 | Int(frame[3]) << 24
        #expect(length == frame.count - 4)
        return frame[4...]
    }

    @Test("parent messages round-trip")
    func parentMessages() throws {
        let messages: [ParentMessage] = [
            .configure(WorkerConfiguration(workerName: "SpawnPoolWorker-7", logLevel: "debug",
                                           initializer: EncodedValue(typeName: "4Demo4InitV", payload: [1, 2]),
                                           maximumTasks: 3, maximumMessageSize: 1 << 20)),
            .configure(WorkerConfiguration(workerName: "w", logLevel: nil, initializer: nil, maximumTasks: 0, maximumMessageSize: 4096)),
            .run(taskID: 1 << 40, task: EncodedValue(typeName: "4Demo6SquareV", payload: []), inputs: [9, 8, 7]),
        ]
        for message in messages {
            #expect(try ParentMessage.decode(payload(message.encodeFrame())) == message)
        }
    }

    @Test("worker messages round-trip")
    func workerMessages() throws {
        let failure = RemoteFailure(typeName: "Demo.Oops", description: "went wrong")
        let messages: [WorkerMessage] = [
            .ready(pid: 4242),
            .initializerFailed(failure),
            .result(taskID: 9, runNanoseconds: 1_500, outcome: .allSucceeded(outputs: [1, 2, 3][...])),
            .result(taskID: 10, runNanoseconds: 0, outcome: .mixed([.success([5][...]), .failure(failure), .success([][...])])),
            .result(taskID: 11, runNanoseconds: 7, outcome: .rejected(failure)),
        ]
        for message in messages {
            #expect(try WorkerMessage.decode(payload(message.encodeFrame())) == message)
        }
    }

    @Test("garbage and truncated messages throw instead of crashing")
    func garbage() {
        let valid = WorkerMessage.result(taskID: 3, runNanoseconds: 1, outcome: .mixed([.success([1, 2][...])])).encodeFrame()
        let body = Array(payload(valid))
        for cut in 0..<body.count {
            #expect(throws: (any Error).self) { try WorkerMessage.decode(body[0..<cut]) }
        }
        #expect(throws: (any Error).self) { try WorkerMessage.decode([99][...]) }
        #expect(throws: (any Error).self) { try ParentMessage.decode([2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F][...]) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? WorkerMessage.decode(bytes[...])
            _ = try? ParentMessage.decode(bytes[...])
        }
    }
}

@Suite("byte buffers sent by reference")
struct ByteArrayPiecesTests {
    @Test("the pieces join to exactly what BinaryEncoder writes, and decode back")
    func samePiecesAsEncoder() throws {
        let big = ByteArrayPieces.threshold
        let cases: [[[UInt8]]] = [
            [[UInt8](repeating: 7, count: big)],
            [[], [UInt8](repeating: 1, count: big + 1), [1, 2, 3]],
            [[9], [UInt8](repeating: 2, count: 300_000), [UInt8](repeating: 3, count: big), []],
            (0..<130).map { [UInt8](repeating: UInt8($0), count: $0 == 129 ? big : $0) },
        ]
        for buffers in cases {
            let pieces = try #require(ByteArrayPieces.encodeByReference(buffers))
            let joined = Array(pieces.joined())
            #expect(joined == (try BinaryEncoder().encode(buffers)))
            #expect(try BinaryDecoder().decode([[UInt8]].self, from: joined[...]) == buffers)
            // Large buffers travel as pieces of their own.
            #expect(pieces.contains { $0.count >= big })
        }
        #expect(ByteArrayPieces.encodeByReference([[1, 2], [3]]) == nil)
        #expect(try ByteArrayPieces.encode([5, 6]) == [try BinaryEncoder().encode([5, 6])])
    }
}
