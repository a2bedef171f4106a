extension ProcessPool {
    /// How the kernel schedules the worker processes.
    ///
    /// A worker woken by new work may preempt the thread that woke it. When that thread is the
    /// one handing chunks to several idle workers (the start of every `map`), it is put off its
    /// CPU after waking the first worker, and the other workers get their chunks only when the
    /// kernel runs it again, often at its next tick. ``batch`` stops that, and with it every
    /// other preemption by a worker's wake-up, which costs dearly when other processes keep
    /// the CPUs busy. Measured on a two-CPU VM with `pool-bench` (medians of interleaved runs):
    ///
    /// - idle machine, cpu-bound: a worker started 1-6 ms late in 26 of 60 calls with
    ///   ``inherit``, in 13 of 60 with ``batch``; speedup 1.855 against 1.901 (10 runs each);
    /// - beside two busy processes (5 runs each), ``inherit`` against ``batch``: map-default 35
    ///   against 12 million tasks/s, imap-stream 1.8 against 1.0 million, map-chunk1 119 000
    ///   against 86 000; only `apply` gained from ``batch`` there (42 against 16 µs).
    ///
    /// So ``inherit`` is the default, and ``batch`` suits a machine given over to the pool.
    public enum WorkerScheduling: Sendable {
        /// Workers keep the scheduling policy they inherit from this process. The default.
        case inherit
        /// Linux's `SCHED_BATCH` for every thread of a worker, and for the processes it
        /// starts: a worker's wake-ups never preempt the running thread (the pool's
        /// dispatcher, or any other); it waits until that thread blocks or the kernel's next
        /// scheduling tick. Its share of the CPU is unchanged. Elsewhere than Linux, the same
        /// as ``inherit``.
        case batch
    }
}
