import Multiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `SCHED_BATCH` in `<sched.h>`; Glibc's Swift module leaves it out (it is a GNU extension).
private let schedBatch: Int32 = 3

@Suite("worker scheduling policy", .timeLimit(.minutes(2)))
struct WorkerSchedulingTests {
    @Test(".batch puts every thread of every worker under SCHED_BATCH; the caller's process is untouched")
    func batchWorkers() async throws {
        let before = threadIDs().map { sched_getscheduler($0) }
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 2, workerScheduling: .batch) { (pool: ProcessPool) async throws in
                let answers = try await pool.map(ThreadPolicies(), Array(0..<8), chunksize: 1)
                for policies in answers {
                    #expect(policies.count >= 2, "the task's thread and at least one listed thread")
                    #expect(policies.allSatisfy { $0 == schedBatch }, "policies \(policies)")
                }
            }
            // `init` takes it as `with` does.
            let pool = try ProcessPool(processes: 1, workerScheduling: .batch)
            let policies = try await pool.apply(ThreadPolicies(), 0)
            #expect(!policies.isEmpty && policies.allSatisfy { $0 == schedBatch }, "policies \(policies)")
            pool.close()
            try await pool.join()
        }
        #expect(sched_getscheduler(0) != schedBatch)
        #expect(before.allSatisfy { $0 != schedBatch }, "the test process itself was under SCHED_BATCH: \(before)")
    }

    @Test("by default workers keep the caller's policy")
    func inheritByDefault() async throws {
        let own = sched_getscheduler(0)
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let policies = try await pool.apply(ThreadPolicies(), 0)
                #expect(!policies.isEmpty && policies.allSatisfy { $0 == own }, "policies \(policies), caller \(own)")
            }
        }
    }
}
