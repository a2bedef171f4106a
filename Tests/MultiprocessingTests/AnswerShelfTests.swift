import CMultiprocessing
import Testing

@testable import Multiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("answers held back on a worker's shelf")
struct AnswerShelfTests {
    /// Runs `body` with a shelf's memory and a pipe (read end, write end), both gone after it.
    private func withShelfMemory(_ body: (UnsafeMutableRawPointer, [Int32]) throws -> Void) throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { for fd in fds { close(fd) } }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: Int(CMP_WAKE_BOARD_SHELF_BYTES), alignment: 8)
        defer { memory.deallocate() }
        memory.storeBytes(of: UInt32(0), as: UInt32.self)
        try body(memory, fds)
    }

    @Test("the shelf holds answers in shared memory, writes them in one write when full, and is readable by the parent")
    func shelf() throws {
        try withShelfMemory { memory, fds in
            // A hold time no test run reaches: what is written here is written by the calls.
            let shelf = AnswerShelf(memory, answers: fds[1], logs: nil, maximumHold: 600_000_000_000)
            let frame: [UInt8] = [1, 2, 3, 4, 5]
            for _ in 0..<3 { #expect(frame.withUnsafeBytes { shelf.hold($0) }) }
            #expect(cmp_poll_readable(fds[0], 0) == 0)
            #expect(cmp_shelf_length(memory) == 15)
            #expect([UInt8](UnsafeRawBufferPointer(start: memory + 8, count: 5)) == frame)
            // Full: written at once, in one write, and emptied.
            for _ in 3..<AnswerShelf.maximumAnswers { #expect(frame.withUnsafeBytes { shelf.hold($0) }) }
            #expect(cmp_shelf_length(memory) == 0)
            var buffer = [UInt8](repeating: 0, count: 4096)
            #expect(read(fds[0], &buffer, buffer.count) == 5 * AnswerShelf.maximumAnswers)
            // A frame larger than the shelf is the caller's to write.
            let large = [UInt8](repeating: 7, count: AnswerShelf.capacity + 1)
            #expect(!large.withUnsafeBytes { shelf.hold($0) })
            // What a worker leaves when it ends, as its parent reads it.
            #expect(frame.withUnsafeBytes { shelf.hold($0) })
            #expect(AnswerShelf.takeLeftovers(memory) == frame)
            #expect(cmp_shelf_length(memory) == 0)
            // Emptied before the memory and the pipe go: the shelf's thread outlives the test.
            shelf.write()
            #expect(read(fds[0], &buffer, buffer.count) == 5)
        }
    }

    @Test("answers left on the shelf are written by its thread once they have waited its hold time")
    func heldTooLong() throws {
        try withShelfMemory { memory, fds in
            let shelf = AnswerShelf(memory, answers: fds[1], logs: nil)
            let frame: [UInt8] = [1, 2, 3, 4, 5]
            for _ in 0..<3 { #expect(frame.withUnsafeBytes { shelf.hold($0) }) }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while received.count < 15, cmp_poll_readable(fds[0], 10_000) == 1 {
                let count = read(fds[0], &buffer, buffer.count)
                guard count > 0 else { break }
                received += buffer.prefix(count)
            }
            #expect(received == frame + frame + frame)
            // Emptied after the write: wait for it before the memory goes.
            let deadline = ContinuousClock.now + .seconds(10)
            while cmp_shelf_length(memory) != 0 && ContinuousClock.now < deadline { sched_yield() }
            #expect(cmp_shelf_length(memory) == 0)
            shelf.write()
        }
    }

    @Test("a worker killed after quick items: their answers held on its shelf still arrive; only the item that killed it fails")
    func killedAfterQuickItems() async throws {
        try await withDeadline { () async throws in
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let count = 400
                let outputs = try pool.imap(DieOn(fatal: [300], way: .kill), Array(0..<count), chunksize: 1)
                var succeeded: [Int] = []
                var failures: [String] = []
                for try await result in outputs.results {
                    switch result {
                    case .success(let value): succeeded.append(value)
                    case .failure(let error): failures.append("\(error)")
                    }
                }
                #expect(failures.count == 1, "\(failures)")
                #expect(failures.first?.contains("item 300") == true, "\(failures)")
                #expect(succeeded == Array(0..<300) + Array(301..<count))
            }
        }
    }

    @Test("a long item after quick ones does not keep their answers from the caller")
    func longItemAfterQuickOnes() async throws {
        try await withDeadline { () async throws in
            let gate = Gate.make()
            defer { gate.remove() }
            try await ProcessPool.with(processes: 1) { (pool: ProcessPool) async throws in
                let outputs = try pool.imap(GatedEcho(gate: gate, gated: [200]), Array(0..<201), chunksize: 1)
                var seen: [Int] = []
                for try await result in outputs.results {
                    let value = try result.get()
                    seen.append(value)
                    // Item 200 waits at the gate until the 200 before it have arrived.
                    if value == 199 { gate.open() }
                }
                #expect(seen == Array(0..<201))
            }
        }
    }
}
