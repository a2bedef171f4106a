import CMultiprocessing

/// Where shared arrays' handles sit in encoded bytes (a chunk's frame, a result's), found and
/// rewritten without decoding the values around them: what lets a process that cannot decode
/// the items (an MPI rank relaying a chunk to its pool) copy the arrays they refer to.
///
/// A handle's encoding is `BinaryEncoder`'s unkeyed container of its nine fields, each a tag byte
/// (1, inline) then the value, little endian: a fixed 70 bytes that begin with the element
/// count (9), the machine and the owner's pid. A search for those bytes finds every handle of
/// one process; the other fields are then checked where they must be. User bytes that spell a
/// live array's handle exactly (machine hash, pid, descriptor, inode and id) would be taken for
/// one.
enum EncodedHandles {
    /// The size of a handle's encoding.
    static let byteCount = 70

    private static let machineOffset = 5
    private static let ownerOffset = 14
    private static let descriptorOffset = 19
    private static let inodeOffset = 24
    private static let idOffset = 33
    private static let byteCountOffset = 42
    private static let readOnlyOffset = 51
    private static let referencedStartOffset = 53
    private static let referencedCountOffset = 62
    /// Where the tag bytes are: each field's offset minus one.
    private static let tagOffsets = [4, 13, 18, 23, 32, 41, 50, 52, 61]

    /// The bytes every handle made on `machine` by process `owner` begins with.
    static func prefix(machine: UInt64, owner: Int32) -> [UInt8] {
        var writer = ByteWriter(capacity: 18)
        writer.writeFixed(UInt32(9))
        writer.writeByte(1)
        writer.writeFixed(machine)
        writer.writeByte(1)
        writer.writeFixed(owner)
        return writer.takeBytes()
    }

    /// The handles made on `machine` by process `owner` in `bytes`, with their offsets.
    static func find(machine: UInt64, owner: Int32, in bytes: UnsafeRawBufferPointer) -> [(offset: Int, handle: SharedMemoryHandle)] {
        guard let base = bytes.baseAddress, bytes.count >= byteCount else { return [] }
        let prefix = prefix(machine: machine, owner: owner)
        var found: [(offset: Int, handle: SharedMemoryHandle)] = []
        var from = 0
        while from <= bytes.count - byteCount {
            let offset = prefix.withUnsafeBytes { cmp_find_bytes(base, bytes.count, from, $0.baseAddress, $0.count) }
            guard offset >= 0, offset <= bytes.count - byteCount else { break }
            if let handle = handle(at: offset, in: bytes) {
                found.append((offset, handle))
                from = offset + byteCount
            } else {
                from = offset + 1
            }
        }
        return found
    }

    /// The handle whose encoding starts at `offset`, or nil when the bytes there are not one.
    static func handle(at offset: Int, in bytes: UnsafeRawBufferPointer) -> SharedMemoryHandle? {
        guard offset >= 0, offset <= bytes.count - byteCount else { return nil }
        let site = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + byteCount)])
        guard site.loadUnaligned(as: UInt32.self).littleEndian == 9, tagOffsets.allSatisfy({ site[$0] == 1 }),
            site[readOnlyOffset] <= 1
        else { return nil }
        func load<T: FixedWidthInteger>(_ at: Int, as _: T.Type) -> T {
            T(littleEndian: site.loadUnaligned(fromByteOffset: at, as: T.self))
        }
        let handle = SharedMemoryHandle(
            machine: load(machineOffset, as: UInt64.self), owner: load(ownerOffset, as: Int32.self),
            descriptor: load(descriptorOffset, as: Int32.self), inode: load(inodeOffset, as: UInt64.self),
            id: load(idOffset, as: UInt64.self), byteCount: load(byteCountOffset, as: Int.self), readOnly: site[readOnlyOffset] == 1,
            referencedStart: load(referencedStartOffset, as: Int.self), referencedCount: load(referencedCountOffset, as: Int.self))
        guard handle.byteCount >= 0, handle.referencedStart >= 0, handle.referencedCount >= 0,
            handle.referencedCount <= handle.byteCount - handle.referencedStart
        else { return nil }
        return handle
    }

    /// Makes the handle at `offset` name `identity`'s memory (its machine, owner, descriptor,
    /// inode and id), keeping its size, read-only flag and referenced bytes: the encoding keeps
    /// its length, so nothing around it moves.
    static func rename(at offset: Int, in bytes: UnsafeMutableRawBufferPointer, to identity: SharedMemoryHandle) {
        precondition(offset >= 0 && offset <= bytes.count - byteCount, "a handle's site \(offset) outside \(bytes.count) bytes")
        bytes.storeBytes(of: identity.machine.littleEndian, toByteOffset: offset + machineOffset, as: UInt64.self)
        bytes.storeBytes(of: identity.owner.littleEndian, toByteOffset: offset + ownerOffset, as: Int32.self)
        bytes.storeBytes(of: identity.descriptor.littleEndian, toByteOffset: offset + descriptorOffset, as: Int32.self)
        bytes.storeBytes(of: identity.inode.littleEndian, toByteOffset: offset + inodeOffset, as: UInt64.self)
        bytes.storeBytes(of: identity.id.littleEndian, toByteOffset: offset + idOffset, as: UInt64.self)
    }
}
