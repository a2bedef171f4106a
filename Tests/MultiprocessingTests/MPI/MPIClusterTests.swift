#if MPI
import Multiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The pool across the ranks of an MPI job, run as a user would: `mpiexec -n 3 MPIProbe ...`
/// under the MPI the package was built against.
@Suite("a pool across MPI ranks", .serialized, .timeLimit(.minutes(5)))
struct MPIClusterTests {
    private let isOpenMPI = MPICluster.implementation == "Open MPI"

    /// Runs a scenario; its output lines and the launcher's wait status.
    private func run(
        _ scenario: [String], launcherOptions: [String] = [], environment: [String] = [], seconds: Double = 60
    ) async throws -> (lines: [String], status: Int32) {
        try await withDeadline(seconds) { () async throws in
            try await offCooperativePool {
                try MPIRun.probe(scenario, launcherOptions: launcherOptions, extraEnvironment: environment)
            }
        }
    }

    /// Waits (at most `seconds`) until no process of the probe is left; the ones that are.
    private func leftovers(within seconds: Int32 = 3) async -> [pid_t] {
        await offCooperativePool {
            var left = MPIRun.leftovers()
            for pid in left { _ = waitForExit(of: pid, milliseconds: seconds * 1000) }
            left = MPIRun.leftovers()
            for pid in left { kill(pid, SIGKILL) }  // they would disturb the next tests
            return left
        }
    }

