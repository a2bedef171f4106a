extension ProcessPool {
    /// How the kernel schedules the worker processes.
    ///
    /// A worker woken by new work may preempt the thread that woke it. When that thread is the
    /// one handing chunks to several idle workers (the start of every `map`), it is put off its
    /// CPU after waking the first worker, and the other workers get their chunks only when the
    /// kernel runs it again, often at its next tick. In `pool-bench`'s cpu-bound workload on a
    /// two-CPU VM, one worker started 1-6 ms late in 26 of 60 calls with ``inherit`` and in 13
    /// of 60 with ``batch``; the speedup's median went from 1.869 to 1.905 (12 runs each).
    public enum WorkerScheduling: Sendable {
        /// Linux's `SCHED_BATCH` for every thread of a worker, and the processes it starts: a
        /// worker's wake-ups never preempt the running thread (the pool's dispatcher, or any
        /// other); it waits until that thread blocks or the kernel's next scheduling tick. Its
        /// share of the CPU is unchanged. The default; elsewhere than Linux, the same as
        /// ``inherit``.
        case batch
        /// Workers keep the policy they inherit from this process. For tasks whose own
        /// wake-ups must run at once (a worker serving I/O, say).
        case inherit
    }
}
