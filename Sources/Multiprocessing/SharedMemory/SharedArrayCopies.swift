#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The copies a message's shared arrays got in this process (see ``SharedArrayShipping``): the
/// memory its pool's workers map instead of the originals, held until the answer is sent.
final class SharedArrayCopies: Sendable {
    struct Copy: Sendable {
        /// The array's handle where it was made.
        let original: SharedMemoryHandle
        let local: SharedMemory
        /// The bytes that came, where they came: what the answer compares the copy with, so
        /// that only the bytes the tasks changed go back.
        let shipped: [(start: Int, bytes: ArraySlice<UInt8>)]
    }

    let copies: [Copy]

    private init(copies: [Copy]) {
        self.copies = copies
    }

    /// Reads a shipped message and makes the copies it carries: the message, its handles naming
    /// the copies, and them; when the copies cannot be made (no memory for them), the message
    /// as it came and why. Throws when the bytes are not a shipped message.
    static func receive(_ bytes: ArraySlice<UInt8>) throws(BinaryCodingError) -> (
        message: [UInt8], copies: Result<SharedArrayCopies, SharedArrayError>
    ) {
        var reader = ByteReader(bytes)
        let count = try reader.readCount(minimumElementSize: 36)
        var arrays: [(original: SharedMemoryHandle, ranges: [(start: Int, bytes: ArraySlice<UInt8>)])] = []
        for _ in 0..<count {
            let machine = try reader.readFixed(UInt64.self)
            let owner = try reader.readFixed(Int32.self)
            let descriptor = try reader.readFixed(Int32.self)
            let inode = try reader.readFixed(UInt64.self)
            let id = try reader.readFixed(UInt64.self)
            let size = try reader.readVarint()
            let readOnly = try reader.readByte() == 1
            guard size <= UInt64(Int.max / 2) else { throw .invalidData("a shared array of \(size) bytes") }
            let original = SharedMemoryHandle(
                machine: machine, owner: owner, descriptor: descriptor, inode: inode, id: id, byteCount: Int(size),
                readOnly: readOnly, referencedStart: 0, referencedCount: Int(size))
            let rangeCount = try reader.readCount(minimumElementSize: 2)
            var ranges: [(start: Int, bytes: ArraySlice<UInt8>)] = []
            for _ in 0..<rangeCount {
                let range = try SharedArrayShipping.readRange(&reader)
                guard range.start + range.bytes.count <= original.byteCount else {
                    throw .invalidData("\(range.bytes.count) bytes from \(range.start) in a shared array of \(original.byteCount)")
                }
                ranges.append(range)
            }
            arrays.append((original, ranges))
        }
        let siteCount = try reader.readCount(minimumElementSize: 2)
        var sites: [(offset: Int, copy: Int)] = []
        for _ in 0..<siteCount {
            let offset = try reader.readVarint()
            let copy = try reader.readVarint()
            guard copy < UInt64(arrays.count) else { throw .invalidData("a handle of shared array \(copy) of \(arrays.count)") }
            sites.append((Int(clamping: offset), Int(copy)))
        }
        var message = Array(try reader.readBytes(count: reader.remaining))
        for site in sites where site.offset > message.count - EncodedHandles.byteCount {
            throw .invalidData("a shared array's handle at \(site.offset) of \(message.count) bytes")
        }
        var copies: [Copy] = []
        do throws(SharedArrayError) {
            for (original, ranges) in arrays {
                // The copy has the original's size, so offsets mean the same; a memfd's pages
                // that are never written take no memory.
                let local = try SharedMemory(byteCount: original.byteCount)
                for range in ranges {
                    range.bytes.withUnsafeBytes { source in
                        if let from = source.baseAddress { (local.base + range.start).copyMemory(from: from, byteCount: source.count) }
                    }
                }
                if original.readOnly { try local.freeze() }
                copies.append(Copy(original: original, local: local, shipped: ranges))
            }
        } catch {
            return (message, .failure(error))
        }
        message.withUnsafeMutableBytes { buffer in
            for site in sites { EncodedHandles.rename(at: site.offset, in: buffer, to: copies[site.copy].local.currentHandle) }
        }
        return (message, .success(SharedArrayCopies(copies: copies)))
    }

