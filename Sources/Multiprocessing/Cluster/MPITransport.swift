#if MPI
import CMPIShim
import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The thread of a process that talks MPI: it starts MPI, sends what other threads queue,
/// receives whatever any rank sends, and keeps each peer's liveness.
///
/// It never blocks on one rank: it probes for a message from any rank, starts sends without
/// waiting for them, and tests them later. Neither Open MPI nor MPICH reports a rank that died
/// (a receive from it just never completes), so liveness is our own: every rank sends a
/// heartbeat when it has had nothing else to say for ``heartbeatInterval``, and a peer silent
/// for ``silenceLimit`` is reported lost. While messages flow the thread keeps looking (yielding
/// its CPU between looks, or, on a serving rank whose own workers hold chunks, reading their
/// answers itself and waiting for them in the kernel); idle, it sleeps in growing steps, so an
/// idle rank does not burn a core.
/// What is queued for one rank while the thread is busy leaves as one MPI message (a batch).
///
/// MPI runs `MPI_THREAD_SERIALIZED`: whichever thread holds the turn makes the MPI calls. A
/// thread that queues messages and finds the turn free sends them itself, and a caller of
/// `apply` waiting actively for its answer receives it itself (``lookForAnswers()``), as it
/// reads a local worker's pipe: no hand-off to this thread and back, and this thread waits
/// rather than spins meanwhile, leaving the CPUs to the threads on the answer's path.
///
/// `@unchecked Sendable`: `outbox`, `jobs`, `stopping` and `finished` are only touched with
/// `condition` locked; everything else (the MPI state) only by the thread holding the turn
/// (`turnHeld`, taken with acquiring and released with releasing ordering).
final class MPITransport: @unchecked Sendable {
    /// A message queued: where it goes, what it is, its bytes.
    typealias Outgoing = (destination: Int32, tag: ClusterTag, bytes: [UInt8])

    let rank: Int32
    let size: Int32
    let host: String

    /// How long a rank may have nothing to say before it sends a heartbeat.
    static let heartbeatInterval: UInt64 = 200_000_000
    /// How long a peer may be silent before it is reported lost.
    static let silenceLimit: UInt64 = 1_000_000_000
    /// How long the thread keeps looking after its last message before it starts to sleep.
    static let activeWindow: UInt64 = 1_000_000
    /// How long the thread may wait, while messages flow, before it looks for them again.
    static let activeWait = 100_000
    /// Messages larger than this leave alone, and batches stop growing past it: packing saves
    /// a message's fixed cost, which is nothing next to copying a large one.
    static let batchBytes = 1 << 20

    private let condition = Condition()
    private var outbox: [Outgoing] = []
    private var jobs: [@Sendable () -> Void] = []
    private var stopping = false
    private var finished = false

    /// Whether threads other than the transport's may take the turn (the MPI provides
    /// `MPI_THREAD_SERIALIZED`).
    private let sharedTurns: Bool
    /// Set while a thread makes MPI calls.
    private let turnHeld = Atomic<Bool>(false)
    /// The thread holding the turn (`pthread_self`), 0 when none: what it queues it sends
    /// before it lets go.
    private let turnOwner = Atomic<UInt>(0)
    /// How many messages a caller looking for its answer receives at most per look: it must not
    /// stay to deliver a burst of other calls' traffic (a map running alongside).
    static let callerReceiveLimit = 8
    /// When a caller last looked for its answer itself: this thread waits rather than looks
    /// meanwhile.
    private let callerLookedAt = Atomic<UInt64>(0)
    /// MPI is finalized: nobody calls it again.
    private var finalized = false

    private var receiver: (any ClusterRole)?
    private var sends: [(request: UnsafeMutableRawPointer, buffer: UnsafeMutableRawBufferPointer)] = []
    private var lastHeard: [Int32: UInt64] = [:]
    private var lastSent: [Int32: UInt64] = [:]
    private var silent: Set<Int32> = []

