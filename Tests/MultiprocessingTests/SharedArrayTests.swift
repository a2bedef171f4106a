import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Adds `amount` to every byte of its slice, in place; returns the worker's pid.
struct AddInPlace: PoolTask {
    var amount: UInt8
    func run(_ slice: SharedArray<UInt8>.Slice) async throws -> Int32 {
        try slice.withUnsafeMutableBufferPointer { bytes in
            for index in bytes.indices { bytes[index] &+= amount }
        }
        return getpid()
    }
}

/// Sums a slice of floats through a `Span`.
struct SumFloats: PoolTask {
    func run(_ slice: SharedArray<Float>.Slice) async throws -> Double {
        slice.withSpan { span in
            var sum = 0.0
            for index in span.indices { sum += Double(span[index]) }
            return sum
        }
    }
}

/// The README's example task: halves its tile in place and sums it.
struct Blur: PoolTask {
    func run(_ tile: SharedArray<Float>.Slice) async throws -> Double {
        try tile.withUnsafeMutableBufferPointer { values in
            var sum = 0.0
            for i in values.indices {
                values[i] *= 0.5
                sum += Double(values[i])
            }
            return sum
        }
    }
}

/// Writes through a pointer the frozen array gave read-only: the worker's mapping is read-only,
/// so the write faults and the worker dies instead of changing the caller's data.
struct WriteThroughReadOnlyPointer: PoolTask {
    func run(_ slice: SharedArray<UInt8>.Slice) async throws -> Int {
        slice.withUnsafeBufferPointer { bytes in
            UnsafeMutablePointer(mutating: bytes.baseAddress!).pointee = 99
        }
        return 0
    }
}

/// Writes 7 to the first half of its slice, then is SIGKILLed before the second half.
struct KilledMidWrite: PoolTask {
    func run(_ slice: SharedArray<UInt8>.Slice) async throws -> Int {
        try slice.withUnsafeMutableBufferPointer { bytes in
            for index in 0..<bytes.count / 2 { bytes[index] = 7 }
        }
        raise(SIGKILL)
        return 0
    }
}

/// How many other processes' shared arrays the worker keeps mapped, after reading its slice.
struct ReceivedMappings: PoolTask {
    func run(_ slice: SharedArray<Int64>.Slice) async throws -> Int {
        slice.withUnsafeBufferPointer { _ in SharedMemoryRegistry.receivedCount }
    }
}

@Suite("SharedArray", .timeLimit(.minutes(3)))
struct SharedArrayTests {
    @Test("made from a count (zeros) or an array; read, written, sliced and encoded as a handle in this process")
    func basics() throws {
        let zeros = try SharedArray<Float>(count: 1000)
        #expect(zeros.toArray() == [Float](repeating: 0, count: 1000))
        let values = try SharedArray<Int32>([1, 2, 3, 4, 5])
        values[1] = 20
        #expect(values.toArray() == [1, 20, 3, 4, 5])
        #expect(values.slices(of: 2).map(\.range) == [0..<2, 2..<4, 4..<5])
        try values[2..<4].withMutableSpan { span in span[0] = 30 }
        #expect(values[2..<4][0] == 30)
        // The encoding is a handle, not the elements: the same memory decodes back here.
        let large = try SharedArray<UInt8>(count: 1 << 20)
        let bytes = try BinaryEncoder().encode(large[10..<20])
        #expect(bytes.count < 256, "\(bytes.count) bytes")
        let back = try BinaryDecoder().decode(SharedArray<UInt8>.Slice.self, from: bytes)
        #expect(back.base.memory === large.memory && back.range == 10..<20)
        #expect(throws: SharedArrayError.self) { try SharedArray<UInt8>(count: -1) }
    }

    @Test("a handle whose array was released, or that was made on another machine, decodes to SharedArrayError.unavailable")
    func unavailable() throws {
        let bytes: [UInt8]
        do {
            let released = try SharedArray<UInt8>(count: 4096)
            bytes = try BinaryEncoder().encode(released)
        }
        let error = #expect(throws: SharedArrayError.self) { _ = try BinaryDecoder().decode(SharedArray<UInt8>.self, from: bytes) }
        guard case .unavailable? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        let live = try SharedArray<UInt8>(count: 4096)
        var handle = live.memory.handle
        handle.machine &+= 1
        let foreign = #expect(throws: SharedArrayError.self) { _ = try SharedMemoryRegistry.memory(for: handle) }
        guard case .unavailable(let why)? = foreign, why.contains("another machine") else {
            Issue.record("\(String(describing: foreign))")
            return
        }
    }

