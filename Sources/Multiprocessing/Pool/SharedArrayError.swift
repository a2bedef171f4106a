/// Why a ``SharedArray`` could not be made, shared, received or written.
///
/// It is `Codable`, so one thrown in a worker (a task that tries to write a frozen array) reaches
/// the caller as itself.
public enum SharedArrayError: Error, Sendable, Codable, Equatable, CustomStringConvertible {
    /// The array was frozen (``SharedArray/freeze()``): it can be read, not written.
    case readOnly
    /// The array could not be received: the process that made it has released it or has ended,
    /// or its handle reached another machine without a copy of its elements (a cluster pool
    /// copies them to its ranks on other hosts; a handle sent there any other way names nothing).
    case unavailable(String)
    /// An operating-system call failed: the call's name and `errno`'s text.
    case systemCallFailed(String)
    /// An argument is out of range: a negative count, a range outside the array.
    case invalidArgument(String)

    /// What went wrong, in a sentence.
    public var description: String {
        switch self {
        case .readOnly:
            "the shared array is read-only (frozen): it cannot be written"
        case .unavailable(let why):
            "the shared array is not available in this process: \(why)"
        case .systemCallFailed(let what):
            "a system call on a shared array failed: \(what)"
        case .invalidArgument(let what):
            "invalid argument for a shared array: \(what)"
        }
    }
}
