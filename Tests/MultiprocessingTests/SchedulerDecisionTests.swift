import Synchronization
import Testing

@testable import Multiprocessing

/// A worker that only records what the scheduler does with it.
private final class FakeWorker: PoolWorker {
    let key: Int
    let capacity: Int
    let managesItsChunks: Bool
    private let frames = Mutex(0)
    init(key: Int, capacity: Int = 1, managesItsChunks: Bool = false) {
        self.key = key
        self.capacity = capacity
        self.managesItsChunks = managesItsChunks
    }
    var label: WorkerLabel { WorkerLabel(name: "FakeWorker-\(key)", pid: Int32(1000 + key)) }
    var groupClaimant: UInt32? { nil }
    var chunksTaken: UInt32? { nil }
    var framesQueued: Int { frames.withLock { $0 } }
    func enqueue(_ frame: [WireBytes]) { frames.withLock { $0 += 1 } }
    func enqueue(_ chunk: ChunkWork) { frames.withLock { $0 += 1 } }
    func enqueueSkip(_ chunkIDs: [UInt64]) { frames.withLock { $0 += 1 } }
    func sendQueued() -> Int32? { nil }
    func shutdownAfterQueued() {}
    func terminate() {}
    func kill() {}
}

/// A call that wants results, or (`finished`) no longer does.
private final class FakeSink: ChunkSink {
    let isFinished: Bool
    init(finished: Bool = false) { isFinished = finished }
    func chunkFinished(_ chunk: ChunkWork, _ completion: ChunkCompletion) {}
}

private func chunk(
    _ id: UInt64, items: Int = 1, frameBytes: Int = 100, timeLimit: Duration? = nil,
    sink: any ChunkSink = FakeSink()
) -> ChunkWork {
    ChunkWork(
        chunkID: id, taskType: ObjectIdentifier(Int.self), frame: [], frameBytes: frameBytes, index: Int(id),
        firstItem: Int(id) * items, itemCount: items, timeLimit: timeLimit, sink: sink)
}

/// The scheduler's decisions, taken without processes: how deep to pipeline, where chunks go,
/// what a worker's clocks call for, and what a dead worker's chunks become.
@Suite("scheduler decisions")
struct SchedulerDecisionTests {
    @Test("pipelining depth: one chunk until measured, more for short ones, one for large frames")
    func pipelineDepth() {
        #expect(PipelineDepth.chunks(perItemNanoseconds: nil, itemCount: 1, frameBytes: 64) == 1)
        #expect(PipelineDepth.chunks(perItemNanoseconds: 1_000, itemCount: 1, frameBytes: 64) == 64)
        #expect(PipelineDepth.chunks(perItemNanoseconds: 1_000, itemCount: 10, frameBytes: 64) == 16)
        #expect(PipelineDepth.chunks(perItemNanoseconds: 100_000, itemCount: 2, frameBytes: 64) == 4)
        #expect(PipelineDepth.chunks(perItemNanoseconds: 1_000_000, itemCount: 1, frameBytes: 64) == 2)
        #expect(PipelineDepth.chunks(perItemNanoseconds: 10_000_000, itemCount: 1, frameBytes: 64) == 1)
        #expect(PipelineDepth.chunks(perItemNanoseconds: 1_000, itemCount: 1, frameBytes: 1 << 20) == 1)
        #expect(PipelineDepth.chunks(perItemNanoseconds: 1_000, itemCount: 1, frameBytes: 300_000) == 3)
    }

    @Test("schedule: least-loaded workers first, up to capacity times depth; none to a worker being ended")
    func schedule() {
        var state = SchedulerState()
        let a = FakeWorker(key: 0)
        let b = FakeWorker(key: 1, capacity: 3)
        let c = FakeWorker(key: 2)
        for worker in [a, b, c] {
            let slot = TrackedWorker(worker: worker)
            slot.isReady = true
            state.workers[worker.key] = slot
        }
        state.workers[2]!.killReason = .cancelled
        state.pending.append(contentsOf: (1...6).map { chunk(UInt64($0)) })
        // Not measured yet: depth 1, so one chunk for `a`, three for `b` (capacity 3).
        let (toSend, timed) = state.schedule(maxTasksPerChild: nil)
        #expect(!timed)
        #expect(Set(toSend.map(\.key)) == [0, 1])
        #expect(state.workers[0]!.inFlight.map(\.chunkID) == [1])
        #expect(state.workers[1]!.inFlight.count == 3)
        #expect(state.workers[2]!.inFlight.isEmpty)
        #expect(a.framesQueued == 1 && b.framesQueued == 3 && c.framesQueued == 0)
        #expect(state.pending.first?.chunkID == 5)
    }

