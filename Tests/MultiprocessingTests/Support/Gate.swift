#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A named pipe that tasks in workers block on until the test releases them: synchronisation
/// on an event across processes, with no sleeps.
///
/// The test keeps the FIFO open for writing from the start, so a worker's `open` never blocks
/// and the test's `open()` never waits for a reader: it writes one byte per task to release.
/// Removing the gate closes the write end, and any task still waiting reads EOF and goes on.
struct Gate: Codable, Sendable {
    let path: String
    private var writer: Int32 = -1

    private enum CodingKeys: String, CodingKey { case path }

    /// Makes a fresh FIFO in /tmp, held open for writing by this process.
    static func make() -> Gate {
        var template = Array("/tmp/mp-gate-XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let path = directory + "/fifo"
        precondition(mkfifo(path, 0o600) == 0, "mkfifo failed")
        var gate = Gate(path: path)
        gate.writer = Glibc.open(path, O_RDWR | O_CLOEXEC)
        precondition(gate.writer >= 0, "cannot open the gate FIFO")
        return gate
    }

    private init(path: String) { self.path = path }

    /// In a worker: blocks until the test calls `open()` (or removes the gate).
    func wait() {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { return }
        var byte: UInt8 = 0
        _ = read(fd, &byte, 1)
        close(fd)
    }

    /// In the test: releases `count` waiting tasks, now or whenever they arrive.
    func open(count: Int = 1) {
        var bytes = [UInt8](repeating: 1, count: count)
        _ = write(writer, &bytes, count)
    }

    /// Closes the FIFO and removes it.
    func remove() {
        close(writer)
        unlink(path)
        rmdir(String(path.dropLast("/fifo".count)))
    }
}

/// The reverse of a gate: a task in a worker announces that it has started, and the test waits
/// for that announcement. A FIFO the test holds open for reading and writing.
struct Beacon: Codable, Sendable {
    let path: String
    private var reader: Int32 = -1

    private enum CodingKeys: String, CodingKey { case path }

    private init(path: String) { self.path = path }

    static func make() -> Beacon {
        var template = Array("/tmp/mp-beacon-XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        var beacon = Beacon(path: directory + "/fifo")
        precondition(mkfifo(beacon.path, 0o600) == 0, "mkfifo failed")
        beacon.reader = Glibc.open(beacon.path, O_RDWR | O_CLOEXEC)
        precondition(beacon.reader >= 0, "cannot open the beacon FIFO")
        return beacon
    }

    /// In a worker: says "started".
    func announce() {
        let fd = Glibc.open(path, O_WRONLY | O_NONBLOCK)
        guard fd >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(fd, &byte, 1)
        close(fd)
    }

    /// In the test: waits for one announcement (callers run under a deadline). The read blocks
    /// a thread of its own: the announcing task may still need the cooperative pool to be
    /// submitted at all.
    func awaitAnnouncement() async {
        let fd = reader
        await offCooperativePool {
            var byte: UInt8 = 0
            _ = read(fd, &byte, 1)
        }
    }

    func remove() {
        close(reader)
        unlink(path)
        rmdir(String(path.dropLast("/fifo".count)))
    }
}
