import CMultiprocessing
import Foundation
import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
            .configure(
                WorkerConfiguration(
                    workerName: "SpawnPoolWorker-7", logLevel: "debug",
                    initializer: EncodedValue(typeName: "4Demo4InitV", payload: [1, 2]),
                    maxTasksPerChild: 3, maxMessageBytes: 1 << 20, forwardedLogRecords: 4096, maxMemoryPerChild: 64 << 20)),
            .configure(WorkerConfiguration(workerName: "w", logLevel: nil, initializer: nil, maxTasksPerChild: 0, maxMessageBytes: 4096)),
            .run(chunkID: 1 << 40, task: EncodedValue(typeName: "4Demo6SquareV", payload: []), inputs: EncodedItems(bytes: [9, 8, 7])),
            .run(
                chunkID: 6, task: EncodedValue(typeName: "4Demo6SquareV", payload: []), inputs: EncodedItems(bytes: [2]),
                mayHoldAnswer: true),
            .run(
                chunkID: 5, task: EncodedValue(typeName: "4Demo6SquareV", payload: [3]), inputs: EncodedItems(bytes: [1]),
                traceCarrier: ["traceparent": "00-abc-def-01", "tracestate": ""]),
            .group(id: 1 << 33, firstClaim: 1024, count: 12),
        ]
        for message in messages {
            #expect(try ParentMessage.decode(payload(message.encodeFrame())) == message)
        }
    }

    @Test("a run frame without a trace carrier is the plain run frame; one with a carrier is a traced run frame")
    func traceCarrierFraming() {
        let task = EncodedValue(typeName: "4Demo6SquareV", payload: [])
        let plain = Array(ParentMessage.encodeRunFrame(chunkID: 1, task: task, inputs: EncodedItems(bytes: [7])).joined())
        let traced = Array(
            ParentMessage.encodeRunFrame(chunkID: 1, task: task, inputs: EncodedItems(bytes: [7]), traceCarrier: ["k": "v"]).joined())
        // After the 4-byte length: the kind, 2 for run, 5 for a traced run.
        #expect(plain[4] == 2)
        #expect(traced[4] == 5)
        #expect(traced.count > plain.count)
    }

    @Test("worker messages round-trip")
    func workerMessages() throws {
        let failure = RemoteFailure(typeName: "Demo.Oops", description: "went wrong")
        let messages: [WorkerMessage] = [
            .ready(pid: 4242),
            .initializerFailed(failure),
            .groupDone(id: 77),
            .result(chunkID: 9, runNanoseconds: 1_500, outcome: .allSucceeded(outputs: EncodedItems(bytes: [1, 2, 3]))),
            .result(chunkID: 10, runNanoseconds: 0, outcome: .mixed([.success([5][...]), .failure(failure), .success([][...])])),
            .result(chunkID: 11, runNanoseconds: 7, outcome: .rejected(failure)),
            .retiring(residentBytes: 70 << 20),
            .logs(WorkerLogBatch(records: [], dropped: 12)),
            .logs(
                WorkerLogBatch(
                    records: [
                        .init(
                            level: "warning", message: "disk at 91% ✓", metadata: [("a", "1"), ("request", "r-7")], label: "app.db",
                            source: "App", file: "App/DB.swift", function: "save()", line: 42),
                        .init(level: "trace", message: "", metadata: [], label: "", source: "", file: "", function: "", line: 0),
                    ], dropped: 0)),
        ]
        for message in messages {
            #expect(try WorkerMessage.decode(payload(message.encodeFrame())) == message)
        }
    }

    @Test("garbage and truncated messages throw instead of crashing")
    func garbage() {
        let valid = WorkerMessage.result(chunkID: 3, runNanoseconds: 1, outcome: .mixed([.success([1, 2][...])])).encodeFrame()
        let body = Array(payload(valid))
        for cut in 0..<body.count {
            #expect(throws: (any Error).self) { try WorkerMessage.decode(body[0..<cut]) }
        }
        #expect(throws: (any Error).self) { try WorkerMessage.decode([99][...]) }
        #expect(throws: (any Error).self) {
            try ParentMessage.decode([2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F][...])
        }
        // A group larger than the board's claim words could never be claimed.
        for (first, count) in [(0, WakeBoard.claimCapacity + 1), (WakeBoard.claimCapacity - 4, 5), (Int(Int32.max), 1)] {
            let tooLarge = ParentMessage.group(id: 1, firstClaim: first, count: count).encodeFrame()
            #expect(throws: (any Error).self) { try ParentMessage.decode(payload(tooLarge)) }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<40, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? WorkerMessage.decode(bytes[...])
            _ = try? ParentMessage.decode(bytes[...])
        }
    }
}

