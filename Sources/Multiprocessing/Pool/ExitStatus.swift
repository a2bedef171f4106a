import CMultiprocessing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a child process ended.
public enum ExitStatus: Sendable, Hashable, CustomStringConvertible {
    /// The process called `exit` with this code.
    case exited(Int32)
    /// The process was killed by this signal (`SIGSEGV` 11, a Swift trap `SIGILL` 4, ...).
    case signaled(Int32)

    init(waitStatus status: Int32) {
        if cmp_wifsignaled(status) != 0 {
            self = .signaled(cmp_wtermsig(status))
        } else {
            self = .exited(cmp_wexitstatus(status))
        }
    }

    /// "exit status 3", "signal 11 (SIGSEGV)".
    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signaled(let signal): return "signal \(signal) (\(signalName(signal)))"
        }
    }
}

/// Conventional name of a signal number, e.g. "SIGSEGV".
func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGHUP: return "SIGHUP"
    case SIGINT: return "SIGINT"
    case SIGQUIT: return "SIGQUIT"
    case SIGILL: return "SIGILL"
    case SIGTRAP: return "SIGTRAP"
    case SIGABRT: return "SIGABRT"
    case SIGBUS: return "SIGBUS"
    case SIGFPE: return "SIGFPE"
    case SIGKILL: return "SIGKILL"
    case SIGSEGV: return "SIGSEGV"
    case SIGPIPE: return "SIGPIPE"
    case SIGTERM: return "SIGTERM"
    default: return "signal \(signal)"
    }
}