    @Test("map over 3 ranks gives the right results, run by every worker of ranks 1 and 2")
    func map() async throws {
        let (lines, status) = try await run(["map"])
        #expect(status == 0, "\(lines)")
        #expect(lines.contains("map true processes 4"), "\(lines)")
        let workers = try #require(lines.first { $0.hasPrefix("workers ") })
        for rank in 1...2 { #expect(workers.contains("@rank\(rank)"), "\(workers)") }
        #expect(await leftovers().isEmpty)
    }

    @Test("every call of the API over 3 ranks")
    func everyCall() async throws {
        let (lines, status) = try await run(["calls"])
        #expect(status == 0, "\(lines)")
        for expected in [
            "map true", "mapAsync callback", "mapAsync true", "imap true", "imapUnordered true", "apply true", "applyAsync true",
            "starmap true", "task error 3", "get(timeout:) timeout", "after the wait true",
        ] {
            #expect(lines.contains(expected), "missing \(expected): \(lines)")
        }
    }

    @Test("results too large for a worker's pipe come back from serving ranks, none reported lost")
    func largeResults() async throws {
        let (lines, status) = try await run(["large-results"])
        #expect(status == 0, "\(lines)")
        #expect(lines.contains("large results true"), "\(lines)")
        #expect(lines.contains("next call true"), "\(lines)")
        #expect(!lines.contains { $0.contains("is lost") }, "\(lines)")
    }

    @Test("shared arrays on a rank that says it is on another host: copied there, its in-place writes seen by the caller")
    func sharedArraysCopiedToAnotherHost() async throws {
        // The test hook: rank 2 reports a machine of its own, so rank 0 sends it copies.
        let (lines, status) = try await run(["shared"], environment: ["MULTIPROCESSING_MPI_SEPARATE_HOST_RANKS=2"])
        #expect(status == 0, "\(lines)")
        let inplace = try #require(lines.first { $0.hasPrefix("inplace ") }, "\(lines)")
        #expect(inplace.hasPrefix("inplace true rank2 ") && !inplace.hasPrefix("inplace true rank2 0 "), "\(inplace)")
        let frozen = try #require(lines.first { $0.hasPrefix("frozen ") }, "\(lines)")
        #expect(frozen.hasPrefix("frozen sums true refused true rank2 ") && frozen.hasSuffix(" unchanged true"), "\(frozen)")
        #expect(!frozen.contains(" rank2 0 "), "\(frozen)")
        // Chunks that failed on rank 2 wrote their slices there, and none of it came back.
        let error = try #require(lines.first { $0.hasPrefix("error ") }, "\(lines)")
        #expect(error.hasSuffix(" untouched true written true") && !error.hasPrefix("error failed 0 "), "\(error)")
        #expect(lines.contains("returned same true ranges true"), "\(lines)")
        #expect(await leftovers().isEmpty)
    }

    @Test("shared arrays on ranks of one host: handles, no copy (a failed task's writes stay, as in a local pool)")
    func sharedArraysOnOneHost() async throws {
        let (lines, status) = try await run(["shared"])
        #expect(status == 0, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("inplace true rank2 ") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("frozen sums true refused true ") && $0.hasSuffix(" unchanged true") }, "\(lines)")
        // Shared, not copied: the failed tasks' writes are in the caller's array.
        let error = try #require(lines.first { $0.hasPrefix("error ") }, "\(lines)")
        #expect(error.hasSuffix(" untouched false written true"), "\(error)")
        #expect(lines.contains("returned same true ranges true"), "\(lines)")
        #expect(await leftovers().isEmpty)
    }

    @Test("a crash, a time limit and a cancelled call inside a rank fail alone, naming rank, host, worker and signal")
    func faultsInsideRanks() async throws {
        let (lines, status) = try await run(["faults"])
        #expect(status == 0, "\(lines)")
        let crash = try #require(lines.first { $0.hasPrefix("crash ") }, "\(lines)")
        #expect(crash.hasPrefix("crash 7 ok, failed: PoolError.workerDied: rank "), "\(crash)")
        #expect(crash.contains("@rank") && crash.contains("signal 11 (SIGSEGV)") && crash.contains(" on "), "\(crash)")
        let limit = try #require(lines.first { $0.hasPrefix("time limit: ") }, "\(lines)")
        #expect(limit.contains("PoolError.taskTimedOut") && limit.contains("time limit of 0.5 seconds"), "\(limit)")
        #expect(lines.contains("cancelled: CancellationError after less than 10 s"), "\(lines)")
        #expect(lines.contains("next call true"), "\(lines)")
        #expect(await leftovers().isEmpty)
    }

    @Test("a rank SIGKILLed mid-map ends the job under the launcher's default, naming it; nothing is left")
    func rankKilledEndsTheJob() async throws {
        let (lines, status) = try await run(["kill-rank"])
        #expect(status != 0, "\(lines)")
        let text = lines.joined(separator: "\n")
        if isOpenMPI {
            // The launcher's words, and ours when our silence limit comes first.
            #expect(text.contains("exited on signal 9") && text.contains("process rank"), "\(text)")
        } else {
            // MPICH's launcher kills every process at once, naming the one that died by pid and host.
            #expect(text.contains("BAD TERMINATION") && text.contains("EXIT CODE: 9"), "\(text)")
        }
        #expect(await leftovers().isEmpty)
    }

    @Test(
        "with rankLoss: .failItsItems and a launcher that lets the job live, a lost rank's items fail and the pool goes on",
        .enabled(
            if: MPICluster.implementation == "Open MPI",
            "MPICH 4.0.2's launcher ends the job when a rank dies, flags or not (see rankKilledUnderMPICHSurvivalFlags)")
    )
    func rankKilledSurvived() async throws {
        let (lines, status) = try await run(["kill-rank", "survive"], launcherOptions: ["--enable-recovery"])
        #expect(status == 0, "\(lines)")
        let ended = try #require(lines.first { $0.hasPrefix("call ended after ") }, "\(lines)")
        #expect(ended.contains("failed: PoolError.workerDied: rank ") && ended.contains("was lost while running item"), "\(ended)")
        // The silence limit is 1 s: the call ends soon after, not at some far timeout.
        let seconds = Double(ended.dropFirst("call ended after ".count).prefix { $0 != " " }) ?? .infinity
        #expect(seconds < 5, "\(ended)")
        #expect(lines.contains("next call true"), "\(lines)")
        #expect(await leftovers().isEmpty)
    }

    @Test(
        "MPICH with its survival flags: the job still ends when a rank dies, but never hangs and leaves nothing",
        .enabled(if: MPICluster.implementation == "MPICH", "Open MPI survives: see rankKilledSurvived")
    )
    func rankKilledUnderMPICHSurvivalFlags() async throws {
        let (lines, status) = try await run(
            ["kill-rank", "survive"], launcherOptions: ["-disable-auto-cleanup"], environment: ["MPIR_CVAR_ENABLE_FT=1"])
        #expect(status != 0 || lines.contains("next call true"), "\(lines)")
        #expect(await leftovers().isEmpty)
    }

    @Test("rank 0 SIGKILLed mid-call: every rank and every worker is gone")
    func rankZeroKilled() async throws {
        let (lines, status) = try await run(["kill-rank-zero"])
        #expect(status != 0, "\(lines)")
        #expect(lines.contains("killing rank 0"), "\(lines)")
        #expect(await leftovers().isEmpty)
    }

    @Test("idle serving ranks do not burn a CPU")
    func idleRanksSleep() async throws {
        let (lines, status) = try await run(["idle"])
        #expect(status == 0, "\(lines)")
        let line = try #require(lines.first { $0.hasPrefix("idle ranks ") }, "\(lines)")
        #expect(line.hasPrefix("idle ranks 2,"), "\(line)")
        let percent = Int(line.split(separator: " ").dropLast(3).last?.dropLast() ?? "") ?? 100
        #expect(percent < 30, "\(line)")
    }

    @Test("the seed's map under mpiexec -n 3 --mpi: worker lines name their ranks; both items run at once")
    func seedDemo() async throws {
        let (lines, status) = try await withDeadline(60) { () async throws in
            try await offCooperativePool { try MPIRun.probe(["map", "--seconds", "0.3", "--mpi"], program: "multiprocessing-demo") }
        }
        #expect(status == 0, "\(lines)")
        #expect(Array(lines.suffix(2)) == ["MainProcess: executed", "MainProcess: [100, 50]"], "\(lines)")
        let starts = lines.filter { $0.hasSuffix(": start") }
        #expect(starts.count == 2 && starts.allSatisfy { $0.contains("@rank") }, "\(lines)")
        // Both items started before either ended: they ran at once, on two ranks.
        #expect(lines.lastIndex { $0.hasSuffix(": start") }! < lines.firstIndex { $0.hasSuffix(": end") }!, "\(lines)")
    }
}
#endif
