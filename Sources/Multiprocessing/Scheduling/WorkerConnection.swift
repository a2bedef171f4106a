#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The parent's handle on one worker: its process, its name and both sides of its channel. The
/// receiving side is read by the worker's reader thread (`PoolCore.readLoop`) and by a caller
/// of `apply` waiting actively for its answer.
final class WorkerConnection: Sendable {
    /// Key of the worker in its pool.
    let key: Int
    /// "SpawnPoolWorker-N".
    let name: String
    let process: ChildProcess
    let outbound: OutboundChannel
    let inbound: InboundChannel
    /// The worker's slot on the pool's wake board, if it has one.
    let wake: WakeTarget?

    init(key: Int, name: String, launched: LaunchedWorker, wake: WakeTarget?, maximumFrameSize: Int) {
        self.key = key
        self.name = name
        self.process = launched.process
        self.wake = wake
        self.outbound = OutboundChannel(descriptor: launched.requests, threadName: "mp-w\(key)-out", wake: wake)
        self.inbound = InboundChannel(answers: launched.answers, socket: launched.requests, maximumFrameSize: maximumFrameSize)
    }

    var label: WorkerLabel { WorkerLabel(name: name, pid: process.pid) }

    /// Releases the channel, the pidfd and the wake-board slot; the process must have been reaped.
    func release() {
        outbound.stop()
        inbound.markClosed()
        close(outbound.descriptor)
        close(inbound.descriptor)
        process.closeHandle()
        if let wake { wake.board.returnSlot(wake) }
    }
}
