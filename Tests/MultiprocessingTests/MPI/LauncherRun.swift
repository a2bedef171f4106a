#if MPI
import CMultiprocessing
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The MPIProbe under an MPI launcher, followed as it runs: its output line by line, and its
/// exit seen on a pidfd, not as the end of its output (a process left on a host that was cut
/// off can hold the launcher's output open long after the launcher is gone).
///
/// Its methods block: tests call them through `offCooperativePool`, one at a time.
final class LauncherRun: Sendable {
    let pid: pid_t
    private let output: Int32
    private let exitEvents: Int32

    private struct State {
        var pending: [UInt8] = []
        var lines: [String] = []
        /// Lines not yet handed to a `waitForLine` caller.
        var unread = 0
        var outputOpen = true
        var status: Int32?
    }

    private let state = Mutex(State())

    /// Starts the probe's `scenario` on the ranks of `hosts`, from their launcher's host, with
    /// `launcherOptions` after the hosts' own.
    init(_ scenario: [String], on hosts: EmulatedHosts, launcherOptions: [String] = []) throws {
        let (launcher, options) = MPIRun.launcher(ranks: hosts.ranks, options: hosts.launcherOptions + launcherOptions)
        // `ip netns exec` execs the launcher: the process started is the launcher.
        let (path, arguments) = hosts.onLauncherHost(launcher, options + [ProbeProcess.directory + "/MPIProbe"] + scenario)
        let process = try ProbeProcess.start(
            executable: path, arguments, capturing: STDOUT_FILENO,
            alsoStandardError: true, environment: MPIRun.environment + hosts.agentEnvironment)
        pid = process.pid
        output = process.output
        exitEvents = cmp_pidfd_open(process.pid)
        guard exitEvents >= 0 else {
            kill(process.pid, SIGKILL)
            throw ProbeFailure("pidfd_open failed for the launcher")
        }
    }

    deinit {
        if state.withLock({ $0.status == nil }) {
            kill(pid, SIGKILL)
            _ = reap(blocking: true)
        }
        close(output)
        close(exitEvents)
    }

    /// Every line so far.
    var lines: [String] { state.withLock { $0.lines } }

    /// The launcher's wait status once it has exited.
    var status: Int32? { state.withLock { $0.status } }

    /// Reads until a line not seen by an earlier call matches, and returns it; nil if the
    /// launcher exits first or `seconds` pass.
    func waitForLine(within seconds: Double, where matches: (String) -> Bool) -> String? {
        let deadline = cmp_monotonic_ns() &+ UInt64(seconds * 1e9)
        while true {
            let fresh = state.withLock { state -> ArraySlice<String> in
                defer { state.unread = state.lines.count }
                return state.lines[state.unread...]
            }
            if let line = fresh.first(where: matches) { return line }
            guard status == nil, pump(until: deadline) else { return nil }
        }
    }

    /// Reads until the launcher exits and returns its wait status; nil if it still runs after
    /// `seconds`.
    func waitForExit(within seconds: Double) -> Int32? {
        let deadline = cmp_monotonic_ns() &+ UInt64(seconds * 1e9)
        while status == nil {
            guard pump(until: deadline) else { return nil }
        }
        return status
    }

    /// Ends the launcher (SIGKILL) if it still runs, and reaps it.
    func stop() {
        guard status == nil else { return }
        kill(pid, SIGKILL)
        _ = reap(blocking: true)
        drain()
    }

    /// Waits for the next output or the exit, whichever comes first, and takes it in; false if
    /// `deadline` passed first.
    private func pump(until deadline: UInt64) -> Bool {
        let now = cmp_monotonic_ns()
        guard now < deadline else { return false }
        let open = state.withLock { $0.outputOpen }
        var fds = [pollfd(fd: exitEvents, events: Int16(POLLIN), revents: 0)]
        if open { fds.append(pollfd(fd: output, events: Int16(POLLIN), revents: 0)) }
        let milliseconds = Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000))
        let ready = poll(&fds, nfds_t(fds.count), milliseconds)
        if ready < 0 { return errno == EINTR }
        if ready == 0 { return cmp_monotonic_ns() < deadline }
        if open && fds[1].revents != 0 { readOnce() }
        if fds[0].revents != 0 && reap(blocking: false) {
            // Whatever the launcher wrote before it exited is in the pipe now.
            drain()
        }
        return true
    }

    /// Reads what is there without waiting.
    private func drain() {
        while state.withLock({ $0.outputOpen }) {
            var fd = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            guard poll(&fd, 1, 0) > 0 else { break }
            readOnce()
        }
        state.withLock { state in
            if !state.pending.isEmpty {
                state.lines.append(String(decoding: state.pending, as: UTF8.self))
                state.pending = []
            }
        }
    }

    private func readOnce() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(output, &buffer, buffer.count)
        state.withLock { state in
            guard count > 0 else {
                if count == 0 || errno != EINTR { state.outputOpen = false }
                return
            }
            for byte in buffer.prefix(count) {
                if byte == UInt8(ascii: "\n") {
                    state.lines.append(String(decoding: state.pending, as: UTF8.self))
                    state.pending = []
                } else {
                    state.pending.append(byte)
                }
            }
        }
    }

    /// Collects the launcher's exit status; false if it has not exited (only when not blocking).
    private func reap(blocking: Bool) -> Bool {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, blocking ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return false }
        state.withLock { $0.status = status }
        return true
    }
}
#endif
