import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts detached OS threads for work that blocks in system calls (channel reads and writes,
/// spawning), so that it never occupies a thread of Swift's small cooperative pool.
enum NativeThread {
    /// Holds the body until the new thread takes it.
    private final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, _ body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Runs `body` on a new detached thread named `name` (15 bytes are kept by the kernel).
    static func detach(name: String, _ body: @escaping @Sendable () -> Void) throws(PoolError) {
        let box = Unmanaged.passRetained(Box(name: name, body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                cmp_set_thread_name(box.name)
                box.body()
                return nil
            }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw PoolError(.systemCallFailed, "pthread_create failed: \(systemErrorText(rc))")
        }
        pthread_detach(thread)
    }
}
