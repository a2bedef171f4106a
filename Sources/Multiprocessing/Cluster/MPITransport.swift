#if MPI
import CMPIShim
import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one thread of a process that talks MPI (`MPI_THREAD_FUNNELED`): it starts MPI, sends
/// what other threads queue, receives whatever any rank sends, and keeps each peer's liveness.
///
/// It never blocks on one rank: it probes for a message from any rank, starts sends without
/// waiting for them, and tests them later. Neither Open MPI nor MPICH reports a rank that died
/// (a receive from it just never completes), so liveness is our own: every rank sends a
/// heartbeat when it has had nothing else to say for ``heartbeatInterval``, and a peer silent
/// for ``silenceLimit`` is reported lost. While messages flow the thread keeps looking (yielding
/// its CPU between looks); idle, it sleeps in growing steps, so an idle rank does not burn a core.
///
/// `@unchecked Sendable`: `outbox`, `jobs`, `stopping` and `finished` are only touched with
/// `condition` locked; everything else only on the thread itself.
final class MPITransport: @unchecked Sendable {
    /// A message as received: who sent it, what it is, its bytes.
    typealias Handler = @Sendable (_ source: Int32, _ tag: ClusterTag, _ bytes: ArraySlice<UInt8>) -> Void

    let rank: Int32
    let size: Int32
    let host: String

    /// How long a rank may have nothing to say before it sends a heartbeat.
    static let heartbeatInterval: UInt64 = 200_000_000
    /// How long a peer may be silent before it is reported lost.
    static let silenceLimit: UInt64 = 1_000_000_000
    /// How long the thread keeps looking after its last message before it starts to sleep.
    static let activeWindow: UInt64 = 1_000_000

    private let condition = Condition()
    private var outbox: [(destination: Int32, tag: ClusterTag, bytes: [UInt8])] = []
    private var jobs: [@Sendable () -> Void] = []
    private var stopping = false
    private var finished = false

    private var handler: Handler?
    private var onSilent: (@Sendable (Int32) -> Void)?
    private var sends: [(request: UnsafeMutableRawPointer, buffer: UnsafeMutableRawBufferPointer)] = []
    private var lastHeard: [Int32: UInt64] = [:]
    private var lastSent: [Int32: UInt64] = [:]
    private var silent: Set<Int32> = []

    private init(rank: Int32, size: Int32, host: String) {
        self.rank = rank
        self.size = size
        self.host = host
    }

    /// Starts MPI on a thread of its own and returns once it is up. `handler` gets every message
    /// and `onSilent` every peer that fell silent, both on that thread.
    static func start(handler: @escaping Handler, onSilent: @escaping @Sendable (Int32) -> Void) throws(PoolError) -> MPITransport {
        let started = Mutex<Result<MPITransport, PoolError>?>(nil)
        let ready = Condition()
        try NativeThread.detach(name: "mp-mpi") {
            var rank: Int32 = 0
            var size: Int32 = 0
            let rc = cmp_mpi_init(&rank, &size)
            let outcome: Result<MPITransport, PoolError>
            if rc != 0 {
                outcome = .failure(PoolError(.spawnFailed, "MPI_Init_thread failed (MPI error \(rc))"))
            } else {
                var name = [CChar](repeating: 0, count: 256)
                cmp_mpi_processor_name(&name, Int32(name.count))
                let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let transport = MPITransport(rank: rank, size: size, host: host)
                transport.handler = handler
                transport.onSilent = onSilent
                outcome = .success(transport)
            }
            ready.withLock {
                started.withLock { $0 = outcome }
                ready.signal()
            }
            if case .success(let transport) = outcome { transport.run() }
        }
        let outcome = ready.withLock {
            while started.withLock({ $0 == nil }) { ready.wait() }
            return started.withLock { $0! }
        }
        return try outcome.get()
    }

    /// Queues a message for `destination`; any thread.
    func send(to destination: Int32, _ tag: ClusterTag, _ bytes: [UInt8]) {
        condition.withLock {
            outbox.append((destination, tag, bytes))
            condition.signal()
        }
    }

