#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The parent's handle on one worker: its process, its name and the sending side of its channel.
/// The receiving side belongs to the worker's reader thread (`PoolCore.readLoop`).
final class WorkerConnection: Sendable {
    /// Key of the worker in its pool.
    let key: Int
    /// "SpawnPoolWorker-N".
    let name: String
    let process: ChildProcess
    let outbound: OutboundChannel

    init(key: Int, name: String, launched: LaunchedWorker) {
        self.key = key
        self.name = name
        self.process = launched.process
        self.outbound = OutboundChannel(descriptor: launched.channel, threadName: "mp-w\(key)-out")
    }

    var label: WorkerLabel { WorkerLabel(name: name, pid: process.pid) }

    /// Releases the channel and the pidfd; the process must have been reaped.
    func release() {
        outbound.stop()
        close(outbound.descriptor)
        process.closeHandle()
    }
}
