import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The shared arrays this process knows: those it made (weakly, so that one coming back in a
/// result decodes to the same memory), and the mappings of other processes' arrays it received.
///
/// A received mapping is kept after the value that received it is gone, so that a worker maps
/// a buffer once for all the tasks that use it, not once per task. A mapping is dropped once its
/// owner no longer holds the memfd (it released the array, or ended): checked whenever another
/// array arrives, so a process keeps at most the arrays still alive plus those released since
/// the last arrival, and a worker's are all gone when it exits.
enum SharedMemoryRegistry {
    private struct WeakMemory {
        weak var memory: SharedMemory?
    }

    private static let owned = Mutex<[UInt64: WeakMemory]>([:])
    private static let received = Mutex<[SharedMemoryHandle.Key: SharedMemory]>([:])
    private static let ids = Atomic<UInt64>(0)
    /// How many arrays made here are alive: a message needs no search for their handles when
    /// there are none.
    private static let liveOwned = Atomic<Int>(0)

    /// A new id for an array made here.
    static func nextID() -> UInt64 {
        ids.add(1, ordering: .relaxed).newValue
    }

    static func registerOwned(_ memory: SharedMemory) {
        owned.withLock { $0[memory.handle.id] = WeakMemory(memory: memory) }
        liveOwned.add(1, ordering: .relaxed)
    }

    static func forgetOwned(_ id: UInt64) {
        owned.withLock { entries in
            if entries[id]?.memory == nil { entries[id] = nil }
        }
        liveOwned.subtract(1, ordering: .relaxed)
    }

    /// Whether this process holds arrays it made.
    static var holdsOwned: Bool { liveOwned.load(ordering: .relaxed) > 0 }

    /// The array made here under `handle`'s id, if it is alive and is the one the handle names.
    static func owned(_ handle: SharedMemoryHandle) -> SharedMemory? {
        guard let memory = ownedMemory(id: handle.id, inode: handle.inode) else { return nil }
        guard memory.handle.descriptor == handle.descriptor, memory.handle.byteCount == handle.byteCount else { return nil }
        return memory
    }

    /// The array made here with id `id`, if it is alive and its memfd has inode `inode`.
    static func ownedMemory(id: UInt64, inode: UInt64) -> SharedMemory? {
        guard let memory = owned.withLock({ $0[id]?.memory }), memory.handle.inode == inode else { return nil }
        return memory
    }

    /// The memory a handle names: this process's own, a cached mapping, or a new mapping.
    static func memory(for handle: SharedMemoryHandle) throws(SharedArrayError) -> SharedMemory {
        guard handle.machine == SharedMemoryHandle.thisMachine else {
            throw .unavailable(
                "it was made on another machine (or in another pid namespace) and reached this process without a copy of its elements")
        }
        if handle.owner == getpid() {
            guard let memory = owned.withLock({ $0[handle.id]?.memory }) else {
                throw .unavailable("this process has released it")
            }
            return memory
        }
        let result: Result<SharedMemory, SharedArrayError> = received.withLock { cache in
            if let memory = cache[handle.key], memory.isReadOnly == handle.readOnly {
                return .success(memory)
            }
            // Another array arrives: drop the mappings whose owners have let go.
            for (key, memory) in cache
            where cmp_shared_still_held(memory.handle.owner, memory.handle.descriptor, memory.handle.inode) == 0 {
                cache[key] = nil
            }
            do throws(SharedArrayError) {
                let memory = try SharedMemory(receiving: handle)
                cache[handle.key] = memory
                return .success(memory)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// How many received mappings this process keeps (for tests).
    static var receivedCount: Int { received.withLock { $0.count } }
}
