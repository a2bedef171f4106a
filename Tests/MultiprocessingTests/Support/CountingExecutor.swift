import Synchronization

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A serial executor that runs its jobs on a thread of its own and counts them: each job is
/// code of its actor started or resumed, so the count tells how often an `await` on that actor
/// left it and came back.
///
/// `@unchecked Sendable`: `jobs`, `enqueued` and `stopping` are touched only with `condition`
/// locked.
final class CountingExecutor: SerialExecutor, @unchecked Sendable {
    /// The thread's name ("test-actor-N", unique in the process): code can tell that it runs
    /// on this executor by its thread's name.
    let threadName: String
    private static let instances = Atomic<Int>(0)
    private let condition = Condition()
    private var jobs: [UnownedJob] = []
    private var enqueued = 0
    private var stopping = false

    init() {
        threadName = "test-actor-\(Self.instances.wrappingAdd(1, ordering: .relaxed).oldValue)"
        do {
            try NativeThread.detach(name: threadName) { [self] in runJobs() }
        } catch {
            fatalError("the test executor's thread could not start: \(error)")
        }
    }

    /// How many jobs have been enqueued so far.
    var enqueuedJobs: Int { condition.withLock { enqueued } }

    /// Whether the calling code runs on this executor's thread.
    var isCurrent: Bool { readProcFile("/proc/thread-self/comm") == threadName }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.withLock {
            jobs.append(job)
            enqueued += 1
        }
        condition.signal()
    }

    /// Ends the thread once it has run what was enqueued.
    func stop() {
        condition.withLock { stopping = true }
        condition.signal()
    }

    private func runJobs() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedSerialExecutor())
        }
    }
}

/// An actor whose code runs on a ``CountingExecutor``.
actor CountedActor {
    let executor: CountingExecutor

    init(executor: CountingExecutor) { self.executor = executor }

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Runs `body` on this actor.
    func run<R: Sendable>(_ body: @Sendable (isolated CountedActor) async throws -> R) async throws -> R {
        try await body(self)
    }
}
