extension ProcessPool {
    /// How the kernel schedules the worker processes.
    ///
    /// A worker woken by new work may preempt the thread that woke it, on that thread's CPU:
    /// a reader thread of the pool, say, that still has answers to handle or chunks to hand out
    /// to other workers. ``batch`` stops that, and with it every other preemption by a worker's
    /// wake-up. On a machine given over to the pool that lets the pool hand out work without
    /// interruption; beside other busy processes it slows the workers down, as they then wait
    /// for every tick (`pool-bench --worker-scheduling batch` compares). So ``inherit`` is the
    /// default.
    public enum WorkerScheduling: Sendable {
        /// Workers keep the scheduling policy they inherit from this process. The default.
        case inherit
        /// Linux's `SCHED_BATCH` for every thread of a worker, and for the processes it
        /// starts: a worker's wake-ups never preempt the running thread (the pool's, or any
        /// other); it waits until that thread blocks or the kernel's next scheduling tick. Its
        /// share of the CPU is unchanged. Elsewhere than Linux, the same as ``inherit``.
        case batch
    }
}
