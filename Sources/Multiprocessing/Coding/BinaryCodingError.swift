/// Errors thrown by `ByteReader`, `BinaryEncoder` and `BinaryDecoder`.
///
/// Malformed input always surfaces as one of these (never as a trap), because bytes coming
/// back from a worker process are untrusted once that worker may have crashed.
enum BinaryCodingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The input ended early: `needed` bytes were required, only `available` were left.
    case truncated(needed: Int, available: Int)
    /// The bytes are structurally invalid (bad tag, bad UTF-8, impossible count, ...).
    case invalidData(String)
    /// The bytes are well formed but do not match the type being decoded.
    case typeMismatch(String)
    /// A keyed container has no entry for the requested key.
    case keyNotFound(String)
    /// The value or usage pattern cannot be represented by this format.
    case unsupported(String)

    var description: String {
        switch self {
        case .truncated(let needed, let available):
            return "BinaryCodingError: truncated input (needed \(needed) bytes, \(available) available)"
        case .invalidData(let message):
            return "BinaryCodingError: invalid data: \(message)"
        case .typeMismatch(let message):
            return "BinaryCodingError: type mismatch: \(message)"
        case .keyNotFound(let key):
            return "BinaryCodingError: key not found: '\(key)'"
        case .unsupported(let message):
            return "BinaryCodingError: unsupported: \(message)"
        }
    }
}