    @Test("workers write in place: the caller sees every slice's bytes changed, and reads floats through Span")
    func inPlaceWrites() async throws {
        try await withDeadline(60) { () async throws in
            let buffer = try SharedArray<UInt8>(count: 1 << 20)
            let floats = try SharedArray<Float>((0..<4096).map { Float($0) })
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                let pids = try await pool.map(AddInPlace(amount: 1), buffer.slices(of: 64 << 10))
                #expect(!pids.contains(getpid()))
                _ = try await pool.map(AddInPlace(amount: 2), buffer.slices(of: 100_000))
                let sums = try await pool.map(SumFloats(), floats.slices(of: 1024))
                #expect(sums.reduce(0, +) == Double(4095 * 4096 / 2))
                // The README's example, smaller.
                let image = try SharedArray<Float>(count: 1 << 16)
                try image.withUnsafeMutableBufferPointer { $0.update(repeating: 1) }
                let halves = try await pool.map(Blur(), image.slices(of: 1 << 12))
                #expect(halves == [Double](repeating: 2048, count: 16))
                #expect(image.withUnsafeBufferPointer { $0.allSatisfy { $0 == 0.5 } })
            }
            #expect(buffer.withUnsafeBufferPointer { $0.allSatisfy { $0 == 3 } })
        }
    }

    @Test("a frozen array: its writers throw SharedArrayError.readOnly, a forced write kills the worker, the caller's data unchanged")
    func readOnly() async throws {
        try await withDeadline(60) { () async throws in
            let buffer = try SharedArray<UInt8>([UInt8](repeating: 5, count: 8192))
            try buffer.freeze()
            #expect(buffer.isReadOnly)
            #expect(throws: SharedArrayError.readOnly) { try buffer.withUnsafeMutableBufferPointer { $0[0] = 1 } }
            try await ProcessPool.with(processes: 2) { (pool: ProcessPool) async throws in
                await #expect(throws: SharedArrayError.readOnly) {
                    _ = try await pool.map(AddInPlace(amount: 1), buffer.slices(of: 4096))
                }
                let error = await #expect(throws: PoolError.self) {
                    _ = try await pool.apply(WriteThroughReadOnlyPointer(), buffer[0..<10])
                }
                #expect(error?.code == .workerDied)
            }
            #expect(buffer.withUnsafeBufferPointer { $0.allSatisfy { $0 == 5 } })
            // Frozen after a worker mapped it writable: refused, and it stays writable.
            let shared = try SharedArray<UInt8>(count: 4096)
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                _ = try await pool.map(AddInPlace(amount: 1), [shared[0..<4096]])
                #expect(throws: SharedArrayError.self) { try shared.freeze() }
            }
            #expect(!shared.isReadOnly)
            shared[0] = 9
            #expect(shared[0] == 9 && shared[1] == 1)
        }
    }

    @Test("a worker killed mid-write: the writes it made stay, the array stays usable in the caller")
    func killedMidWrite() async throws {
        try await withDeadline(60) { () async throws in
            let buffer = try SharedArray<UInt8>(count: 8192)
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let error = await #expect(throws: PoolError.self) {
                    _ = try await pool.apply(KilledMidWrite(), buffer[0..<8192])
                }
                #expect(error?.code == .workerDied)
                let bytes = buffer.toArray()
                #expect(bytes[..<4096].allSatisfy { $0 == 7 } && bytes[4096...].allSatisfy { $0 == 0 })
                // The replacement worker maps it again and writes it.
                _ = try await pool.map(AddInPlace(amount: 1), buffer.slices(of: 1024))
            }
            let bytes = buffer.toArray()
            #expect(bytes[..<4096].allSatisfy { $0 == 8 } && bytes[4096...].allSatisfy { $0 == 1 })
        }
    }

    @Test("a worker maps an array once for its tasks, and drops the mapping once the caller released the array")
    func workersCacheMappings() async throws {
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                for _ in 0..<3 {
                    let array = try SharedArray<Int64>(count: 1 << 16)
                    let counts = try await pool.map(ReceivedMappings(), array.slices(of: 1 << 10))
                    #expect(counts.allSatisfy { $0 == 1 }, "\(counts)")
                }
            }
        }
    }

    @Test(
        "10 000 calls with workers recycled by maxTasksPerChild, 100 arrays made and released: no descriptor or mapping left in the caller")
    func noLeakUnderRecycling() async throws {
        try await withDeadline(150) { () async throws in
            // A process of its own, so that no other test's descriptors are counted.
            let probe = try ProbeProcess.start(["shared-array-leaks"])
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(status == 0, "\(lines)")
            let fields = try #require(lines.first { $0.hasPrefix("shared-leaks ") }).split(separator: " ").compactMap { Int($0) }
            try #require(fields.count == 5, "\(lines)")
            #expect(fields[0] == 0, "wrong results: \(lines)")
            #expect(fields[1] == fields[2], "descriptors before and after: \(lines)")
            #expect(fields[3] == 0 && fields[4] == 0, "shared-array mappings before and after: \(lines)")
        }
    }
}
