extension ProcessPool {
    /// How the kernel schedules the worker processes.
    ///
    /// A worker woken by new work may preempt the thread that woke it, on that thread's CPU:
    /// a reader thread of the pool, say, that still has answers to handle or chunks to hand out
    /// to other workers. ``batch`` stops that, and with it every other preemption by a worker's
    /// wake-up, which costs dearly when other processes keep the CPUs busy. Measured on a
    /// two-CPU VM with `pool-bench` (medians of interleaved runs, ``inherit`` against ``batch``):
    ///
    /// - idle machine, cpu-bound (10 runs each): speedup 1.896 against 1.916, the pool's time
    ///   1.024 against 1.015 times the in-process `TaskGroup`'s;
    /// - beside two busy processes (4 runs each): map-default 25.8 against 12.1 million tasks/s,
    ///   imap-stream 1.8 against 0.8 million, map-chunk1 113 000 against 73 000; only `apply`
    ///   gained from ``batch`` there (47 against 17 µs per round trip).
    ///
    /// So ``inherit`` is the default, and ``batch`` suits a machine given over to the pool.
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
