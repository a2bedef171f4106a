import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#endif

/// What a worker inherits from its parent: only standard output and error, its own channel and
/// its pool's wake board; standard input is /dev/null, as in Python's workers.
@Suite("what workers inherit", .timeLimit(.minutes(1)))
struct WorkerInheritanceTests {
    @Test("a descriptor the parent holds without close-on-exec does not reach the workers; stdin is /dev/null")
    func onlyTheChannel() async throws {
        // As a shell leaves descriptors open for the programs it starts: a file of its own, so
        // that the worker's descriptors can be told from it by what they refer to.
        let pattern = "/tmp/mp-inherit-XXXXXX"
        var template = Array(pattern.utf8CString)
        let leaked = mkstemp(&template)
        try #require(leaked >= 0)
        let path = String(decoding: template.prefix(pattern.utf8.count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer {
            close(leaked)
            unlink(path)
        }
        #expect(fcntl(leaked, F_GETFD) & FD_CLOEXEC == 0)
        try await withDeadline(60) { () async throws in
            try await ProcessPool.with(processes: 1) { pool in
                let state = try await pool.apply(InheritedState(), 0)
                #expect(!state.descriptors.values.contains(path), "\(state.descriptors)")
                #expect(state.stdinIsDevNull)
            }
        }
    }
}
