/// A thread that runs a check at the deadline the check itself asks for, or sooner when poked:
/// the pool's timer for task time limits and kill grace periods. Started on first use.
///
/// The thread keeps the check it was started with, and what that check captures, until
/// `stop()`. The pool's check captures the pool's core strongly: a weak reference would give
/// the core a side table, and every retain and release of it, several per `apply`, would take
/// the runtime's slow path, which showed in the profile of a loop of `apply`.
///
/// `@unchecked Sendable`: `generation`, `started` and `stopped` are only touched with
/// `condition` locked.
final class Watchdog: @unchecked Sendable {
    private let condition = Condition()
    private var generation: UInt64 = 0
    private var started = false
    private var stopped = false
    private let name: String

    init(name: String) {
        self.name = name
    }

    /// Runs the check soon (a new deadline may be earlier than the one being waited for). The
    /// first poke starts the thread with `check`, which does the work and returns how long until
    /// it wants to run again, or nil to wait for the next poke; later pokes' checks are unused.
    func poke(_ check: @escaping @Sendable () -> Duration?) {
        condition.withLock {
            guard !stopped else { return }
            generation &+= 1
            if !started {
                started = true
                do {
                    try NativeThread.detach(name: name) { [self] in loop(check) }
                } catch {
                    started = false
                }
            }
            condition.signal()
        }
    }

    /// Ends the thread; later pokes do nothing.
    func stop() {
        condition.withLock {
            stopped = true
            condition.signal()
        }
    }

    private func loop(_ check: @Sendable () -> Duration?) {
        while true {
            let seen: UInt64? = condition.withLock { stopped ? nil : generation }
            guard let seen else { return }
            let next = check()
            condition.withLock {
                guard !stopped, generation == seen else { return }
                if let next {
                    let (seconds, attoseconds) = next.components
                    let nanoseconds = max(0, seconds) * 1_000_000_000 + max(0, attoseconds / 1_000_000_000)
                    condition.wait(nanoseconds: max(nanoseconds, 100_000))
                } else {
                    condition.wait()
                }
            }
        }
    }
}
