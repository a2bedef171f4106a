import CMultiprocessing
import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("the channel's sending side", .timeLimit(.minutes(1)))
struct OutboundChannelTests {
    @Test("stop() returns when it comes before the writer thread took the write handed to it")
    func stopBeforeWriterStarts() async throws {
        // A frame larger than the socket's buffer: flush() sends part of it and hands the rest to
        // a writer thread it starts. The peer then goes (a worker that died just after a large
        // send), and stop() often wins the lock before that thread runs, as under load. Rounds,
        // to get that order; a writer that runs first fails at once on the closed peer.
        for _ in 0..<100 {
            var fds: [Int32] = [0, 0]
            try #require(cmp_socketpair(&fds) == 0)
            defer { close(fds[1]) }
            let channel = OutboundChannel(descriptor: fds[1], threadName: "test-out")
            channel.enqueue([UInt8](repeating: 7, count: 8 << 20))
            channel.flush()
            close(fds[0])
            try await withDeadline(10, "stop() after a flush handed to the writer thread") {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    do {
                        // stop() blocks its thread: not one of Swift's few cooperative ones.
                        try NativeThread.detach(name: "test-stop") {
                            channel.stop()
                            continuation.resume()
                        }
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        }
    }
}
