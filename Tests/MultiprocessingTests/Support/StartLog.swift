#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file that tasks in workers append their item to as they start: after the pool has ended,
/// the test reads which items ever ran.
struct StartLog: Codable, Sendable {
    let path: String

    /// Makes a fresh, empty log in /tmp.
    static func make() -> StartLog {
        var template = Array("/tmp/mp-starts-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(descriptor >= 0, "mkstemp failed")
        close(descriptor)
        return StartLog(path: template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
    }

    /// In a worker: records that `item` started. One `write` of a whole line to a file opened
    /// for appending, so lines of concurrent workers never mix.
    func record(_ item: Int) {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        var line = Array("\(item)\n".utf8)
        _ = write(descriptor, &line, line.count)
        close(descriptor)
    }

    /// In the test: the items recorded so far, in the order they started.
    func items() -> [Int] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
    }

    func remove() {
        unlink(path)
    }
}
