#if MPI
/// Which of a serving rank's workers its transport thread reads answers from, while messages
/// flow: those holding chunks of rank 0's, unless one was handed back to its reader thread.
///
/// The transport thread is awake and looking anyway while rank 0's chunks come in; reading
/// the workers' answers pipes there spares each answer a wake-up of the worker's reader thread
/// and a hand-off back to the transport thread, on CPUs that every rank's threads share. What
/// it must not wait for (a worker's end, a large answer still arriving) it hands back to the
/// reader thread, and takes the worker again once that thread has read it.
struct ServingRankReads<Worker: AnyObject> {
    private struct Entry {
        let worker: Worker
        var chunks: Int
        var handedBack: Bool
    }

    private var entries: [Entry] = []

    /// The workers to read now.
    var readable: [Worker] {
        entries.compactMap { $0.handedBack ? nil : $0.worker }
    }

    /// The workers handed back to their reader threads.
    var handedBack: [Worker] {
        entries.compactMap { $0.handedBack ? $0.worker : nil }
    }

    /// Every worker holding chunks, handed back or not: those whose reader threads must take
    /// over when the transport thread stops looking.
    var holding: [Worker] { entries.map(\.worker) }

    /// `worker` holds one chunk more.
    mutating func dispatched(to worker: Worker) {
        if let index = entries.firstIndex(where: { $0.worker === worker }) {
            entries[index].chunks += 1
        } else {
            entries.append(Entry(worker: worker, chunks: 1, handedBack: false))
        }
    }

    /// One of `worker`'s chunks is settled; a worker with none left is forgotten.
    mutating func settled(_ worker: Worker) {
        guard let index = entries.firstIndex(where: { $0.worker === worker }) else { return }
        entries[index].chunks -= 1
        if entries[index].chunks <= 0 { entries.remove(at: index) }
    }

    /// `worker`'s reader thread reads it from now on, until it is resumed or holds no chunk.
    mutating func handBack(_ worker: Worker) {
        guard let index = entries.firstIndex(where: { $0.worker === worker }) else { return }
        entries[index].handedBack = true
    }

    /// `worker`'s reader thread has read what it was handed: it is read here again.
    mutating func resume(_ worker: Worker) {
        guard let index = entries.firstIndex(where: { $0.worker === worker }) else { return }
        entries[index].handedBack = false
    }
}

extension LocalWorker {
    /// For a serving rank's transport thread: handles what this worker has answered, never
    /// waiting, and keeps its reader thread asleep meanwhile (as a caller of `apply` waiting
    /// actively does). Returns false when what is left is the reader thread's to read (the
    /// end, an answer whose large buffers are still arriving, or one announced on the socket):
    /// it is woken for it.
    func readAnswersOnTransport(core: PoolCore, now: UInt64, sendLater: inout [any PoolWorker]) -> Bool {
        inbound.callerReads(now: now)
        let leftForReader = inbound.withStateIfFree { input -> Bool in
            handleAvailableFrames(&input, core: core, waitForAttachments: false, mayWait: false, sendLater: &sendLater)
            return input.end != nil || input.reader.hasFrameHead || input.framesOnSocket > 0
        }
        guard leftForReader == true else { return true }
        inbound.wakeReader()
        return false
    }

    /// Whether the reader thread this worker was handed back to has read what it was left (no
    /// answer is announced on the socket or half arrived, and the stream goes on); false while
    /// that thread is at it.
    var readerHasCaughtUp: Bool {
        inbound.withStateIfFree { input in
            input.end == nil && input.framesOnSocket == 0 && !input.reader.hasFrameHead
        } ?? false
    }
}
#endif