    private init(rank: Int32, size: Int32, host: String, sharedTurns: Bool) {
        self.rank = rank
        self.size = size
        self.host = host
        self.sharedTurns = sharedTurns
        // Filled before `start` publishes the transport: once it is, only the turn's holder
        // touches them.
        let now = cmp_monotonic_ns()
        for peer in rank == 0 ? Array(1..<size) : [0] {
            lastHeard[peer] = now
            lastSent[peer] = now
        }
    }

    /// Starts MPI on a thread of its own and returns once it is up. `receiver` gets every
    /// message, the end of every burst of them, and every peer that fell silent, on the thread
    /// holding the turn.
    static func start(receiver: any ClusterRole) throws(PoolError) -> MPITransport {
        let started = Mutex<Result<MPITransport, PoolError>?>(nil)
        let ready = Condition()
        try NativeThread.detach(name: "mp-mpi") {
            var rank: Int32 = 0
            var size: Int32 = 0
            var serialized: Int32 = 0
            let rc = cmp_mpi_init(&rank, &size, &serialized)
            let outcome: Result<MPITransport, PoolError>
            if rc != 0 {
                outcome = .failure(PoolError(.spawnFailed, "MPI_Init_thread failed (MPI error \(rc))"))
            } else {
                var name = [CChar](repeating: 0, count: 256)
                cmp_mpi_processor_name(&name, Int32(name.count))
                let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let transport = MPITransport(rank: rank, size: size, host: host, sharedTurns: serialized != 0)
                transport.receiver = receiver
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
        send([(destination, tag, bytes)])
    }

    /// Queues messages, in order; any thread. On rank 0 they leave at once if the turn is free.
    func send(_ messages: [Outgoing]) {
        guard !messages.isEmpty else { return }
        condition.withLock { outbox.append(contentsOf: messages) }
        // The holder sends what it queued itself before it lets go of the turn.
        if turnOwner.load(ordering: .relaxed) == Self.currentThread { return }
        // On rank 0 the caller's chunks leave without a hand-off (a call's chunks for a rank are
        // queued together, so they still leave as one batch). On a serving rank what other
        // threads queue is answers read one at a time by the workers' reader threads: the
        // transport's thread sends them together, as one batch, rather than one message each.
        if sharedTurns && rank == 0 && takeTurn() {
            if !finalized { _ = sendQueued() }
            releaseTurn()
            return
        }
        condition.withLock { condition.signal() }
    }

    /// For a caller waiting actively for an answer: sends what is queued and receives what has
    /// come, on the calling thread, unless another thread holds the turn; it stops once
    /// `isAnswered` or after ``callerReceiveLimit`` messages, the rest left to the transport's
    /// thread or the next look. Meanwhile the transport's thread waits instead of looking.
    func lookForAnswers(until isAnswered: () -> Bool) {
        guard sharedTurns else { return }
        callerLookedAt.store(cmp_monotonic_ns(), ordering: .relaxed)
        guard takeTurn() else { return }
        if !finalized {
            _ = sendQueued()
            testSends()
            _ = receiveAvailable(atMost: Self.callerReceiveLimit, until: isAnswered)
        }
        releaseTurn()
    }

    /// A caller stopped looking for its answer: unless it has it, the transport's thread looks
    /// again at once. An answered caller leaves the thread's wait to end on its own (within
    /// ``activeWait``, or its nap, at most 1 ms): woken now, the thread would take a CPU on the
    /// path of the caller's next call, which looks for its answer itself again.
    func callerStoppedLooking(answered: Bool) {
        guard sharedTurns else { return }
        callerLookedAt.store(0, ordering: .relaxed)
        guard !answered else { return }
        condition.withLock { condition.signal() }
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

    /// The calling thread's `pthread_self` as a number (`pthread_t` is a pointer on Musl).
    private static var currentThread: UInt {
        #if canImport(Musl)
        UInt(bitPattern: pthread_self())
        #else
        UInt(pthread_self())
        #endif
    }

    /// Takes the turn if no thread holds it; whether it did.
    private func takeTurn() -> Bool {
        guard turnHeld.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        turnOwner.store(Self.currentThread, ordering: .relaxed)
        return true
    }

    /// Sends what was queued while the turn was held, and lets go of it.
    private func releaseTurn() {
        if !finalized { _ = sendQueued() }
        turnOwner.store(0, ordering: .relaxed)
        turnHeld.store(false, ordering: .releasing)
    }

    /// Starts the sends of what is queued (the turn held); whether there was any.
    private func sendQueued() -> Bool {
        let outgoing = condition.withLock { () -> [Outgoing] in
            defer { outbox.removeAll(keepingCapacity: true) }
            return outbox
        }
        startSends(outgoing)
        return !outgoing.isEmpty
    }

    /// Whether a caller looked for its answer itself within the last ``activeWait``.
    private func callerIsLooking(now: UInt64) -> Bool {
        let at = callerLookedAt.load(ordering: .relaxed)
        return at != 0 && now &- at < UInt64(Self.activeWait)
    }

    /// Waits on the condition for at most `nanoseconds`, unless there is something to do;
    /// whether it waited.
    @discardableResult
    private func waitForWork(nanoseconds: Int64) -> Bool {
        condition.withLock {
            guard outbox.isEmpty && jobs.isEmpty && !stopping else { return false }
            condition.wait(nanoseconds: nanoseconds)
            return true
        }
    }

    private func run() {
        cmp_mpi_precise_timers()
        var lastActivity = cmp_monotonic_ns()
        var nap: Int64 = 50_000
        var judgedLastTime = true
        // Whether the thread is in its active window (not back from a nap with nothing new).
        var looking = true
        while true {
            let turnStarted = cmp_monotonic_ns()
            guard takeTurn() else {
                // Another thread holds the turn: a caller looking for its answer, which receives
                // meanwhile (this thread keeps off the CPUs), or one sending, which lets go at once.
                // The wait returns at once while messages are queued (the holder sends them when it
                // lets go): this thread then yields rather than spins.
                if !callerIsLooking(now: turnStarted) || !waitForWork(nanoseconds: Int64(Self.activeWait)) {
                    sched_yield()
                }
                continue
            }
            let (work, stop) = condition.withLock { () -> ([@Sendable () -> Void], Bool) in
                defer { jobs.removeAll(keepingCapacity: true) }
                return (jobs, stopping)
            }
            var active = sendQueued() || !work.isEmpty
            for job in work { job() }
            if stop {
                finalize()
                releaseTurn()
                return
            }
            testSends()
            active = receiveAvailable() || active
            // While messages flow, the role reads its own workers' answers here; what they
            // answer leaves when the turn ends, without a yield between.
            if looking || active { active = receiver?.pollWhileActive() == true || active }
            let now = cmp_monotonic_ns()
            // A turn that took long was this thread's stall, not the peers' silence: what they
            // sent meanwhile is received first, on the next turn (once; a stall every turn
            // must not keep a lost peer from being reported).
            let judge = now &- turnStarted < Self.heartbeatInterval || !judgedLastTime
            keepPeersInformed(now: now, judgingSilence: judge)
            judgedLastTime = judge
            let sending = !sends.isEmpty
            releaseTurn()
            if active {
                lastActivity = now
                nap = 50_000
                looking = true
                continue
            }
            if now &- lastActivity < Self.activeWindow {
                if callerIsLooking(now: now) {
                    // The caller receives its answer itself: this thread keeps off the CPUs.
                    waitForWork(nanoseconds: Int64(Self.activeWait))
                    continue
                }
                // A role that can wait without delaying an answer (a serving rank for its own
                // workers, where the kernel wakes it the moment one answers) waits rather than
                // yields: a thread that yields still takes its share of CPUs it shares with the
                // very processes it waits for. Not while sends are under way or queued, which
                // that wait does not watch.
                let queued = sending || condition.withLock { !outbox.isEmpty || !jobs.isEmpty }
                if queued || receiver?.waitWhileActive(nanoseconds: Self.activeWait) != true { sched_yield() }
                continue
            }
            if looking {
                looking = false
                receiver?.transportWillSleep()
            }
            waitForWork(nanoseconds: nap)
            nap = min(nap * 2, 1_000_000)
        }
    }

    /// Sends what was queued, each destination's messages in order: runs of small ones as one
    /// batch each.
    private func startSends(_ outgoing: [Outgoing]) {
        guard !outgoing.isEmpty else { return }
        var byDestination: [Int32: [(tag: ClusterTag, bytes: [UInt8])]] = [:]
        var destinations: [Int32] = []
        for message in outgoing {
            if byDestination[message.destination] == nil { destinations.append(message.destination) }
            byDestination[message.destination, default: []].append((message.tag, message.bytes))
        }
        for destination in destinations {
            let messages = byDestination[destination]!
            var start = 0
            while start < messages.count {
                var end = start + 1
                var bytes = ClusterBatch.headerBytes + messages[start].bytes.count
                while end < messages.count, bytes + ClusterBatch.headerBytes + messages[end].bytes.count <= Self.batchBytes {
                    bytes += ClusterBatch.headerBytes + messages[end].bytes.count
                    end += 1
                }
                if end - start == 1 {
                    startSend(to: destination, tag: messages[start].tag, byteCount: messages[start].bytes.count) { buffer in
                        messages[start].bytes.withUnsafeBytes { source in
                            if let base = source.baseAddress { buffer.baseAddress!.copyMemory(from: base, byteCount: source.count) }
                        }
                    }
                } else {
                    startSend(to: destination, tag: .batch, byteCount: bytes) { ClusterBatch.write(messages[start..<end], into: $0) }
                }
                start = end
            }
        }
    }

    private func startSend(to destination: Int32, tag: ClusterTag, byteCount: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) {
        // An MPI message's size is an Int32; cluster pools keep chunks under it.
        guard !silent.contains(destination), byteCount <= Int(Int32.max) else { return }
        // MPI reads the buffer until the send completes: a copy of its own, freed then.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, byteCount), alignment: 16)
        fill(buffer)
        var request: UnsafeMutableRawPointer?
        let rc = cmp_mpi_start_send(buffer.baseAddress, Int32(byteCount), destination, tag.rawValue, &request)
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

    /// Receives the messages that are there (at most `limit`, and none once `isAnswered`), then
    /// tells the receiver the burst ended; whether there was one.
    private func receiveAvailable(atMost limit: Int = .max, until isAnswered: () -> Bool = { false }) -> Bool {
        var delivered = false
        var any = false
        var received = 0
        while received < limit && !isAnswered() {
            var source: Int32 = 0
            var tagValue: Int32 = 0
            var bytes: Int32 = 0
            guard cmp_mpi_probe_any(&source, &tagValue, &bytes) == 1 else { break }
            var buffer = [UInt8](repeating: 0, count: Int(bytes))
            let rc = buffer.withUnsafeMutableBytes { cmp_mpi_receive($0.baseAddress, bytes, source, tagValue) }
            any = true
            received += 1
            guard rc == 0 else { continue }
            lastHeard[source] = cmp_monotonic_ns()
            if tagValue == ClusterTag.batch.rawValue {
                // A batch cut short is dropped whole: its sender is broken, and its liveness says so.
                for message in (try? ClusterBatch.messages(in: buffer[...])) ?? [] {
                    delivered = deliver(source, message.tag, message.bytes) || delivered
                }
            } else {
                delivered = deliver(source, tagValue, buffer[...]) || delivered
            }
        }
        if delivered { receiver?.deliveryEnded() }
        return any
    }

    private func deliver(_ source: Int32, _ tagValue: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        guard let tag = ClusterTag(rawValue: tagValue), tag != .heartbeat, tag != .batch else { return false }
        receiver?.received(source, tag, bytes)
        return true
    }

    /// Heartbeats to peers it has said nothing to for a while; peers silent too long reported
    /// when `judgingSilence`.
    private func keepPeersInformed(now: UInt64, judgingSilence: Bool) {
        for peer in peers where !silent.contains(peer) {
            if now &- (lastSent[peer] ?? 0) >= Self.heartbeatInterval { startSend(to: peer, tag: .heartbeat, byteCount: 0) { _ in } }
            let silence = now &- (lastHeard[peer] ?? now)
            if judgingSilence && silence >= Self.silenceLimit {
                silent.insert(peer)
                receiver?.silent(peer, after: .milliseconds(Int64(silence / 1_000_000)))
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
        finalized = true
        condition.withLock {
            finished = true
            condition.signal()
        }
    }
}
#endif