    /// Runs `job` on the transport's thread, after what is queued.
    func perform(_ job: @escaping @Sendable () -> Void) {
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    /// Sends what is queued, waits for the sends (at most `graceMilliseconds`), finalizes MPI
    /// and ends the thread. Returns false if MPI did not finalize in time (a peer is gone).
    func finish(graceMilliseconds: Int64) -> Bool {
        condition.withLock {
            stopping = true
            condition.signal()
            let deadline = cmp_monotonic_ns() &+ UInt64(graceMilliseconds) * 1_000_000
            while !finished {
                let now = cmp_monotonic_ns()
                guard now < deadline else { break }
                condition.wait(nanoseconds: Int64(deadline - now))
            }
            return finished
        }
    }

    private var peers: [Int32] { rank == 0 ? Array(1..<size) : [0] }

    private func run() {
        let start = cmp_monotonic_ns()
        for peer in peers {
            lastHeard[peer] = start
            lastSent[peer] = start
        }
        var lastActivity = start
        var nap: Int64 = 50_000
        while true {
            let (outgoing, work, stop) = condition.withLock {
                () -> ([(destination: Int32, tag: ClusterTag, bytes: [UInt8])], [@Sendable () -> Void], Bool) in
                defer {
                    outbox.removeAll(keepingCapacity: true)
                    jobs.removeAll(keepingCapacity: true)
                }
                return (outbox, jobs, stopping)
            }
            var active = !outgoing.isEmpty || !work.isEmpty
            for message in outgoing { startSend(message.bytes, to: message.destination, tag: message.tag) }
            for job in work { job() }
            if stop {
                finalize()
                return
            }
            testSends()
            active = receiveAvailable() || active
            let now = cmp_monotonic_ns()
            keepPeersInformed(now: now)
            if active {
                lastActivity = now
                nap = 50_000
                continue
            }
            if now &- lastActivity < Self.activeWindow {
                sched_yield()
                continue
            }
            condition.withLock {
                if outbox.isEmpty && jobs.isEmpty && !stopping { condition.wait(nanoseconds: nap) }
            }
            nap = min(nap * 2, 1_000_000)
        }
    }

    private func startSend(_ bytes: [UInt8], to destination: Int32, tag: ClusterTag) {
        // An MPI message's size is an Int32; cluster pools keep chunks under it.
        guard !silent.contains(destination), bytes.count <= Int(Int32.max) else { return }
        // MPI reads the buffer until the send completes: a copy of its own, freed then.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 16)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { buffer.baseAddress!.copyMemory(from: base, byteCount: source.count) }
        }
        var request: UnsafeMutableRawPointer?
        let rc = cmp_mpi_start_send(buffer.baseAddress, Int32(bytes.count), destination, tag.rawValue, &request)
        guard rc == 0, let request else {
            buffer.deallocate()
            return
        }
        sends.append((request, buffer))
        lastSent[destination] = cmp_monotonic_ns()
    }

    private func testSends() {
        guard !sends.isEmpty else { return }
        sends.removeAll { send in
            guard cmp_mpi_test(send.request) != 0 else { return false }
            send.buffer.deallocate()
            return true
        }
    }

    /// Receives every message that is there; whether there was one.
    private func receiveAvailable() -> Bool {
        var any = false
        while true {
            var source: Int32 = 0
            var tagValue: Int32 = 0
            var bytes: Int32 = 0
            guard cmp_mpi_probe_any(&source, &tagValue, &bytes) == 1 else { return any }
            var buffer = [UInt8](repeating: 0, count: Int(bytes))
            let rc = buffer.withUnsafeMutableBytes { cmp_mpi_receive($0.baseAddress, bytes, source, tagValue) }
            any = true
            guard rc == 0 else { continue }
            lastHeard[source] = cmp_monotonic_ns()
            guard let tag = ClusterTag(rawValue: tagValue), tag != .heartbeat else { continue }
            handler?(source, tag, buffer[...])
        }
    }

    /// Heartbeats to peers it has said nothing to for a while; peers silent too long reported.
    private func keepPeersInformed(now: UInt64) {
        for peer in peers where !silent.contains(peer) {
            if now &- (lastSent[peer] ?? 0) >= Self.heartbeatInterval { startSend([], to: peer, tag: .heartbeat) }
            if now &- (lastHeard[peer] ?? now) >= Self.silenceLimit {
                silent.insert(peer)
                onSilent?(peer)
            }
        }
    }

    private func finalize() {
        // What is queued goes first; a send to a peer that is gone never completes, and is left.
        let deadline = cmp_monotonic_ns() &+ 500_000_000
        while !sends.isEmpty && cmp_monotonic_ns() < deadline {
            testSends()
            sched_yield()
        }
        for send in sends { cmp_mpi_abandon(send.request) }
        sends.removeAll()
        _ = cmp_mpi_finalize()
        condition.withLock {
            finished = true
            condition.signal()
        }
    }
}
#endif
