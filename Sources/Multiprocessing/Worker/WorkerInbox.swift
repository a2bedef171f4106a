import CMultiprocessing

/// The worker's receiving side: reads the parent's frames from the requests socket and queues
/// the runs they carry.
///
/// With nothing queued, it waits as its ``WorkerIdleWait`` says (usually a moment of active
/// reading, then sleep).
/// While chunks run, it takes the frames already read before each one, so that a cancel can
/// overtake the chunks it names, and looks at the socket at most once a millisecond.
struct WorkerInbox: ~Copyable {
    private var reader: FrameReader
    private var queue = RunQueue()
    private var idle: WorkerIdleWait
    /// When the socket was last polled while chunks ran (monotonic nanoseconds).
    private var lastPoll = cmp_monotonic_ns()
    /// The task of the last run received, which the next run's decoding reuses when it is the same.
    private var lastTask: EncodedValue?

    /// An inbox over `reader`, the requests socket's, read from here on, that waits for the
    /// parent's messages as `idle` says.
    init(reader: consuming FrameReader, idle: WorkerIdleWait) {
        self.reader = reader
        self.idle = idle
    }

    /// No run is queued.
    var isEmpty: Bool { queue.isEmpty }

    /// The next run, marked to be skipped if its call was cancelled.
    mutating func next() -> QueuedRun? { queue.next() }

    /// Waits for the parent's next message, with nothing queued, and receives it: reads the
    /// socket actively for a moment, then sleeps until it is readable (at once in `poll` for a
    /// worker that waits on its socket). Returns false when the parent closed the channel.
    mutating func waitForRequest() throws -> Bool {
        let waitStarted = cmp_monotonic_ns()
        var ended = false
        if !reader.hasBufferedFrame {
            // A copy: the closure below changes the reader and the queue, parts of `self`.
            let idle = self.idle
            try idle.spin(startedAt: waitStarted) {
                switch try reader.withAvailableFrame(
                    read: true, waitForAttachments: true, { try Self.decode($0, $1, lastTask: &lastTask) })
                {
                case .frame(let message):
                    queue.receive(message)
                    return true
                case .ended:
                    ended = true
                    return true
                case .notYet:
                    return false
                }
            }
        }
        if ended { return false }
        if queue.isEmpty {
            // Only between frames: the rest of a frame comes without a ring.
            if reader.isEmpty { idle.sleep(untilReadable: reader.descriptor) }
            guard try receiveNext() else { return false }
        }
        idle.record(cmp_monotonic_ns() &- waitStarted)
        return true
    }

    /// Receives the frames already read, so that a cancel can overtake the chunks it names.
    /// Returns false when the parent closed the channel.
    mutating func takeBuffered() throws -> Bool {
        while reader.hasBufferedFrame {
            guard try receiveNext() else { return false }
        }
        return true
    }

    /// Receives what waits on the socket, if it was last looked at a millisecond or more
    /// before `now`: a system call, so not before every chunk. Returns false when the parent
    /// closed the channel.
    mutating func pollIfDue(now: UInt64) throws -> Bool {
        guard now &- lastPoll >= 1_000_000 else { return true }
        lastPoll = now
        while cmp_poll_readable(reader.descriptor, 0) > 0 {
            guard try receiveNext() else { return false }
        }
        return true
    }

    /// Reads the next message, waiting for it, and queues what it says; false at the end of
    /// the stream.
    private mutating func receiveNext() throws -> Bool {
        guard let message = try reader.withNextFrame({ try Self.decode($0, $1, lastTask: &lastTask) }) else { return false }
        queue.receive(message)
        return true
    }

    /// Decodes a message from the parent; a run's task is the last one's own value when its bytes
    /// are the same.
    private static func decode(
        _ bytes: ArraySlice<UInt8>, _ attachments: [WireBytes], lastTask: inout EncodedValue?
    ) throws -> ParentMessage {
        let message = try ParentMessage.decode(bytes, attachments: attachments, lastTask: lastTask)
        if case .run(_, let task, _, _, _) = message { lastTask = task }
        return message
    }
}
