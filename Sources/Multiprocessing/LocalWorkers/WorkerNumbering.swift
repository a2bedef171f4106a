import Synchronization

/// Worker numbers: one counter for the whole parent process, so a replacement worker or a second
/// pool's workers get new numbers, as in Python.
enum WorkerNumbering {
    private static let next = Atomic<Int>(1)

    static func nextName() -> String {
        "SpawnPoolWorker-\(next.wrappingAdd(1, ordering: .relaxed).oldValue)"
    }
}