@Suite("byte buffers sent as attachments")
struct EncodedItemsTests {
    static let big = EncodedItems.attachmentThreshold
    static let cases: [[[UInt8]]] = [
        [[UInt8](repeating: 7, count: big)],
        [[], [UInt8](repeating: 1, count: big + 1), [1, 2, 3]],
        [[9], [UInt8](repeating: 2, count: 300_000), [UInt8](repeating: 3, count: big), []],
        (0..<130).map { [UInt8](repeating: UInt8($0), count: $0 == 129 ? big : $0) },
    ]

    @Test("large buffers become attachments, sharing storage, and decode back")
    func attachments() throws {
        for buffers in Self.cases {
            let batch = try EncodedItems.encode(buffers)
            let large = buffers.filter { $0.count >= Self.big }
            #expect(batch.attachments.map(\.array) == large)
            // Attached, not copied: the same storage as the caller's arrays.
            #expect(
                zip(batch.attachments, large).allSatisfy { pair in
                    pair.0.withUnsafeBytes { $0.baseAddress } == pair.1.withUnsafeBytes { $0.baseAddress }
                })
            // What stays in the encoding: the small buffers and a few bytes per element.
            let small = buffers.filter { $0.count < Self.big }.reduce(0) { $0 + $1.count }
            #expect(batch.bytes.count <= 8 + small + 3 * buffers.count)
            #expect(try batch.decode([[UInt8]].self) == buffers)
        }
    }

    @Test("without a large buffer the batch is exactly BinaryEncoder's encoding")
    func plain() throws {
        #expect(
            try EncodedItems.encode([[1, 2], [3]] as [[UInt8]])
                == EncodedItems(bytes: try BinaryEncoder().encode([[1, 2], [3]] as [[UInt8]])[...]))
        #expect(try EncodedItems.encode([5, 6]) == EncodedItems(bytes: try BinaryEncoder().encode([5, 6])[...]))
        #expect(try EncodedItems.encode([5, 6]).decode([Int].self) == [5, 6])
    }

    @Test("a large Data is attached from its own storage, and either kind of attachment decodes as either type")
    func dataAttachments() throws {
        let items = [Data([1]), randomData(count: Self.big, seed: 5), randomData(count: 100_000, seed: 6)]
        let batch = try EncodedItems.encode(items)
        try #require(batch.attachments.count == 2)
        // Attached, not copied: the bytes are the caller's Data's own.
        #expect(
            zip(batch.attachments, items.dropFirst()).allSatisfy { pair in
                pair.0.box != nil && pair.0.withUnsafeBytes { $0.baseAddress } == pair.1.withUnsafeBytes { $0.baseAddress }
            })
        // Attachments of the other kind (as a process without Foundation would read them) are copied.
        let asArrays = EncodedItems(bytes: batch.bytes, attachments: batch.attachments.map { WireBytes($0.bytes) })
        #expect(try asArrays.decode([Data].self) == items)
        #expect(try batch.decode([[UInt8]].self) == items.map { [UInt8]($0) })
    }

    @Test("attachments that do not match their marks are rejected")
    func mismatched() throws {
        var batch = try EncodedItems.encode(Self.cases[1])
        #expect(throws: BinaryCodingError.self) { try batch.decode([Int].self) }
        let extra = EncodedItems(bytes: batch.bytes, attachments: batch.attachments + [WireBytes([1])])
        #expect(throws: BinaryCodingError.self) { try extra.decode([[UInt8]].self) }
        batch.attachments.removeAll()
        #expect(throws: (any Error).self) { try batch.decode([[UInt8]].self) }
    }
}

