/// Called by the library's load-time hook (`worker_hook.c`) before `main` in a process spawned
/// as a worker. Never returns.
@_cdecl("swift_multiprocessing_worker_main")
public func _swiftMultiprocessingWorkerMain() {
    WorkerProcess.run()
}

/// Marks where a worker process starts serving tasks; returns at once in the parent.
///
/// Call it in `main`, below the top-level code that workers need too (globals your tasks read,
/// logging set-up) and above the code only the parent must run: like Python's
/// `if __name__ == "__main__":`. A worker runs the program from the start up to this call, then
/// serves tasks and never returns from it. Globals of `main.swift` set below this line are
/// never set in a worker.
///
/// ```swift
/// // main.swift
/// import Multiprocessing
/// let factor = 10                       // runs in workers too
/// try Multiprocessing.bootstrap()       // a worker serves tasks from here
/// let pool = try ProcessPool()          // only in the parent
/// ```
///
/// A program that does not call it still works: a `main.swift` program's workers start at the
/// pool's creation instead, having run the top-level code above it; those of an `@main`
/// program or a test runner start before `main`. A program built with `--static-swift-stdlib`
/// always starts its workers in `main`.
public func bootstrap() throws {
    WorkerProcess.startIfWorker()
    WorkerStartPoint.bootstrapCalled()
}
