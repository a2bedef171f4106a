import Synchronization

/// Who the current process is in the pool's world, as Python's `multiprocessing.current_process()`.
public enum CurrentProcess {
    private static let state = Mutex<(name: String, isWorker: Bool)>(("MainProcess", false))

    /// "MainProcess" in the program that made the pool; "SpawnPoolWorker-N" in a worker,
    /// numbered in the order the parent started its workers, from 1, as Python numbers them.
    public static var name: String { state.withLock { $0.name } }

    /// True in a pool worker process.
    public static var isPoolWorker: Bool { state.withLock { $0.isWorker } }

    static func becomeWorker(named name: String) {
        state.withLock { $0 = (name, true) }
    }
}
