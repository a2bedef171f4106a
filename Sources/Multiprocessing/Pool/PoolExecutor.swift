import CMultiprocessing

/// A `TaskExecutor` that runs code resumed by the pool's answers on the thread that read the
/// answer, instead of waking a thread of Swift's cooperative pool for it.
///
/// A loop of short calls, each waiting for the last (`apply` after `apply`), otherwise has each
/// answer handed to the caller on Swift's cooperative pool, a thread wake-up per call. `apply`
/// avoids it by reading the worker's answers itself for a moment before it suspends, which keeps
/// a CPU busy meanwhile. Under this executor the reading thread runs the caller itself, up to
/// its next `await` (usually the next call): a round trip then wakes one thread per side, as a
/// raw socket ping-pong does, and no CPU waits actively (`pool-bench`'s `apply-executor`
/// measures it next to the default).
///
/// ```swift
/// try await withTaskExecutorPreference(pool.executor) {
///     for i in 0..<10_000 { total += try await pool.apply(Square(), i) }
/// }
/// ```
///
/// The trade: code between two `await`s then runs on a thread that reads one worker's answers,
/// and that worker's answers wait while it runs. Keep heavy work outside the preference.
/// Jobs enqueued from any other thread run on Swift's global concurrent executor, as usual.
public final class PoolExecutor: TaskExecutor {
    init() {}

    /// Runs `job` on the calling thread right after the answer it is handling, when that thread
    /// is one of this pool's readers; otherwise on the global concurrent executor.
    public func enqueue(_ job: consuming ExecutorJob) {
        if let jobs = ReaderThreadJobs.current, jobs.executor === self {
            jobs.pending.append(UnownedJob(job))
        } else {
            globalConcurrentExecutor.enqueue(job)
        }
    }
}

/// The jobs a reader thread owes its pool's executor. Reachable only through the thread's own
/// thread-local pointer.
///
/// `@unchecked Sendable`: `pending` is touched only by the thread that installed the list (the
/// pointer is thread-local), so there is no concurrent access to guard.
final class ReaderThreadJobs: @unchecked Sendable {
    let executor: PoolExecutor
    fileprivate var pending: [UnownedJob] = []

    /// Makes the list the calling thread's; it stays so until `uninstall()`.
    init(installingFor executor: PoolExecutor) {
        self.executor = executor
        cmp_set_thread_reader_jobs(Unmanaged.passUnretained(self).toOpaque())
    }

    /// The calling thread's list, if it is a reader thread.
    static var current: ReaderThreadJobs? {
        cmp_thread_reader_jobs().map { Unmanaged<ReaderThreadJobs>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Runs every pending job, including those the jobs themselves enqueue.
    func runPending() {
        guard !pending.isEmpty else { return }
        // By index, not over a copy: a job may append to the list while it runs, and the list
        // stays uniquely referenced, so emptying it keeps its storage for the next answer.
        var index = 0
        while index < pending.count {
            let job = pending[index]
            index += 1
            job.runSynchronously(on: executor.asUnownedTaskExecutor())
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Runs what is left and stops taking jobs; later ones go to the global executor.
    func uninstall() {
        runPending()
        cmp_set_thread_reader_jobs(nil)
    }
}
