import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Shared arrays and recycled workers: a process of its own, so that its descriptors and
// mappings are the pool's and the arrays' and nothing else's.

/// Adds 1 to every byte of its slice, in place.
struct IncrementSlice: PoolTask {
    func run(_ slice: SharedArray<UInt8>.Slice) async throws -> Int {
        try slice.withUnsafeMutableBufferPointer { bytes in
            for index in bytes.indices { bytes[index] &+= 1 }
        }
        return slice.count
    }
}

extension Probe {
    /// 10 000 calls, one item each, on 100 arrays made and released in turn, by two workers
    /// replaced every 100 tasks. Prints "shared-leaks WRONG FDS-BEFORE FDS-AFTER MAPS-BEFORE
    /// MAPS-AFTER", counting this process's descriptors and its mappings of shared arrays before
    /// the pool (after a first one) and after it is joined.
    static func sharedArrayLeaks() async throws {
        // A first pool makes what the process keeps for every later pool (the standard error
        // relay's thread and its descriptors), so that "before" counts them.
        try await ProcessPool.with(processes: 2) { pool in _ = try await pool.map(IncrementSlice(), [SharedArray<UInt8>(count: 1)[0..<1]]) }
        let before = (descriptors: settledDescriptors(atMost: nil), mappings: sharedMappings())
        var wrong = 0
        try await ProcessPool.with(processes: 2, maxTasksPerChild: 100) { pool in
            for _ in 0..<100 {
                let array = try SharedArray<UInt8>(count: 100 * 4096)
                let counts = try await pool.map(IncrementSlice(), array.slices(of: 4096), chunksize: 1)
                if counts.count != 100 || !array.withUnsafeBufferPointer({ $0.allSatisfy { $0 == 1 } }) { wrong += 1 }
            }
        }
        let after = (descriptors: settledDescriptors(atMost: before.descriptors), mappings: sharedMappings())
        print("shared-leaks \(wrong) \(before.descriptors) \(after.descriptors) \(before.mappings) \(after.mappings)")
    }

    /// The number of this process's mappings of shared arrays.
    private static func sharedMappings() -> Int {
        var mappings = 0
        if let file = fopen("/proc/self/maps", "r") {
            var line = [CChar](repeating: 0, count: 4096)
            while fgets(&line, Int32(line.count), file) != nil {
                let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                if text.contains("swift-multiprocessing-shared-array") { mappings += 1 }
            }
            fclose(file)
        }
        return mappings
    }
}
