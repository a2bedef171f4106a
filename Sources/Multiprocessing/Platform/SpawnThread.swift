/// The one thread that spawns every worker process.
///
/// The kernel's parent-death signal (`PR_SET_PDEATHSIG`) fires when the *thread* that spawned a
/// child exits, not only when the process does. Reader threads end with their worker and Swift's
/// pool threads come and go, so all spawning happens on this thread, which lives as long as the
/// process.
///
/// `@unchecked Sendable`: `queue` is only touched with `condition` locked.
final class SpawnThread: @unchecked Sendable {
    private final class Request {
        let work: () -> Void
        var done = false
        init(_ work: @escaping () -> Void) { self.work = work }
    }

    static let shared = SpawnThread()

    private let condition = Condition()
    private var queue: [Request] = []

    private init() {
        do {
            try NativeThread.detach(name: "mp-spawn") { [self] in loop() }
        } catch {
            fatalError("swift-multiprocessing could not start its spawn thread: \(error)")
        }
    }

    /// Runs `body` on the spawn thread and waits for it.
    func run<T>(_ body: @escaping () -> T) -> T {
        var result: T?
        let request = Request { result = body() }
        condition.withLock {
            queue.append(request)
            condition.broadcast()
            while !request.done { condition.wait() }
        }
        return result!
    }

    private func loop() -> Never {
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            let request = queue.removeFirst()
            condition.unlock()
            request.work()
            condition.withLock {
                request.done = true
                condition.broadcast()
            }
        }
    }
}
