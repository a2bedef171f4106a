#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `strerror` text for an errno value, e.g. "Broken pipe (errno 32)".
func systemErrorText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return "\(String(cString: text)) (errno \(code))"
}
