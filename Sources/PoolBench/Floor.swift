// The physical floor: the same round trip and bulk transfer as raw blocking I/O on a socketpair
// between this process and a child of the same binary (`pool-bench --floor-child ...`, socket on
// fd 3), with no pool, no framing and no encoding. The child is not a pool worker: the library's
// load-time hook only diverts processes whose environment has SWIFT_MULTIPROCESSING_WORKER, and
// the bench never sets it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The descriptor the child finds its end of the socketpair on.
let floorChildDescriptor: Int32 = 3

// MARK: - Blocking I/O

func writeFully(_ fd: Int32, _ base: UnsafeRawPointer, _ count: Int) throws {
    var offset = 0
    while offset < count {
        let written = write(fd, base + offset, count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            throw BenchError("write failed: errno \(errno)")
        }
        offset += written
    }
}

/// Reads exactly `count` bytes; false on end of file before the first byte.
@discardableResult
func readFully(_ fd: Int32, _ base: UnsafeMutableRawPointer, _ count: Int) throws -> Bool {
    var offset = 0
    while offset < count {
        let got = read(fd, base + offset, count - offset)
        if got < 0 {
            if errno == EINTR { continue }
            throw BenchError("read failed: errno \(errno)")
        }
        if got == 0 {
            if offset == 0 { return false }
            throw BenchError("end of file after \(offset) of \(count) bytes")
        }
        offset += got
    }
    return true
}

// MARK: - The child

/// `pool-bench --floor-child pingpong` echoes 8-byte messages until end of file.
/// `pool-bench --floor-child stream BYTES WRITE` reads BYTES, then writes BYTES back in WRITE-byte
/// writes. Both first send one "ready" byte so that the parent's clock starts after start-up.
func floorChildMain(_ arguments: [String]) -> Never {
    let fd = floorChildDescriptor
    do {
        var ready: UInt8 = 1
        try writeFully(fd, &ready, 1)
        switch arguments.first {
        case "pingpong":
            var message: UInt64 = 0
            while try readFully(fd, &message, 8) {
                try writeFully(fd, &message, 8)
            }
        case "stream":
            guard arguments.count == 3, let total = Int(arguments[1]), let chunk = Int(arguments[2]), chunk > 0 else {
                throw BenchError("usage: --floor-child stream BYTES WRITE")
            }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
            defer { buffer.deallocate() }
            var left = total
            while left > 0 {
                let got = read(fd, buffer, min(chunk, left))
                if got < 0 {
                    if errno == EINTR { continue }
                    throw BenchError("read failed: errno \(errno)")
                }
                if got == 0 { throw BenchError("early end of file") }
                left -= got
            }
            left = total
            while left > 0 {
                let count = min(chunk, left)
                try writeFully(fd, buffer, count)
                left -= count
            }
        default:
            throw BenchError("unknown floor child mode \(arguments.first ?? "(none)")")
        }
        exit(0)
    } catch {
        log("pool-bench --floor-child: \(error)")
        exit(1)
    }
}

// MARK: - The parent

/// A running floor child and the parent's end of its socket.
struct FloorChild {
    let pid: pid_t
    let socket: Int32

    /// Spawns `/proc/self/exe --floor-child <arguments>` with the socket as its fd 3 and waits for
    /// its ready byte.
    static func spawn(_ arguments: [String]) throws -> FloorChild {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw BenchError("socketpair failed: errno \(errno)")
        }
        var childEnd = fds[1]
        if childEnd == floorChildDescriptor {
            // dup2 onto itself would keep FD_CLOEXEC and the child would lose it.
            childEnd = fcntl(fds[1], F_DUPFD_CLOEXEC, 10)
            close(fds[1])
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, childEnd, floorChildDescriptor)

        let argv = ([CommandLine.arguments[0], "--floor-child"] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, "/proc/self/exe", &actions, nil, argv, environ)
        close(childEnd)
        guard status == 0 else {
            close(fds[0])
            throw BenchError("posix_spawn of the floor child failed: errno \(status)")
        }
        let child = FloorChild(pid: pid, socket: fds[0])
        var ready: UInt8 = 0
        guard (try? readFully(child.socket, &ready, 1)) == true else {
            child.finish()
            throw BenchError("the floor child did not start")
        }
        return child
    }

    /// Ends the conversation and reaps the child.
    func finish() {
        shutdown(socket, Int32(SHUT_RDWR))
        close(socket)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// `count` sequential 8-byte round trips: p50 (and mean) in microseconds.
func floorPingPong(count: Int) throws -> Measurement {
    let child = try FloorChild.spawn(["pingpong"])
    defer { child.finish() }
    var samples: [Double] = []
    samples.reserveCapacity(count)
    var message: UInt64 = 0
    var echo: UInt64 = 0
    for i in 0..<count {
        message = UInt64(i)
        let start = monotonicNanos()
        try writeFully(child.socket, &message, 8)
        try readFully(child.socket, &echo, 8)
        samples.append(seconds(since: start))
        try check(echo == message, "ping-pong echo mismatch")
    }
    return latencyMeasurement(samples)
}

/// `bytes` to the child and `bytes` back, in `writeSize` writes: MB/s in + out (1 MB = 1e6 B).
func floorStream(bytes: Int, writeSize: Int) throws -> Double {
    let child = try FloorChild.spawn(["stream", String(bytes), String(writeSize)])
    defer { child.finish() }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: writeSize, alignment: 16)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 0x5A, count: writeSize)
    let start = monotonicNanos()
    var left = bytes
    while left > 0 {
        let count = min(writeSize, left)
        try writeFully(child.socket, buffer, count)
        left -= count
    }
    left = bytes
    while left > 0 {
        let got = read(child.socket, buffer, min(writeSize, left))
        if got < 0 {
            if errno == EINTR { continue }
            throw BenchError("read failed: errno \(errno)")
        }
        if got == 0 { throw BenchError("the floor child ended early") }
        left -= got
    }
    let elapsed = seconds(since: start)
    return Double(2 * bytes) / elapsed / 1e6
}

/// The bulk floor: best of 64 KiB and 1 MiB writes, both kept as details.
func floorBulk(bytes: Int) throws -> Measurement {
    let small = try floorStream(bytes: bytes, writeSize: 64 << 10)
    let large = try floorStream(bytes: bytes, writeSize: 1 << 20)
    return Measurement(
        value: max(small, large),
        details: [
            .init(name: "write_64KiB_MBps", value: small),
            .init(name: "write_1MiB_MBps", value: large),
            .init(name: "bytes_each_way", value: Double(bytes)),
        ])
}
