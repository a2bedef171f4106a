import CMultiprocessing
import Testing

@testable import Multiprocessing

/// A serving rank's workers wait for their chunks in `poll` on their sockets at once
/// (`WorkerIdleWait.waitsOnSocket`); other pools' workers read actively for a moment, then sleep
/// on the wake board.
@Suite("workers that wait on their sockets", .timeLimit(.minutes(2)))
struct WorkerSocketWaitTests {
    @Test("such a worker never reads actively")
    func noActiveReads() {
        var idle = WorkerIdleWait(waitsOnSocket: true)
        var reads = 0
        idle.spin(startedAt: cmp_monotonic_ns()) {
            reads += 1
            return false
        }
        idle.record(1_000)
        idle.spin(startedAt: cmp_monotonic_ns()) {
            reads += 1
            return false
        }
        #expect(reads == 0)
    }

    @Test("the launcher tells only such workers, and a worker's own children are not told")
    func environment() {
        let socket = WorkerLauncher.environment(batchScheduling: false, waitsOnSocket: true, wakeSlot: 3)
        #expect(socket.contains("\(WorkerEnvironment.idleWait)=socket"))
        let usual = WorkerLauncher.environment(batchScheduling: false, wakeSlot: 3)
        #expect(!usual.contains { $0.hasPrefix("\(WorkerEnvironment.idleWait)=") })
    }

    @Test("an idle worker of such a pool sleeps in poll, one of a usual pool does not; both serve every call")
    func sleepsInPoll() async throws {
        try await withDeadline(60) { () async throws in
            for waitsOnSocket in [true, false] {
                let pool = try ProcessPool(ProcessPool.Configuration(processes: 1), workersWaitOnSocket: waitsOnSocket)
                for i in 0..<200 { #expect(try await pool.apply(Square(), i) == i * i) }
                #expect(try await pool.map(Square(), Array(0..<1_000), chunksize: 1) == (0..<1_000).map { $0 * $0 })
                let pid = try await pool.apply(WhoAmI(), 0).pid
                // Idle from here on: its serving thread goes to sleep within a millisecond or so.
                var inPoll = false
                let until = cmp_monotonic_ns() + 2_000_000_000
                repeat {
                    inPoll = threadWaitChannels(of: pid).contains(where: isPollWait)
                    if inPoll != waitsOnSocket { try await Task.sleep(for: .milliseconds(10)) }
                } while inPoll != waitsOnSocket && cmp_monotonic_ns() < until
                let channels = threadWaitChannels(of: pid)
                // A hardened kernel hides where threads sleep (every `wchan` reads 0): only the
                // calls above are checked there.
                if channels.contains(where: { $0 != "0" && $0 != "?" }) {
                    #expect(inPoll == waitsOnSocket, "threads of worker \(pid) wait in \(channels)")
                }
                pool.close()
                try await pool.join()
            }
        }
    }
}

/// Whether a wait channel is `poll`'s (the kernel's `do_sys_poll` sleeps in
/// `poll_schedule_timeout`), not `epoll_wait`'s, where Swift's runtime threads sleep.
private func isPollWait(_ channel: String) -> Bool {
    channel.hasPrefix("poll_schedule_timeout") || channel.contains("do_sys_poll")
}

/// Where each thread of process `pid` sleeps in the kernel (`/proc/PID/task/TID/wchan`).
private func threadWaitChannels(of pid: Int32) -> [String] {
    threadIDs(of: String(pid)).map { readProcFile("/proc/\(pid)/task/\($0)/wchan") }
}
