import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One shared array's memory as mapped in this process: a memfd made here (its owner) or one
/// reopened from the owner's descriptor through `/proc/OWNER/fd/FD` (see ``SharedMemoryHandle``).
///
/// The owner keeps the memfd open for the object's life; any other process closes its copy as
/// soon as it has mapped it, so a mapping is the only thing it holds. The kernel frees the memory
/// when the last descriptor and mapping are gone, in whatever order the processes end.
///
/// `@unchecked Sendable`: every stored property is set in `init` and never changed except
/// `frozen`, an `Atomic`; `base` points at the mapping, which lives until `deinit`. The bytes
/// there are reached only through ``SharedArray``'s unsafe-pointer accessors, whose callers own
/// the exclusivity of their accesses as with any `UnsafeMutableBufferPointer`.
final class SharedMemory: @unchecked Sendable {
    /// What another process needs to reopen it.
    let handle: SharedMemoryHandle
    /// The start of the mapping (page-aligned).
    let base: UnsafeMutableRawPointer
    /// The owner's memfd; -1 in any other process.
    private let descriptor: Int32
    /// Set once by `freeze()` (or from the start when received frozen).
    private let frozen: Atomic<Bool>

    /// Whether it is read-only.
    var isReadOnly: Bool { frozen.load(ordering: .acquiring) }

    /// A new memfd of `byteCount` zero bytes, mapped read-write, owned by this process.
    init(byteCount: Int) throws(SharedArrayError) {
        guard byteCount >= 0 else { throw .invalidArgument("a negative size (\(byteCount) bytes)") }
        let fd = cmp_shared_create(byteCount)
        guard fd >= 0 else { throw .systemCallFailed("memfd_create/ftruncate: \(systemErrorText(-fd))") }
        guard let base = cmp_shared_map(fd, byteCount, 1) else {
            let error = errno
            close(fd)
            throw .systemCallFailed("mmap of \(byteCount) bytes: \(systemErrorText(error))")
        }
        self.base = base
        descriptor = fd
        frozen = Atomic(false)
        handle = SharedMemoryHandle(
            machine: SharedMemoryHandle.thisMachine, owner: getpid(), descriptor: fd, inode: cmp_shared_inode(fd),
            id: SharedMemoryRegistry.nextID(), byteCount: byteCount,
            readOnly: false, referencedStart: 0, referencedCount: byteCount)
        SharedMemoryRegistry.registerOwned(self)
    }

    /// Another process's memory, reopened and mapped (read-only if the handle says so).
    init(receiving handle: SharedMemoryHandle) throws(SharedArrayError) {
        let fd = cmp_shared_open(handle.owner, handle.descriptor, handle.inode, handle.byteCount, handle.readOnly ? 0 : 1)
        guard fd >= 0 else {
            if -fd == ESTALE || -fd == ENOENT || -fd == ESRCH {
                throw .unavailable("process \(handle.owner) no longer holds it (released, or the process ended)")
            }
            throw .systemCallFailed("open of /proc/\(handle.owner)/fd/\(handle.descriptor): \(systemErrorText(-fd))")
        }
        defer { close(fd) }
        guard let base = cmp_shared_map(fd, handle.byteCount, handle.readOnly ? 0 : 1) else {
            throw .systemCallFailed("mmap of \(handle.byteCount) bytes: \(systemErrorText(errno))")
        }
        self.base = base
        self.handle = handle
        descriptor = -1
        frozen = Atomic(handle.readOnly)
    }

    /// Makes it read-only for good: this process's mapping becomes read-only, and the memfd is
    /// sealed, so no process can map it writable or write it. Only its owner can freeze it, and
    /// only while no other process maps it writable.
    func freeze() throws(SharedArrayError) {
        if isReadOnly { return }
        guard descriptor >= 0 else {
            throw .invalidArgument("only the process that made a shared array can freeze it (process \(handle.owner))")
        }
        let rc = cmp_shared_freeze(descriptor, base, handle.byteCount)
        guard rc == 0 else {
            if -rc == EBUSY {
                throw .systemCallFailed(
                    "F_SEAL_WRITE: another process still maps it writable (a worker that received it before); freeze it before sharing it")
            }
            throw .systemCallFailed("freezing: \(systemErrorText(-rc))")
        }
        frozen.store(true, ordering: .releasing)
    }

    /// The handle to send now: read-only once frozen.
    var currentHandle: SharedMemoryHandle {
        var handle = handle
        handle.readOnly = isReadOnly
        return handle
    }

    deinit {
        cmp_shared_unmap(base, handle.byteCount)
        if descriptor >= 0 {
            close(descriptor)
            SharedMemoryRegistry.forgetOwned(handle.id)
        }
    }
}
