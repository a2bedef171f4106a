import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A spawned child: its pid and, where the kernel has them, a pidfd that names exactly this
/// process (no pid-reuse races when signalling or waiting).
struct ChildProcess: Sendable {
    let pid: pid_t
    let pidfd: Int32

    /// Sends `signal`; a process already reaped is left alone.
    func send(signal: Int32) {
        if pidfd >= 0 {
            _ = cmp_pidfd_send_signal(pidfd, signal)
        } else {
            _ = kill(pid, signal)
        }
    }

    /// Waits up to `milliseconds` for the process to end and reaps it; nil if it is still running.
    func waitForExit(milliseconds: Int32) -> ExitStatus? {
        if pidfd >= 0 {
            _ = cmp_poll_readable(pidfd, milliseconds)
            return reapIfExited()
        }
        var waited: Int32 = 0
        while true {
            if let status = reapIfExited() { return status }
            if waited >= milliseconds { return nil }
            usleep(1_000)
            waited += 1
        }
    }

    /// Reaps the process if it has ended; nil otherwise.
    func reapIfExited() -> ExitStatus? {
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { return ExitStatus(waitStatus: status) }
            if rc == 0 { return nil }
            if cmp_errno() == EINTR { continue }
            // ECHILD: someone else reaped it (e.g. a SIGCHLD handler); the status is lost.
            return .exited(-1)
        }
    }

    /// Ends the process for sure: waits `graceMilliseconds`, then SIGKILL, then reaps.
    func reap(graceMilliseconds: Int32) -> ExitStatus {
        if let status = waitForExit(milliseconds: graceMilliseconds) { return status }
        send(signal: SIGKILL)
        while true {
            if let status = waitForExit(milliseconds: 1_000) { return status }
        }
    }

    /// Releases the pidfd; call once, after the process was reaped.
    func closeHandle() {
        if pidfd >= 0 { close(pidfd) }
    }
}
