#if MPI
import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// This process's part in the MPI job: its transport, and its role (rank 0 coordinates, every
/// other rank serves).
final class ClusterRuntime: Sendable {
    private static let shared = Mutex<ClusterRuntime?>(nil)
    static var current: ClusterRuntime? { shared.withLock { $0 } }

    let transport: MPITransport
    /// Rank 0's view of the serving ranks; nil on a serving rank.
    let coordinator: ClusterCoordinator?

    private init(transport: MPITransport, coordinator: ClusterCoordinator?) {
        self.transport = transport
        self.coordinator = coordinator
    }

    /// Starts MPI; on rank 0 returns, on the others serves and never returns.
    static func start(processesPerRank: Int?) throws(PoolError) {
        guard current == nil else { return }
        if let processesPerRank, processesPerRank < 1 {
            throw PoolError(.invalidArgument, "processesPerRank must be at least 1 or nil, got \(processesPerRank)")
        }
        // A write to a rank that died must fail, not end this one (MPI's transports may write
        // to sockets and pipes of their own).
        signal(SIGPIPE, SIG_IGN)
        // Messages may come before the role is set up: the router holds them until it is.
        let router = ClusterRouter()
        let transport = try MPITransport.start(receiver: router)
        if transport.rank == 0 {
            let coordinator = ClusterCoordinator(transport: transport)
            let runtime = ClusterRuntime(transport: transport, coordinator: coordinator)
            shared.withLock { $0 = runtime }
            router.attach(coordinator)
            atexit { ClusterRuntime.current?.coordinator?.endJob() }
            return
        }
        let server = try RankServer(transport: transport, processes: processesPerRank)
        shared.withLock { $0 = ClusterRuntime(transport: transport, coordinator: nil) }
        router.attach(server)
        server.serveForever()
    }
}

/// What a rank does with what the transport receives, on the thread holding the transport's
/// turn (one at a time).
protocol ClusterRole: AnyObject, Sendable {
    /// One message from `source`.
    func received(_ source: Int32, _ tag: ClusterTag, _ bytes: ArraySlice<UInt8>)
    /// The messages there were have all been received: the time to act on them together.
    func deliveryEnded()
    /// `rank` sent nothing for `silence`, the transport's silence limit or more.
    func silent(_ rank: Int32, after silence: Duration)
    /// The transport's thread is looking while messages flow: the time to read what the rank's
    /// own workers answered. Returns whether that answered any chunk.
    func pollWhileActive() -> Bool
    /// The transport's thread has nothing to do for now but look again: the role may wait at
    /// most `nanoseconds` where waiting delays no answer (for the rank's own workers to answer,
    /// say). Returns false at once if it did not wait (the thread then yields its CPU instead).
    func waitWhileActive(nanoseconds: Int) -> Bool
    /// The transport's thread stops looking and sleeps until messages come.
    func transportWillSleep()
}

extension ClusterRole {
    /// A role without workers of its own has nothing to read.
    func pollWhileActive() -> Bool { false }
    /// A role without workers of its own has nothing to wait for.
    func waitWhileActive(nanoseconds: Int) -> Bool { false }
    /// A role without workers of its own has nothing to hand over.
    func transportWillSleep() {}
}

/// Hands the transport's messages to the rank's role, holding those that come before it is set.
final class ClusterRouter: ClusterRole {
    private enum Event {
        case message(Int32, ClusterTag, ArraySlice<UInt8>)
        case deliveryEnded
        case silent(Int32, Duration)
    }

    private let state = Mutex<(role: (any ClusterRole)?, held: [Event])>((nil, []))

    func attach(_ role: any ClusterRole) {
        let held = state.withLock { state in
            state.role = role
            defer { state.held = [] }
            return state.held
        }
        for event in held {
            switch event {
            case .message(let source, let tag, let bytes): role.received(source, tag, bytes)
            case .deliveryEnded: role.deliveryEnded()
            case .silent(let rank, let silence): role.silent(rank, after: silence)
            }
        }
    }

    func received(_ source: Int32, _ tag: ClusterTag, _ bytes: ArraySlice<UInt8>) {
        role(orHold: .message(source, tag, bytes))?.received(source, tag, bytes)
    }

    func deliveryEnded() {
        role(orHold: .deliveryEnded)?.deliveryEnded()
    }

    func silent(_ rank: Int32, after silence: Duration) {
        role(orHold: .silent(rank, silence))?.silent(rank, after: silence)
    }

    func pollWhileActive() -> Bool {
        state.withLock { $0.role }?.pollWhileActive() ?? false
    }

    func waitWhileActive(nanoseconds: Int) -> Bool {
        state.withLock { $0.role }?.waitWhileActive(nanoseconds: nanoseconds) ?? false
    }

    func transportWillSleep() {
        state.withLock { $0.role }?.transportWillSleep()
    }

    /// The role, or nil once `event` is held for it.
    private func role(orHold event: Event) -> (any ClusterRole)? {
        state.withLock { state in
            if state.role == nil { state.held.append(event) }
            return state.role
        }
    }
}

/// Writes a line to standard error in one write: a rank's last words before the job ends.
func clusterSay(_ line: String) {
    let text = "swift-multiprocessing: " + line + "\n"
    _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
#endif