    @Test("schedule: a call that wants no more results loses its waiting chunks; maxTasksPerChild caps a worker")
    func scheduleDropsAndCaps() {
        var state = SchedulerState()
        let slot = TrackedWorker(worker: FakeWorker(key: 0))
        slot.isReady = true
        state.workers[0] = slot
        state.itemNanoseconds[ObjectIdentifier(Int.self)] = 1_000  // short: depth 16
        state.pending.append(chunk(1, sink: FakeSink(finished: true)))
        state.pending.append(contentsOf: (2...6).map { chunk(UInt64($0)) })
        _ = state.schedule(maxTasksPerChild: 3)
        #expect(slot.inFlight.map(\.chunkID) == [2, 3, 4])
        #expect(state.pending.first?.chunkID == 5)
    }

    @Test("retire: a worker over maxMemoryPerChild keeps what it has and gets no more chunks; it is closed once")
    func retiringWorkerGetsNoMore() {
        var state = SchedulerState()
        let retiring = TrackedWorker(worker: FakeWorker(key: 0))
        let other = TrackedWorker(worker: FakeWorker(key: 1))
        for slot in [retiring, other] { slot.isReady = true }
        state.workers = [0: retiring, 1: other]
        state.itemNanoseconds[ObjectIdentifier(Int.self)] = 1_000  // short: depth 16
        state.pending.append(contentsOf: (1...2).map { chunk(UInt64($0)) })
        _ = state.schedule(maxTasksPerChild: nil)
        #expect(retiring.inFlight.map(\.chunkID) == [1])
        let first = state.retire(0)
        let again = state.retire(0)
        let unknown = state.retire(7)
        #expect(first && !again && !unknown)
        state.pending.append(contentsOf: (3...5).map { chunk(UInt64($0)) })
        _ = state.schedule(maxTasksPerChild: nil)
        #expect(retiring.inFlight.map(\.chunkID) == [1])
        #expect(other.inFlight.map(\.chunkID) == [2, 3, 4, 5])
    }

    @Test(
        "the last worker gone: a running pool or a closing one with work left fails; a closed idle one wound down; a replacement on its way counts"
    )
    func lastWorkerGone() {
        var state = SchedulerState()
        #expect(state.failsWithoutWorkers)
        state.phase = .closing
        #expect(!state.failsWithoutWorkers)
        state.pending.append(chunk(1))
        #expect(state.failsWithoutWorkers)
        state.phase = .terminating
        #expect(!state.failsWithoutWorkers)
        // A replacement being spawned is a worker to come: join() waits for it.
        #expect(state.hasNoWorkers)
        state.replacementsStarting = 1
        #expect(!state.hasNoWorkers)
    }

