/// A thread that runs a check at the deadline the check itself asks for, or sooner when poked:
/// the pool's timer for task time limits and kill grace periods. Started on first use.
///
/// `@unchecked Sendable`: `generation`, `started` and `stopped` are only touched with
/// `condition` locked.
final class Watchdog: @unchecked Sendable {
    private let condition = Condition()
    private var generation: UInt64 = 0
    private var started = false
    private var stopped = false
    private let name: String
    /// Does the work; returns how long until it wants to run again, or nil to wait for a poke.
    private let check: @Sendable () -> Duration?

    init(name: String, check: @escaping @Sendable () -> Duration?) {
        self.name = name
        self.check = check
    }

    /// Runs the check soon (a new deadline may be earlier than the one being waited for).
    func poke() {
        condition.withLock {
            guard !stopped else { return }
            generation &+= 1
            if !started {
                started = true
                do {
                    try NativeThread.detach(name: name) { [self] in loop() }
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

    private func loop() {
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
