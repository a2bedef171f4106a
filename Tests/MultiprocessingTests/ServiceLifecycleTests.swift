import Logging
import Multiprocessing
import MultiprocessingServiceLifecycle
import ServiceLifecycle
import Testing

/// A pool of one run by a `ServiceGroup`, its worker holding item 0 of `GatedPID` until `gate`
/// opens: what each test then shuts down or cancels.
private struct HeldService: Sendable {
    let pool: ProcessPool
    let group: ServiceGroup
    let running: Task<Void, any Error>
    let inFlight: AsyncResult<Int32>
    let gate: Gate
}

/// Runs `body` with a held service, within a deadline; the gate and beacon are removed after.
private func withHeldService(_ body: @escaping @Sendable (HeldService) async throws -> Void) async throws {
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
        try await body(HeldService(pool: pool, group: group, running: running, inFlight: inFlight, gate: gate))
    }
}

/// `ProcessPoolService` in a real `ServiceGroup`: graceful shutdown closes and joins the pool,
/// cancellation terminates it.
@Suite("service lifecycle", .timeLimit(.minutes(2)))
struct ServiceLifecycleTests {
    @Test("graceful shutdown closes and joins the pool: the item in flight finishes, new work is refused")
    func gracefulShutdown() async throws {
        try await withHeldService { held in
            let queued = try held.pool.applyAsync(Square(), 7)
            await held.group.triggerGracefulShutdown()
            held.gate.open()
            try await held.running.value
            // Joined: both finished before the group's run returned, as a close lets them.
            #expect(held.inFlight.isReady && queued.isReady)
            _ = try await held.inFlight.get()
            #expect(try await queued.get() == 49)
            #expect(throws: PoolError.self) { try held.pool.applyAsync(Square(), 1) }
        }
    }

    @Test("cancelling the group terminates the pool: the item in flight fails with terminated")
    func cancellation() async throws {
        try await withHeldService { held in
            held.running.cancel()
            _ = try? await held.running.value
            try await expectTerminated(held.inFlight)
        }
    }

    @Test("cancelled while its graceful shutdown waits for running work, the pool is terminated: run returns")
    func cancellationDuringShutdown() async throws {
        try await withHeldService { held in
            await held.group.triggerGracefulShutdown()
            // The service has closed the pool (new work is refused) and waits in its join for the
            // held item, which never finishes: only the cancellation can end the wait.
            while (try? held.pool.applyAsync(Square(), 1)) != nil { await Task.yield() }
            held.running.cancel()
            _ = try? await held.running.value
            try await expectTerminated(held.inFlight)
        }
    }

    /// Expects the held item to have failed with `terminated`, not finished.
    private func expectTerminated(_ inFlight: AsyncResult<Int32>) async throws {
        do {
            _ = try await inFlight.get()
            Issue.record("the held item finished; the pool was not terminated")
        } catch let error as PoolError {
            #expect(error.code == .terminated)
        }
    }
}
