import Logging
import Multiprocessing
import MultiprocessingServiceLifecycle
import ServiceLifecycle
import Testing

/// `ProcessPoolService` in a real `ServiceGroup`: graceful shutdown closes and joins the pool,
/// cancellation terminates it.
@Suite("service lifecycle", .timeLimit(.minutes(2)))
struct ServiceLifecycleTests {
    @Test("graceful shutdown closes and joins the pool: the item in flight finishes, new work is refused")
    func gracefulShutdown() async throws {
        try await withDeadline(60) { () async throws in
            let gate = Gate.make()
            let beacon = Beacon.make()
            defer {
                gate.remove()
                beacon.remove()
            }
            let pool = try ProcessPool(processes: 1)
            let group = ServiceGroup(services: [ProcessPoolService(pool)], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            let inFlight = try pool.applyAsync(GatedPID(gate: gate, gated: [0], beacon: beacon), 0)
            let queued = try pool.applyAsync(Square(), 7)
            await beacon.awaitAnnouncement()
            await group.triggerGracefulShutdown()
            gate.open()
            try await running.value
            // Joined: both finished before the group's run returned, as a close lets them.
            #expect(inFlight.isReady && queued.isReady)
            _ = try await inFlight.get()
            #expect(try await queued.get() == 49)
            #expect(throws: PoolError.self) { try pool.applyAsync(Square(), 1) }
        }
    }

    @Test("cancelling the group terminates the pool: the item in flight fails with terminated")
    func cancellation() async throws {
        try await withDeadline(60) { () async throws in
            let gate = Gate.make()
            let beacon = Beacon.make()
            defer {
                gate.remove()
                beacon.remove()
            }
            let pool = try ProcessPool(processes: 1)
            let group = ServiceGroup(services: [ProcessPoolService(pool)], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            let inFlight = try pool.applyAsync(GatedPID(gate: gate, gated: [0], beacon: beacon), 0)
            await beacon.awaitAnnouncement()
            running.cancel()
            _ = try? await running.value
            do {
                _ = try await inFlight.get()
                Issue.record("the held item finished; the pool was not terminated")
            } catch let error as PoolError {
                #expect(error.code == .terminated)
            }
        }
    }

    @Test("cancelled while its graceful shutdown waits for running work, the pool is terminated: run returns")
    func cancellationDuringShutdown() async throws {
        try await withDeadline(60) { () async throws in
            let gate = Gate.make()
            let beacon = Beacon.make()
            defer {
                gate.remove()
                beacon.remove()
            }
            let pool = try ProcessPool(processes: 1)
            let group = ServiceGroup(services: [ProcessPoolService(pool)], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            let inFlight = try pool.applyAsync(GatedPID(gate: gate, gated: [0], beacon: beacon), 0)
            await beacon.awaitAnnouncement()
            await group.triggerGracefulShutdown()
            // The service has closed the pool (new work is refused) and waits in its join for the
            // held item, which never finishes: only the cancellation can end the wait.
            while (try? pool.applyAsync(Square(), 1)) != nil { await Task.yield() }
            running.cancel()
            _ = try? await running.value
            do {
                _ = try await inFlight.get()
                Issue.record("the held item finished; the pool was not terminated")
            } catch let error as PoolError {
                #expect(error.code == .terminated)
            }
        }
    }
}
