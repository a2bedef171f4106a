import Foundation
import Testing

@testable import Multiprocessing

// Foundation's `Data` takes the paths `[UInt8]` takes: in the coder its bytes are written with one
// copy, and in a batch of `Data` items a large one travels as an attachment. The library does not
// import Foundation; these tests, like a user's program, do.

/// `count` pseudo-random bytes, different for each `seed`.
func randomData(count: Int, seed: UInt64) -> Data {
    var rng = SplitMix64(seed: seed)
    var data = Data(count: count)
    data.withUnsafeMutableBytes { raw in
        for index in raw.indices { raw[index] = UInt8.random(in: 0...255, using: &rng) }
    }
    return data
}

/// A Codable structure holding `Data` among other fields.
struct DataRecord: Codable, Sendable, Equatable {
    var id: Int
    var payload: Data
    var chunks: [Data]
    var note: Data?
    var name: String
}

@Suite("Data in the coder")
struct DataCodingTests {
    @Test("Data is encoded as its bytes, exactly as [UInt8] is")
    func sameBytesAsAnArray() throws {
        for count in [0, 1, 14, 15, 300, 1 << 20] {
            let data = randomData(count: count, seed: UInt64(count))
            #expect(try BinaryEncoder().encode(data) == BinaryEncoder().encode([UInt8](data)))
            #expect(try BinaryDecoder().decode(Data.self, from: BinaryEncoder().encode(data)) == data)
        }
    }

    @Test("Data inside structures, arrays, optionals and dictionaries: its bytes, and back")
    func nested() throws {
        let record = DataRecord(
            id: 7, payload: randomData(count: 1 << 20, seed: 1),
            chunks: [Data(), randomData(count: 3, seed: 2), randomData(count: 70_000, seed: 3)],
            note: nil, name: "r")
        try expectRoundTrip(record)
        var noted = record
        noted.note = Data([0, 255])
        try expectRoundTrip([noted, record])
        try expectRoundTrip(["a": record.payload, "b": Data()])
        let box = GenericBox(value: record.payload, values: record.chunks, optional: Data([9]))
        try expectRoundTrip(box)
        // The megabyte of payload is in the encoding once, not as a tagged element per byte.
        #expect(try BinaryEncoder().encode(record).count < (1 << 20) + 70_000 + 200)
    }

    @Test("a slice of a Data is encoded as the bytes it shows")
    func slices() throws {
        let data = randomData(count: 1000, seed: 4)
        let slice = data[100..<300]
        #expect(try BinaryEncoder().encode(slice) == BinaryEncoder().encode([UInt8](slice)))
        #expect(try roundTrip(slice) == slice)
        #expect(try roundTrip(slice).startIndex == 0)
    }
}

@Suite("Data sent as attachments")
struct DataBatchTests {
    static let big = EncodedItems.attachmentThreshold

    @Test("large Data items become attachments and decode back")
    func attachments() throws {
        let cases: [[Data]] = [
            [randomData(count: Self.big, seed: 1)],
            [Data(), randomData(count: Self.big + 1, seed: 2), Data([1, 2, 3])],
            [Data([9]), randomData(count: 300_000, seed: 3), randomData(count: Self.big - 1, seed: 4), Data()],
        ]
        for items in cases {
            let batch = try EncodedItems.encode(items)
            #expect(batch.attachments.count == items.filter { $0.count >= Self.big }.count)
            let small = items.filter { $0.count < Self.big }.reduce(0) { $0 + $1.count }
            #expect(batch.bytes.count <= 8 + small + 3 * items.count)
            #expect(try batch.decode([Data].self) == items)
        }
    }

    @Test("without a large item the batch is exactly BinaryEncoder's encoding")
    func plain() throws {
        let items = [Data([1, 2]), Data()]
        #expect(try EncodedItems.encode(items) == EncodedItems(bytes: try BinaryEncoder().encode(items)[...]))
        #expect(try EncodedItems.encode(items).decode([Data].self) == items)
    }
}

@Suite("Data through a pool", .timeLimit(.minutes(2)))
struct DataPoolTests {
    @Test("Data inputs and results of every size come back bit for bit")
    func sizes() async throws {
        let sizes = [0, 1, 14, 15, 1000, EncodedItems.attachmentThreshold - 1, EncodedItems.attachmentThreshold, (1 << 20) + 3]
        let inputs = sizes.enumerated().map { randomData(count: $0.element, seed: UInt64($0.offset)) }
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                #expect(try await pool.map(Identity<Data>(), inputs, chunksize: 1) == inputs)
                #expect(try await pool.map(Identity<Data>(), inputs, chunksize: 3) == inputs)
                #expect(try await pool.map(DataDigest(), inputs) == inputs.map(DataDigest.digest))
                #expect(try await pool.apply(Identity<Data>(), inputs.last!) == inputs.last!)
                let slice = inputs.last![5..<(1 << 20)]
                #expect(try await pool.apply(Identity<Data>(), slice) == slice)
            }
        }
    }

    @Test("[Data] items of mixed sizes and Data inside structures come back as they went")
    func nested() async throws {
        let chunks = [Data(), randomData(count: 7, seed: 1), randomData(count: 200_000, seed: 2), randomData(count: 65_536, seed: 3)]
        let record = DataRecord(id: 1, payload: randomData(count: 1 << 20, seed: 4), chunks: chunks, note: Data([1]), name: "x")
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                #expect(try await pool.map(Identity<[Data]>(), [chunks, [], chunks.reversed()]) == [chunks, [], chunks.reversed()])
                #expect(try await pool.map(Identity<DataRecord>(), [record, record]) == [record, record])
                #expect(try await pool.apply(Identity<Data?>(), record.payload) == record.payload)
            }
        }
    }

    @Test("a 16 MiB Data result comes back equal")
    func largeResult() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let results = try await pool.map(MakeData(), [16 << 20, 3])
                #expect(results.map(\.count) == [16 << 20, 3])
                #expect(results[0] == MakeData.make(count: 16 << 20))
                #expect(results[1] == MakeData.make(count: 3))
            }
        }
    }
}

/// The sum and length of a Data's bytes, computed in the worker from the bytes it received.
struct DataDigest: PoolTask {
    static func digest(_ data: Data) -> [Int] { [data.count, data.reduce(0) { $0 &+ Int($1) }] }
    func run(_ data: Data) async throws -> [Int] { Self.digest(data) }
}

/// A Data made in the worker: the issue's `Data(count:)`, with a pattern so that bytes out of
/// place show.
struct MakeData: PoolTask {
    static func make(count: Int) -> Data {
        var data = Data(count: count)
        data.withUnsafeMutableBytes { raw in
            for index in stride(from: 0, to: raw.count, by: 4093) { raw[index] = UInt8(truncatingIfNeeded: index / 4093 + 1) }
        }
        return data
    }

    func run(_ count: Int) async throws -> Data { Self.make(count: count) }
}
