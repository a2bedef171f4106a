import CMultiprocessing

/// What a shared array's encoding carries instead of its bytes: where another process of this
/// machine can reopen its memfd (`/proc/OWNER/fd/DESCRIPTOR`), and what to check it is the same
/// file (the inode and size) rather than a later one under a reused descriptor number.
struct SharedMemoryHandle: Sendable, Hashable, Codable {
    /// The machine and pid namespace it was made in (`cmp_shared_machine`): elsewhere the pid
    /// and descriptor name nothing.
    var machine: UInt64
    /// The pid of the process that made it and holds its memfd.
    var owner: Int32
    /// The memfd's descriptor number in the owner.
    var descriptor: Int32
    /// The memfd's inode number.
    var inode: UInt64
    /// A number unique among the owner's shared arrays.
    var id: UInt64
    /// The size of the memory, in bytes.
    var byteCount: Int
    /// Whether the memory is frozen: receivers map it read-only.
    var readOnly: Bool
    /// The first byte the encoded value refers to: 0 for a whole array, a slice's start.
    var referencedStart: Int
    /// How many bytes from ``referencedStart`` the encoded value refers to: where the memory
    /// cannot be shared (another host), only these are copied.
    var referencedCount: Int

    /// The bytes the encoded value refers to.
    var referenced: Range<Int> { referencedStart..<(referencedStart + referencedCount) }

    /// This process's machine and pid namespace.
    static let thisMachine = cmp_shared_machine()

    /// The key under which a receiver caches its mapping.
    var key: Key { Key(owner: owner, id: id, inode: inode) }

    /// A shared array's identity across processes: with the inode, a later owner under a reused
    /// pid is not mistaken for an earlier one.
    struct Key: Hashable, Sendable {
        var owner: Int32
        var id: UInt64
        var inode: UInt64
    }
}

extension SharedMemoryHandle {
    /// Encodes the fields in order, without their names.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(machine)
        try container.encode(owner)
        try container.encode(descriptor)
        try container.encode(inode)
        try container.encode(id)
        try container.encode(byteCount)
        try container.encode(readOnly)
        try container.encode(referencedStart)
        try container.encode(referencedCount)
    }

    /// Decodes what `encode(to:)` wrote.
    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        machine = try container.decode(UInt64.self)
        owner = try container.decode(Int32.self)
        descriptor = try container.decode(Int32.self)
        inode = try container.decode(UInt64.self)
        id = try container.decode(UInt64.self)
        byteCount = try container.decode(Int.self)
        readOnly = try container.decode(Bool.self)
        referencedStart = try container.decode(Int.self)
        referencedCount = try container.decode(Int.self)
        guard referencedStart >= 0, referencedCount >= 0, referencedCount <= byteCount - referencedStart else {
            throw SharedArrayError.invalidArgument(
                "a handle refers to \(referencedCount) bytes from \(referencedStart) of \(byteCount)")
        }
    }
}