    @Test("time limits: start-up, initializer and chunk limits call for SIGTERM, the grace period for SIGKILL")
    func timeLimits() {
        let limits = TimeLimits(killGrace: .milliseconds(500), startTimeout: .seconds(10), initializerTimeout: .seconds(2))
        let start = ContinuousClock.now
        let starting = TrackedWorker(worker: FakeWorker(key: 0), spawnedAt: start)
        #expect(limits.step(for: starting, now: start + .seconds(4)) == TimeLimits.Step(action: .none, nextCheck: .seconds(6)))
        #expect(
            limits.step(for: starting, now: start + .seconds(10)).action
                == .terminate(.startTimedOut(.seconds(10), inInitializer: false), chunkID: nil))
        starting.initializingSince = start + .seconds(1)
        #expect(
            limits.step(for: starting, now: start + .seconds(3)).action
                == .terminate(.startTimedOut(.seconds(2), inInitializer: true), chunkID: nil))

        let running = TrackedWorker(worker: FakeWorker(key: 1), spawnedAt: start)
        running.isReady = true
        running.inFlight = [chunk(7, items: 2, timeLimit: .seconds(2))]
        running.headStarted = start
        #expect(limits.step(for: running, now: start + .seconds(1)) == TimeLimits.Step(action: .none, nextCheck: .seconds(1)))
        #expect(
            limits.step(for: running, now: start + .seconds(2))
                == TimeLimits.Step(action: .terminate(.timedOut(.seconds(2)), chunkID: 7), nextCheck: .milliseconds(500)))
        running.killReason = .timedOut(.seconds(2))
        running.terminateSentAt = start + .seconds(2)
        #expect(limits.step(for: running, now: start + .milliseconds(2_200)).action == .none)
        #expect(limits.step(for: running, now: start + .milliseconds(2_500)).action == .kill)
        running.killSent = true
        #expect(limits.step(for: running, now: start + .seconds(9)) == TimeLimits.Step(action: .none))

        // A worker that enforces its chunks' limits itself is not ended for them.
        let host = TrackedWorker(worker: FakeWorker(key: 2, capacity: 4, managesItsChunks: true), spawnedAt: start)
        host.isReady = true
        host.inFlight = [chunk(8, timeLimit: .seconds(1))]
        host.headStarted = start
        #expect(limits.step(for: host, now: start + .seconds(5)) == TimeLimits.Step(action: .none))
    }

    @Test("a worker that dies starting up fails nothing and counts as a start failure (unless it exited 0)")
    func diedStarting() {
        let slot = TrackedWorker(worker: FakeWorker(key: 0))
        slot.inFlight = [chunk(1), chunk(2)]
        slot.sentChunks = 2
        let label = slot.worker.label
        let crashed = DeadWorkerDecision(slot: slot, end: WorkerEnd(status: .exited(70)), label: label)
        #expect(crashed.failed.isEmpty)
        #expect(crashed.requeued.map(\.chunkID) == [1, 2])
        #expect(crashed.startFailure != nil && crashed.startFailure?.timedOut == nil)
        #expect(DeadWorkerDecision(slot: slot, end: WorkerEnd(status: .exited(0)), label: label).startFailure == nil)
        slot.killReason = .startTimedOut(.seconds(1), inInitializer: true)
        let timedOut = DeadWorkerDecision(slot: slot, end: WorkerEnd(status: .signaled(15)), label: label)
        #expect(timedOut.startFailure?.timedOut?.inInitializer == true)
    }

    @Test("a ready worker's death fails only the chunk it had taken; chunks it never read run elsewhere")
    func diedServing() {
        let slot = TrackedWorker(worker: FakeWorker(key: 0))
        slot.isReady = true
        slot.inFlight = [chunk(3), chunk(4), chunk(5)]
        slot.sentChunks = 5  // two answered
        let label = slot.worker.label
        let idle = DeadWorkerDecision(slot: slot, end: WorkerEnd(status: .signaled(9), chunksTaken: 2), label: label)
        #expect(idle.failed.isEmpty)
        #expect(idle.requeued.map(\.chunkID) == [3, 4, 5])
        #expect(idle.startFailure == nil)
        let busy = DeadWorkerDecision(slot: slot, end: WorkerEnd(status: .signaled(9), chunksTaken: 3), label: label)
        #expect(busy.failed.first?.chunk.chunkID == 3)
        #expect(busy.failed.first?.error.code == .workerDied)
        #expect(busy.failed.first?.error.message.contains("died while running item 3: signal 9 (SIGKILL)") == true)
        #expect(busy.requeued.map(\.chunkID) == [4, 5])
        // Without a count the first chunk is taken to have started.
        #expect(DeadWorkerDecision(slot: slot, end: WorkerEnd(status: .signaled(9)), label: label).failed.first?.chunk.chunkID == 3)
        let violated = DeadWorkerDecision(
            slot: slot, end: WorkerEnd(status: .signaled(9), violation: "garbage", chunksTaken: 2),
            label: label)
        #expect(violated.failed.first?.error.code == .protocolViolation)
        slot.killReason = .timedOut(.seconds(1))
        slot.killedChunkID = 3
        let timedOut = DeadWorkerDecision(slot: slot, end: WorkerEnd(status: .signaled(15), chunksTaken: 3), label: label)
        #expect(timedOut.failed.first?.error.code == .taskTimedOut)
        // Killed for a chunk whose answer came from its shelf after all: the next was never taken.
        slot.killReason = .cancelled
        slot.killedChunkID = 2
        let answeredAfterAll = DeadWorkerDecision(slot: slot, end: WorkerEnd(status: .signaled(9), chunksTaken: 2), label: label)
        #expect(answeredAfterAll.failed.isEmpty)
        #expect(answeredAfterAll.requeued.map(\.chunkID) == [3, 4, 5])
    }

    @Test("the chunk a worker runs is past those whose answers it holds back, by its count of chunks taken")
    func runningIndex() {
        let slot = TrackedWorker(worker: FakeWorker(key: 0))
        #expect(slot.runningIndex(taken: 3) == 0)
        slot.inFlight = [chunk(1), chunk(2), chunk(3), chunk(4)]
        slot.sentChunks = 6  // two answered
        #expect(slot.runningIndex(taken: nil) == 0)
        #expect(slot.runningIndex(taken: 2) == 0)  // it has not taken the first yet
        #expect(slot.runningIndex(taken: 3) == 0)
        #expect(slot.runningIndex(taken: 5) == 2)  // 1 and 2 done, their answers held
        #expect(slot.runningIndex(taken: 9) == 3)
    }

    @Test("chunks in flight keep send order through removals at the front and in the middle")
    func inFlightChunks() {
        var inFlight: InFlightChunks = [chunk(0)]
        for id in 1..<100 { inFlight.append(chunk(UInt64(id))) }
        for expected in 0..<70 { #expect(inFlight.remove(at: 0).chunkID == UInt64(expected)) }
        #expect(inFlight.count == 30 && inFlight.first?.chunkID == 70)
        #expect(inFlight.remove(at: 2).chunkID == 72)
        inFlight.append(chunk(100))
        #expect(inFlight.map(\.chunkID) == [70, 71] + Array(73...100))
        #expect(inFlight[1..<3].map(\.chunkID) == [71, 73])
        while !inFlight.isEmpty { inFlight.remove(at: 0) }
        inFlight.append(chunk(101))
        #expect(inFlight.map(\.chunkID) == [101])
    }

    @Test("a lost host fails every chunk it held: it runs them in any order, so any of them may have killed it")
    func lostHost() {
        let slot = TrackedWorker(worker: FakeWorker(key: 0, capacity: 2, managesItsChunks: true))
        slot.isReady = true
        slot.inFlight = [chunk(1), chunk(2), chunk(3), chunk(4)]
        slot.sentChunks = 4
        let decision = DeadWorkerDecision(
            slot: slot, end: WorkerEnd(status: nil, lost: "no message from it for 1.5 seconds"), label: slot.worker.label)
        #expect(decision.failed.map(\.chunk.chunkID) == [1, 2, 3, 4])
        #expect(decision.failed.allSatisfy { $0.error.code == .workerDied })
        #expect(decision.failed.first?.error.message.contains("was lost while running item 1: no message from it for 1.5 seconds") == true)
        #expect(decision.requeued.isEmpty)
        #expect(decision.startFailure == nil)
    }

    @Test("a call runs as a group only with enough long, small, untimed chunks of one task")
    func groupable() {
        let sink = FakeSink()
        let chunks = (1...4).map { chunk(UInt64($0), items: 2, sink: sink) }
        #expect(PoolCore.isGroupable(chunks, perItemNanoseconds: 300_000))
        #expect(!PoolCore.isGroupable(chunks, perItemNanoseconds: nil))
        #expect(!PoolCore.isGroupable(chunks, perItemNanoseconds: 100_000))
        #expect(!PoolCore.isGroupable([chunks[0]], perItemNanoseconds: 300_000))
        #expect(
            !PoolCore.isGroupable(
                chunks.map { chunk($0.chunkID, items: 2, timeLimit: .seconds(1), sink: sink) },
                perItemNanoseconds: 300_000))
        #expect(
            !PoolCore.isGroupable(
                chunks.map { chunk($0.chunkID, items: 2, frameBytes: 100_000, sink: sink) },
                perItemNanoseconds: 300_000))
        #expect(!PoolCore.isGroupable(chunks + [chunk(5, items: 2)], perItemNanoseconds: 300_000))
    }
}
