import Multiprocessing

/// Adds 1 to every byte of its slice, in place; returns the process that ran it.
struct AddOneInPlace: PoolTask {
    func run(_ tile: SharedArray<UInt8>.Slice) async throws -> String {
        try tile.withUnsafeMutableBufferPointer { bytes in
            for i in bytes.indices { bytes[i] &+= 1 }
        }
        return CurrentProcess.name
    }
}

/// What a task on a frozen slice saw.
struct FrozenRead: Codable, Sendable {
    var worker: String
    var sum: Int
    var writeRefused: Bool
}

/// Sums its frozen slice and tries to write it.
struct SumFrozen: PoolTask {
    func run(_ tile: SharedArray<Int>.Slice) async throws -> FrozenRead {
        let sum = tile.withUnsafeBufferPointer { $0.reduce(0, +) }
        var refused = false
        do {
            try tile.withUnsafeMutableBufferPointer { $0[0] = -1 }
        } catch SharedArrayError.readOnly {
            refused = true
        }
        return FrozenRead(worker: CurrentProcess.name, sum: sum, writeRefused: refused)
    }
}

/// Fills its slice with 0xEE, then fails when it runs on a rank named in `failOn`.
struct WriteThenFail: PoolTask {
    struct Failed: Error, Codable {}
    var failOn: String
    func run(_ tile: SharedArray<UInt8>.Slice) async throws -> String {
        try tile.withUnsafeMutableBufferPointer { bytes in
            for i in bytes.indices { bytes[i] = 0xEE }
        }
        if CurrentProcess.name.contains(failOn) { throw Failed() }
        return CurrentProcess.name
    }
}

/// Adds 1 to every byte of a copy of its argument, and returns it.
struct AddOneToBytes: PoolTask {
    func run(_ bytes: [UInt8]) async throws -> [UInt8] { bytes.map { $0 &+ 1 } }
}

/// Returns the slice it got.
struct ReturnSlice: PoolTask {
    func run(_ tile: SharedArray<UInt8>.Slice) async throws -> SharedArray<UInt8>.Slice { tile }
}

#if MPI
/// Shared arrays over the ranks; rank 2 is on a host of its own when the test hook says so
/// (`MULTIPROCESSING_MPI_SEPARATE_HOST_RANKS=2`): its tasks then work on copies.
enum SharedArrayScenarios {
    static func run() async throws {
        try await ProcessPool.with(cluster: .mpi) { pool in
            // Writes in place, seen by the caller whichever rank made them.
            let image = try SharedArray<UInt8>((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 % 251) })
            let names = try await pool.map(AddOneInPlace(), image.slices(of: 1 << 16), chunksize: 2)
            let written = image.withUnsafeBufferPointer { bytes in
                bytes.indices.allSatisfy { bytes[$0] == UInt8(truncatingIfNeeded: $0 % 251 + 1) }
            }
            print("inplace \(written) rank2 \(names.filter { $0.contains("@rank2") }.count) of \(names.count)")

            // A frozen array read on every rank; writing it is refused there too.
            let table = try SharedArray<Int>(Array(0..<100_000))
            try table.freeze()
            let reads = try await pool.map(SumFrozen(), table.slices(of: 10_000), chunksize: 1)
            let sums = reads.map(\.sum) == stride(from: 0, to: 100_000, by: 10_000).map { ($0..<($0 + 10_000)).reduce(0, +) }
            print(
                "frozen sums \(sums) refused \(reads.allSatisfy(\.writeRefused)) rank2 \(reads.filter { $0.worker.contains("@rank2") }.count)"
                    + " unchanged \(table[0] == 0)")

            // A task that wrote its slice and then failed on rank 2: nothing of it comes back.
            let canvas = try SharedArray<UInt8>(count: 16 << 10)
            let slices = canvas.slices(of: 1 << 10)
            var outcomes: [Bool] = []
            for try await result in try pool.imap(WriteThenFail(failOn: "@rank2"), slices, chunksize: 1).results {
                if case .success = result { outcomes.append(true) } else { outcomes.append(false) }
            }
            let failedUntouched = zip(slices, outcomes).filter { !$0.1 }.allSatisfy { slice, _ in
                slice.withUnsafeBufferPointer { $0.allSatisfy { $0 == 0 } }
            }
            let succeededWritten = zip(slices, outcomes).filter { $0.1 }.allSatisfy { slice, _ in
                slice.withUnsafeBufferPointer { $0.allSatisfy { $0 == 0xEE } }
            }
            print(
                "error failed \(outcomes.filter { !$0 }.count) of \(outcomes.count) untouched \(failedUntouched) written \(succeededWritten)"
            )

            // A slice returned from any rank is the caller's array again.
            let returned = try await pool.map(ReturnSlice(), image.slices(of: 1 << 16), chunksize: 1)
            returned.last![0] = 200
            print(
                "returned same \(image[(1 << 20) - (1 << 16)] == 200) ranges \(returned.map(\.range) == image.slices(of: 1 << 16).map(\.range))"
            )
        }
    }

    /// For diagnosis: tasks each add 1 to their own slice of one array, over several rounds;
    /// prints the median time and the array's megabytes per second (copied or shared, as the
    /// hook says), then the same for the bytes sent as ordinary arguments and results.
    static func speed() async throws {
        try await ProcessPool.with(cluster: .mpi) { pool in
            let image = try SharedArray<UInt8>(count: 64 << 20)
            var times: [Duration] = []
            for _ in 0..<5 {
                let started = ContinuousClock.now
                _ = try await pool.map(AddOneInPlace(), image.slices(of: 1 << 20), chunksize: 1)
                times.append(ContinuousClock.now - started)
            }
            times.sort()
            let median = times[times.count / 2].components
            let seconds = Double(median.seconds) + Double(median.attoseconds) / 1e18
            print("shared-speed median \(times[times.count / 2]) \(Int(64 / seconds)) MB/s, all 5 added \(image[12345] == 5)")
            // The same bytes as ordinary arguments and results, for comparison.
            let buffers = [[UInt8]](repeating: [UInt8](repeating: 0, count: 1 << 20), count: 64)
            var copying: [Duration] = []
            for _ in 0..<5 {
                let started = ContinuousClock.now
                _ = try await pool.map(AddOneToBytes(), buffers, chunksize: 1)
                copying.append(ContinuousClock.now - started)
            }
            copying.sort()
            print("bytes-speed median \(copying[copying.count / 2])")
        }
    }
}
#endif
