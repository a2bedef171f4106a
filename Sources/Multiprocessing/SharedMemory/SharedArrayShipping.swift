#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Shared arrays sent where their memory cannot be shared (an MPI rank on another host): the
/// bytes a message's handles refer to travel with it, the receiver makes copies its processes
/// map, and the bytes the tasks changed in writable copies come back with the answer, written
/// into the originals before the answer is delivered.
///
/// Shipped message: varint array count; per array its handle (machine u64, owner i32,
/// descriptor i32, inode u64, id u64, varint size, read-only byte), varint range count and per
/// range varint start, varint count and the bytes; varint site count and per site varint offset
/// (in the message) and varint array index; then the message. Answer: varint array count; per
/// array id u64, inode u64, varint range count and per range varint start, varint count and the
/// bytes; then the answer message.
enum SharedArrayShipping {
    /// `message` with the referenced bytes of this process's arrays its handles name, or nil
    /// when it names none (it goes as it is).
    static func ship(_ message: [UInt8]) -> [UInt8]? {
        guard SharedMemoryRegistry.holdsOwned else { return nil }
        let sites = message.withUnsafeBytes {
            EncodedHandles.find(machine: SharedMemoryHandle.thisMachine, owner: getpid(), in: $0)
        }
        guard !sites.isEmpty else { return nil }
        var arrays: [(handle: SharedMemoryHandle, memory: SharedMemory, ranges: [Range<Int>])] = []
        var siteArrays: [(offset: Int, array: Int)] = []
        for site in sites {
            // A handle of an array released since it was encoded stays as it is: the receiver
            // reports it unavailable, as it would here.
            guard let memory = SharedMemoryRegistry.owned(site.handle) else { continue }
            let index =
                arrays.firstIndex { $0.memory === memory }
                ?? {
                    arrays.append((site.handle, memory, []))
                    return arrays.count - 1
                }()
            // A handle encoded before a freeze says writable: the copy is writable too, as the
            // original's mapping would have been.
            if !site.handle.readOnly { arrays[index].handle.readOnly = false }
            arrays[index].ranges.append(site.handle.referenced)
            siteArrays.append((site.offset, index))
        }
        guard !arrays.isEmpty else { return nil }
        let merged = arrays.map { merge($0.ranges) }
        let payload = merged.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } }
        var writer = ByteWriter(capacity: 64 + 64 * arrays.count + 8 * siteArrays.count + payload + message.count)
        writer.writeVarint(UInt64(arrays.count))
        for (array, ranges) in zip(arrays, merged) {
            let handle = array.handle
            writer.writeFixed(handle.machine)
            writer.writeFixed(handle.owner)
            writer.writeFixed(handle.descriptor)
            writer.writeFixed(handle.inode)
            writer.writeFixed(handle.id)
            writer.writeVarint(UInt64(handle.byteCount))
            writer.writeByte(handle.readOnly ? 1 : 0)
            writeRanges(ranges, of: array.memory, to: &writer)
        }
        writer.writeVarint(UInt64(siteArrays.count))
        for site in siteArrays {
            writer.writeVarint(UInt64(site.offset))
            writer.writeVarint(UInt64(site.array))
        }
        writer.writeBytes(message)
        return writer.takeBytes()
    }

    /// Writes the bytes an answer brings back into this process's arrays (those still alive and
    /// writable); returns the answer message that follows them.
    static func receiveAnswer(_ bytes: ArraySlice<UInt8>) throws(BinaryCodingError) -> ArraySlice<UInt8> {
        var reader = ByteReader(bytes)
        let arrays = try reader.readCount(minimumElementSize: 17)
        for _ in 0..<arrays {
            let id = try reader.readFixed(UInt64.self)
            let inode = try reader.readFixed(UInt64.self)
            let memory = SharedMemoryRegistry.ownedMemory(id: id, inode: inode)
            let ranges = try reader.readCount(minimumElementSize: 2)
            for _ in 0..<ranges {
                let (start, content) = try readRange(&reader)
                // An array frozen or released meanwhile is not written: nothing can be.
                guard let memory, !memory.isReadOnly, start + content.count <= memory.handle.byteCount else { continue }
                content.withUnsafeBytes { source in
                    if let from = source.baseAddress { (memory.base + start).copyMemory(from: from, byteCount: source.count) }
                }
            }
        }
        return try reader.readBytes(count: reader.remaining)
    }

    /// Byte ranges sorted, overlapping and adjacent ones joined.
    static func merge(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var merged: [Range<Int>] = []
        for range in ranges.filter({ !$0.isEmpty }).sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    static func writeRanges(_ ranges: [Range<Int>], of memory: SharedMemory, to writer: inout ByteWriter) {
        writer.writeVarint(UInt64(ranges.count))
        for range in ranges {
            writer.writeVarint(UInt64(range.lowerBound))
            writer.writeVarint(UInt64(range.count))
            writer.writeBytes(UnsafeRawBufferPointer(start: memory.base + range.lowerBound, count: range.count))
        }
    }

    static func readRange(_ reader: inout ByteReader) throws(BinaryCodingError) -> (start: Int, bytes: ArraySlice<UInt8>) {
        let start = try reader.readVarint()
        let count = try reader.readVarint()
        guard start <= UInt64(Int.max / 2), count <= UInt64(reader.remaining) else {
            throw .invalidData("a shared array's range of \(count) bytes from \(start) in \(reader.remaining)")
        }
        return (Int(start), try reader.readBytes(count: Int(count)))
    }
}
