import Synchronization

/// Worker numbers: one counter for the whole parent process, so a replacement worker or a second
/// pool's workers get new numbers, as in Python.
enum WorkerNumbering {
    private static let next = Atomic<Int>(1)
    /// Appended to every name: where the worker runs, when the process serves a cluster
    /// ("@rank1.host").
    static let suffix = Mutex("")

    static func nextName() -> String {
        "SpawnPoolWorker-\(next.wrappingAdd(1, ordering: .relaxed).oldValue)" + suffix.withLock { $0 }
    }
}
