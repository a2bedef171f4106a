/// The errors a worker's end gives the chunks it held and the pool: one place for their
/// wording, so that every kind of worker reports the same way.
enum WorkerFailures {
    /// "4" or "4–7": the chunk's items.
    static func range(of chunk: ChunkWork) -> String {
        chunk.itemCount > 1 ? "\(chunk.firstItem)–\(chunk.firstItem + chunk.itemCount - 1)" : "\(chunk.firstItem)"
    }

    /// How a worker ended, as errors say it: its exit status, or how it was lost.
    static func ending(_ end: WorkerEnd) -> String {
        end.status.map { "\($0)" } ?? end.lost ?? "lost"
    }

    /// The error of the chunk `running` that the worker `label` was running when it ended
    /// (`end`): over its time limit or cancelled (`reason`, when the pool ended it for this
    /// chunk), after a malformed message, or on its own.
    static func runningChunk(_ running: ChunkWork, label: WorkerLabel, end: WorkerEnd, reason: KillReason?) -> PoolError {
        let who = "\(label.name) (pid \(label.pid))"
        let status = end.status
        let ended = ending(end)
        switch (reason, end.violation) {
        case (.timedOut(let limit)?, _):
            return PoolError(
                .taskTimedOut,
                "item \(range(of: running)) ran longer than its time limit of \(limit) in \(who); the worker was killed (\(ended)) and replaced",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        case (.cancelled?, _):
            return PoolError(
                .cancelled, "the call was cancelled; \(who) running item \(running.firstItem) was killed",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        case (.startTimedOut(let limit, _)?, _):
            // It said it was ready just as the pool gave up waiting for it.
            return PoolError(
                .workerDied, "\(who) was killed for not starting within \(limit) while it ran item \(running.firstItem)",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        case (nil, let violation?):
            return PoolError(
                .protocolViolation, "\(who) sent a malformed message and was replaced: \(violation)",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        case (nil, nil):
            return PoolError(
                .workerDied,
                "\(who) \(status == nil ? "was lost" : "died") while running item \(range(of: running)): \(ended)"
                    + (status.flatMap(WorkerExitCode.runFailure).map { ": \($0)" } ?? ""),
                workerName: label.name, workerPID: label.pid, exitStatus: status, stderrTail: end.stderrTail)
        }
    }

    /// The error for the chunks of a group a worker claimed and died without answering: it may
    /// have run some of them; their results died with it.
    static func groupLoss(_ chunks: [ChunkWork], label: WorkerLabel, end: WorkerEnd, cancelled: Bool) -> PoolError {
        let status = end.status
        let items = chunks.sorted { $0.firstItem < $1.firstItem }.map(range(of:)).joined(separator: ", ")
        let noun = chunks.count == 1 && chunks[0].itemCount == 1 ? "item" : "items"
        if cancelled {
            return PoolError(
                .cancelled,
                "the call was cancelled; \(label.name) (pid \(label.pid)) holding \(noun) \(items) was killed",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        }
        return PoolError(
            .workerDied,
            "\(label.name) (pid \(label.pid)) died before sending the results of \(noun) \(items): \(ending(end))",
            workerName: label.name, workerPID: label.pid, exitStatus: status, stderrTail: end.stderrTail)
    }

    /// The pool's error once `count` workers in a row died before they were ready, the last
    /// one `label`: killed over its start-up or initializer time limit, or dead on its own.
    static func startFailure(
        count: Int, label: WorkerLabel, end: WorkerEnd,
        timedOut: (limit: Duration, inInitializer: Bool)?, initializer: String?
    ) -> PoolError {
        let status = end.status
        let ended = ending(end)
        switch timedOut {
        case (let limit, true)?:
            return PoolError(
                .initializerFailed,
                "the pool's initializer \(initializer ?? "")"
                    + " ran longer than its time limit of \(limit) in \(count) workers in a row; the last, \(label.name) (pid \(label.pid)), was killed (\(ended))",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        case (let limit, false)?:
            return PoolError(
                .spawnFailed,
                "\(count) workers in a row did not start serving within the start-up limit of \(limit); the last, \(label.name) (pid \(label.pid)), was killed (\(ended))",
                workerName: label.name, workerPID: label.pid, exitStatus: status)
        case nil:
            return PoolError(
                .spawnFailed,
                "\(count) workers in a row died before they were ready; the last, \(label.name) (pid \(label.pid)), ended with \(ended)"
                    + (status.flatMap(WorkerExitCode.startFailure).map { ": \($0)" } ?? ""),
                workerName: label.name, workerPID: label.pid, exitStatus: status, stderrTail: end.stderrTail)
        }
    }
}