@Suite("frame reader")
struct FrameReaderTests {
    /// A file holding `bytes`, opened for reading; FrameReader reads any stream descriptor.
    private func descriptor(reading bytes: [UInt8]) throws -> Int32 {
        var template = Array("/tmp/frame-reader-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(fd >= 0)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                precondition(written > 0)
                offset += written
            }
        }
        _ = lseek(fd, 0, SEEK_SET)
        return fd
    }

    @Test("frames with and without attachments arrive whole, whatever the buffer size", arguments: [16, 100, 64 * 1024])
    func attachmentFrames(bufferSize: Int) throws {
        let task = EncodedValue(typeName: "4Demo4EchoV", payload: [1])
        let first = try EncodedItems.encode(EncodedItemsTests.cases[2])
        let second = try EncodedItems.encode([1, 2, 3])
        var stream: [UInt8] = []
        stream += ParentMessage.encodeRunFrame(chunkID: 1, task: task, inputs: first).joined()
        stream += ParentMessage.cancel(chunkIDs: [4]).encodeFrame()
        stream += ParentMessage.encodeRunFrame(chunkID: 2, task: task, inputs: second).joined()
        let fd = try descriptor(reading: stream)
        defer { close(fd) }
        var reader = FrameReader(descriptor: fd, maximumFrameSize: 1 << 20, bufferSize: bufferSize)
        let messages = try (0..<3).map { _ in
            try #require(try reader.withNextFrame { try ParentMessage.decode($0, attachments: $1) })
        }
        #expect(
            messages == [.run(chunkID: 1, task: task, inputs: first), .cancel(chunkIDs: [4]), .run(chunkID: 2, task: task, inputs: second)])
        guard case .run(_, _, let inputs, _, _) = messages[0] else { return }
        #expect(try inputs.decode([[UInt8]].self) == EncodedItemsTests.cases[2])
        #expect(try reader.withNextFrame { _, _ in 0 } == nil)
    }

    @Test("a run's task is read as the last one when its bytes are the same, and anew otherwise")
    func taskReusedOnlyWhenTheSame() throws {
        let last = EncodedValue(typeName: "4Demo6SquareV", payload: [1, 2, 3])
        let others = [
            last, EncodedValue(typeName: "4Demo6SquareW", payload: [1, 2, 3]), EncodedValue(typeName: "4Demo6SquareV", payload: [1, 2]),
            EncodedValue(typeName: "4Demo6Square", payload: [1, 2, 3]), EncodedValue(typeName: "", payload: []),
        ]
        for value in others {
            let frame = ParentMessage.run(chunkID: 4, task: value, inputs: EncodedItems(bytes: [9, 9][...])).encodeFrame()
            let message = try ParentMessage.decode(frame[4...], lastTask: last)
            #expect(message == .run(chunkID: 4, task: value, inputs: EncodedItems(bytes: [9, 9][...])))
        }
        let frame = ParentMessage.run(chunkID: 4, task: last, inputs: EncodedItems(bytes: [9][...])).encodeFrame()
        #expect(throws: (any Error).self) { try ParentMessage.decode(frame[4..<(frame.count - 3)], lastTask: last) }
    }

    @Test("a success frame written into a kept writer is the success frame, again and again")
    func successFrameInWriter() throws {
        var writer = ByteWriter(capacity: 8)
        for (chunkID, outputs) in [(UInt64(1), [7]), (300, Array(0..<100)), (1 << 40, [])] {
            let batch = try EncodedItems.encode(outputs)
            writer.truncate(to: 0)
            WorkerMessage.writeSuccessFrame(chunkID: chunkID, runNanoseconds: 12_345, outputs: batch.bytes, into: &writer)
            let written = writer.withUnsafeBytes { Array($0) }
            #expect(written == Array(WorkerMessage.encodeSuccessFrame(chunkID: chunkID, runNanoseconds: 12_345, outputs: batch).joined()))
        }
    }

    @Test("Data attachments are flagged in the frame and read into Data, whatever the buffer size", arguments: [16, 100, 64 * 1024])
    func dataAttachmentFrames(bufferSize: Int) throws {
        let items = [randomData(count: 200_000, seed: 7), Data([4, 5]), randomData(count: EncodedItems.attachmentThreshold, seed: 8)]
        let batch = try EncodedItems.encode(items)
        let frame = Array(WorkerMessage.encodeSuccessFrame(chunkID: 5, runNanoseconds: 2, outputs: batch).joined())
        // The attachment table, after marker, message length and count: sizes with the top bit set.
        let sizes = (0..<2).map { index in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(frame[12 + 8 * index + $1]) << (8 * $1) }
        }
        #expect(sizes == [200_000, UInt64(EncodedItems.attachmentThreshold)].map { $0 | FrameReader.collectionFlag })
        let fd = try descriptor(reading: frame + ParentMessage.cancel(chunkIDs: [1]).encodeFrame())
        defer { close(fd) }
        var reader = FrameReader(descriptor: fd, maximumFrameSize: 1 << 20, bufferSize: bufferSize)
        let message = try #require(try reader.withNextFrame { try WorkerMessage.decode($0, attachments: $1) })
        guard case .result(5, 2, .allSucceeded(let outputs)) = message else {
            Issue.record("not the result sent")
            return
        }
        #expect(outputs.attachments.allSatisfy { $0.box != nil })
        #expect(try outputs.decode([Data].self) == items)
        #expect(try reader.withNextFrame { try ParentMessage.decode($0, attachments: $1) } == .cancel(chunkIDs: [1]))
    }

    @Test("a stream that ends inside an attachment is truncated; attachments over the limit are refused")
    func truncatedAndTooLarge() throws {
        let batch = try EncodedItems.encode(EncodedItemsTests.cases[0])
        let frame = Array(WorkerMessage.encodeSuccessFrame(chunkID: 3, runNanoseconds: 1, outputs: batch).joined())
        let cut = try descriptor(reading: Array(frame.dropLast(10)))
        defer { close(cut) }
        var reader = FrameReader(descriptor: cut, maximumFrameSize: 1 << 20)
        #expect(throws: FrameReader.Failure.self) { try reader.withNextFrame { _, _ in 0 } }

        let whole = try descriptor(reading: frame)
        defer { close(whole) }
        var small = FrameReader(descriptor: whole, maximumFrameSize: EncodedItems.attachmentThreshold)
        let buffered = small.hasBufferedFrame
        #expect(!buffered)
        #expect(throws: FrameReader.Failure.self) { try small.withNextFrame { _, _ in 0 } }
    }

    /// Writes all of `bytes` to a socket.
    private func send(_ bytes: some Collection<UInt8>, to fd: Int32) {
        Array(bytes).withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                precondition(written > 0)
                offset += written
            }
        }
    }

    @Test("a reader that does not wait gets nothing yet, then the frame once it is all here, then the end")
    func availableFrames() throws {
        var fds: [Int32] = [0, 0]
        try #require(cmp_socketpair(&fds) == 0)
        defer { close(fds[0]) }
        var reader = FrameReader(descriptor: fds[0], maximumFrameSize: 1 << 20)
        let frame = ParentMessage.cancel(chunkIDs: [7, 8]).encodeFrame()
        let read = { (reader: inout FrameReader) throws -> FrameReader.Available<ParentMessage> in
            try reader.withAvailableFrame(read: true, waitForAttachments: false) { try ParentMessage.decode($0, attachments: $1) }
        }
        guard case .notYet = try read(&reader) else {
            Issue.record("a frame from an empty socket")
            return
        }
        send(frame.prefix(3), to: fds[1])
        guard case .notYet = try read(&reader) else {
            Issue.record("a frame from 3 bytes")
            return
        }
        send(frame.dropFirst(3), to: fds[1])
        guard case .frame(let message) = try read(&reader) else {
            Issue.record("no frame once it was all sent")
            return
        }
        #expect(message == .cancel(chunkIDs: [7, 8]))
        close(fds[1])
        guard case .ended = try read(&reader) else {
            Issue.record("no end after the peer closed")
            return
        }
    }

    @Test("a reader that does not wait leaves a frame whose attachments are still coming to one that does")
    func availableAttachmentFrame() throws {
        var fds: [Int32] = [0, 0]
        try #require(cmp_socketpair(&fds) == 0)
        defer { close(fds[0]) }
        // One 64 KiB attachment: the whole frame fits in the socket's buffer, so this thread can
        // write it all before reading.
        let batch = try EncodedItems.encode(EncodedItemsTests.cases[0])
        try #require(!batch.attachments.isEmpty)
        let frame = Array(WorkerMessage.encodeSuccessFrame(chunkID: 3, runNanoseconds: 1, outputs: batch).joined())
        var reader = FrameReader(descriptor: fds[0], maximumFrameSize: 1 << 24)
        send(frame.prefix(frame.count - 1000), to: fds[1])
        for _ in 0..<3 {
            let available = try reader.withAvailableFrame(read: true, waitForAttachments: false) { _, _ in 0 }
            guard case .notYet = available else {
                Issue.record("a frame with its attachments incomplete")
                return
            }
        }
        send(frame.suffix(1000), to: fds[1])
        close(fds[1])
        let available = try reader.withAvailableFrame(read: true, waitForAttachments: true) { bytes, attachments in
            try WorkerMessage.decode(bytes, attachments: attachments)
        }
        guard case .frame(.result(3, 1, .allSucceeded(let outputs))) = available else {
            Issue.record("no whole frame")
            return
        }
        #expect(try outputs.decode([[UInt8]].self) == EncodedItemsTests.cases[0])
        #expect(try reader.withNextFrame { _, _ in 0 } == nil)
    }
}
