import CMultiprocessing
import Synchronization

/// Where a new worker process starts serving tasks.
///
/// A worker is a fresh run of this program. Python's spawn re-runs the main module's top-level
/// code in each worker, and `if __name__ == "__main__":` guards what must not run there;
/// `Multiprocessing.bootstrap()` is that guard. Globals in `main.swift` are set by its top-level
/// code as it runs, so a worker that skipped it would read them as zeros.
enum WorkerStartPoint: String, Sendable {
    /// Before `main`, in the library's load-time hook: test runners (whose `main` runs tests),
    /// and `@main` programs that never call `bootstrap()` (their globals are initialised lazily,
    /// on first use, so skipping `main` loses nothing).
    case beforeMain = "load"
    /// Where the worker's run of `main` first reaches `bootstrap()` or a pool's creation: the
    /// code above that point has run, in the worker as in the parent.
    case inMain = "main"

    private static let parentCalledBootstrap = Atomic<Bool>(false)

    /// Records that this process, a parent, called `bootstrap()`: its workers start there.
    static func bootstrapCalled() {
        parentCalledBootstrap.store(true, ordering: .relaxed)
    }

    /// Where workers spawned now start.
    static var forNewWorkers: WorkerStartPoint {
        if isTestRunner { return .beforeMain }
        if parentCalledBootstrap.load(ordering: .relaxed) || entryIsTopLevelCode { return .inMain }
        return .beforeMain
    }

    private static let isTestRunner = cmp_is_test_runner() != 0
    /// A `main.swift` program: its globals are set by top-level code, which workers must run.
    private static let entryIsTopLevelCode = cmp_program_entry_kind() == 0
}