    /// The answer for `message` (a result): handles of the copies it returns name the originals
    /// again, and when `writeBack`, the bytes of the writable copies that differ from what came
    /// go first (bytes a task did not change are not written back, so they cannot undo another
    /// writer's). Throws when the answer would exceed `limit` bytes (an MPI message's size):
    /// sent, it would be dropped and the caller would wait for it forever.
    func answer(_ message: [UInt8], writeBack: Bool, limit: Int = Int(Int32.max)) throws(PoolError) -> [UInt8] {
        var message = message
        message.withUnsafeMutableBytes { buffer in
            for site in EncodedHandles.find(machine: SharedMemoryHandle.thisMachine, owner: getpid(), in: UnsafeRawBufferPointer(buffer)) {
                guard let copy = copies.first(where: { $0.local.handle.id == site.handle.id && $0.local.handle.inode == site.handle.inode })
                else { continue }
                EncodedHandles.rename(at: site.offset, in: buffer, to: copy.original)
            }
        }
        // An upper bound of the answer's size, counted as the changes are found: they stop
        // once it passes the limit, so a task that changes every other byte of a large slice
        // does not first make an unbounded list of runs.
        var size = 16 + message.count
        var returned: [(Copy, [Range<Int>])] = []
        for copy in writeBack ? copies.filter({ !$0.original.readOnly }) : [] {
            size += 32
            guard size <= limit, let changed = Self.changes(of: copy, budget: limit - size) else {
                throw Self.tooLarge(limit: limit)
            }
            size += changed.reduce(0) { $0 + Self.rangeOverhead + $1.count }
            returned.append((copy, changed))
        }
        guard size <= limit else { throw Self.tooLarge(limit: limit) }
        var writer = ByteWriter(capacity: size)
        writer.writeVarint(UInt64(returned.count))
        for (copy, changed) in returned {
            writer.writeFixed(copy.original.id)
            writer.writeFixed(copy.original.inode)
            SharedArrayShipping.writeRanges(changed, of: copy.local, to: &writer)
        }
        writer.writeBytes(message)
        return writer.takeBytes()
    }

    /// The most bytes a changed run's start and count take on the wire (two varints).
    static let rangeOverhead = 20

    /// Why an answer is not sent: what the tasks changed is too much for one message.
    static func tooLarge(limit: Int) -> PoolError {
        PoolError(
            .messageTooLarge,
            "the bytes the tasks changed in the chunk's shared arrays are too large to send back from another host "
                + "(more than \(limit) bytes with the results, or scattered in too many runs); "
                + "pass smaller slices (or smaller chunks) so each chunk changes fewer bytes")
    }

    /// The byte ranges of `copy` that differ from what came: compared a block at a time, and
    /// byte by byte in the blocks that differ. Nil once the runs would take more than `budget`
    /// bytes on the wire.
    static func changes(of copy: Copy, budget: Int = .max) -> [Range<Int>]? {
        let block = 64
        var changed: [Range<Int>] = []
        var used = 0
        var overBudget = false
        // Records a run; false once the budget is spent.
        func record(_ run: Range<Int>) -> Bool {
            used += rangeOverhead + run.count
            guard used <= budget else {
                overBudget = true
                return false
            }
            changed.append(run)
            return true
        }
        for (start, bytes) in copy.shipped {
            bytes.withUnsafeBytes { came in
                guard let cameBase = came.baseAddress else { return }
                let now = UnsafeRawPointer(copy.local.base + start)
                // The run of changed bytes being measured, by its first offset (-1: none).
                var runStart = -1
                var offset = 0
                while offset < came.count {
                    let length = min(block, came.count - offset)
                    if memcmp(now + offset, cameBase + offset, length) == 0 {
                        if runStart >= 0, !record((start + runStart)..<(start + offset)) { return }
                        runStart = -1
                    } else {
                        for i in offset..<(offset + length) {
                            let differs = now.load(fromByteOffset: i, as: UInt8.self) != cameBase.load(fromByteOffset: i, as: UInt8.self)
                            if differs, runStart < 0 {
                                runStart = i
                            } else if !differs, runStart >= 0 {
                                if !record((start + runStart)..<(start + i)) { return }
                                runStart = -1
                            }
                        }
                    }
                    offset += length
                }
                if runStart >= 0 { _ = record((start + runStart)..<(start + came.count)) }
            }
            if overBudget { return nil }
        }
        return changed
    }
}
