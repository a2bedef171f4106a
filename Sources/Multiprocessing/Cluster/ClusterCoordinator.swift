#if MPI
import CMPIShim
import CMultiprocessing
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Rank 0's view of the serving ranks: who said hello with how many workers, which pool uses
/// them now, which were lost, and what a loss means.
final class ClusterCoordinator: ClusterRole {
    let transport: MPITransport

    private struct State {
        var hellos: [Int32: ClusterHello] = [:]
        /// The workers of the cluster pool in use, by rank.
        var workers: [Int32: RemoteWorker] = [:]
        var lost: Set<Int32> = []
        var rankLoss = ClusterConfiguration.RankLoss.endJob
        var ended = false
        /// Workers that got results in this delivery: they send what those freed room for when
        /// it ends.
        var answered: [RemoteWorker] = []
    }

    private let state = Mutex(State())
    private let arrivals = Condition()

    /// How long rank 0 waits between its last line and MPI_Abort.
    static let lastWordsHeadStartMicroseconds: UInt32 = 200_000

    init(transport: MPITransport) {
        self.transport = transport
    }

    func received(_ source: Int32, _ tag: ClusterTag, _ bytes: ArraySlice<UInt8>) {
        switch tag {
        case .hello:
            guard let hello = try? ClusterHello.decode(bytes) else { return }
            arrivals.withLock {
                state.withLock { $0.hellos[source] = hello }
                arrivals.broadcast()
            }
        case .result:
            guard let result = try? ClusterResult.decode(bytes) else { return }
            let worker = state.withLock { state -> RemoteWorker? in
                guard let worker = state.workers[source] else { return nil }
                if !state.answered.contains(where: { $0 === worker }) { state.answered.append(worker) }
                return worker
            }
            worker?.received(result)
        case .chunk, .skip, .heartbeat, .shutdown, .batch:
            break
        }
    }

    /// Sends what the delivery's results freed room for: one message per rank, not per result.
    func deliveryEnded() {
        let answered = state.withLock { state in
            defer { state.answered.removeAll(keepingCapacity: true) }
            return state.answered
        }
        for worker in answered { worker.sendFreedRoom() }
    }

    /// A rank stopped answering: its pool's items fail, or the job ends, as the pool in use says.
    func silent(_ rank: Int32, after silence: Duration) {
        let (worker, policy, hello): (RemoteWorker?, ClusterConfiguration.RankLoss, ClusterHello?) = state.withLock { state in
            state.lost.insert(rank)
            return (state.workers.removeValue(forKey: rank), state.rankLoss, state.hellos[rank])
        }
        let who = "rank \(rank)" + (hello.map { " on \($0.host) (pid \($0.pid))" } ?? "")
        let silentFor = "it sent nothing for \(silence)"
        switch policy {
        case .endJob:
            clusterSay("\(who) is lost: \(silentFor); ending the job")
            // The launcher reads this line from a pipe when it gets to it, and the abort reaches
            // it another way: told first, MPICH's kills this process and its own forwarding of
            // the line with it. The line gets a head start.
            usleep(Self.lastWordsHeadStartMicroseconds)
            cmp_mpi_abort(1)
        case .failItsItems:
            clusterSay("\(who) is lost: \(silentFor); its items fail and the pool goes on without it")
            worker?.lost("\(silentFor): its process or its host is gone")
        }
    }

    /// The serving ranks that are not lost, once each has said hello (waiting at most
    /// `timeout` for them); throws naming a rank that did not.
    func ranks(waitingAtMost timeout: Duration) throws(PoolError) -> [(rank: Int32, hello: ClusterHello)] {
        let deadline = ContinuousClock.now + timeout
        let expected = (1..<transport.size).map { $0 }
        let outcome: Result<[(rank: Int32, hello: ClusterHello)], PoolError> = arrivals.withLock {
            while true {
                let (hellos, lost) = state.withLock { ($0.hellos, $0.lost) }
                let missing = expected.filter { hellos[$0] == nil && !lost.contains($0) }
                if missing.isEmpty {
                    return .success(expected.compactMap { rank in lost.contains(rank) ? nil : hellos[rank].map { (rank, $0) } })
                }
                let now = ContinuousClock.now
                guard now < deadline else {
                    return .failure(PoolError(.spawnFailed, "rank \(missing[0]) of the MPI job did not start serving within \(timeout)"))
                }
                arrivals.wait(nanoseconds: (deadline - now).nanoseconds)
            }
        }
        return try outcome.get()
    }

    /// Makes `worker` the one that gets `rank`'s results, under `rankLoss`.
    func register(_ worker: RemoteWorker, rank: Int32, rankLoss: ClusterConfiguration.RankLoss) throws(PoolError) {
        try state.withLock { (state: inout State) throws(PoolError) in
            guard state.workers[rank] == nil else {
                throw PoolError(.invalidArgument, "the MPI ranks serve one cluster pool at a time; end the other first")
            }
            state.workers[rank] = worker
            state.rankLoss = rankLoss
        }
    }

    /// `worker` is done with its rank.
    func unregister(_ worker: RemoteWorker, rank: Int32) {
        state.withLock { state in
            if state.workers[rank] === worker { state.workers[rank] = nil }
        }
    }

    /// Rank 0's program ends: the serving ranks are told to finish, then MPI is finalized.
    func endJob() {
        let ranks: [Int32] = state.withLock { state in
            guard !state.ended else { return [] }
            state.ended = true
            return (1..<transport.size).filter { !state.lost.contains($0) }
        }
        for rank in ranks { transport.send(to: rank, .shutdown, []) }
        // A rank that is gone can keep MPI_Finalize from returning: the program ends anyway.
        _ = transport.finish(graceMilliseconds: 3_000)
    }
}
#endif
