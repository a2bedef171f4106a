// Small Foundation-free helpers: clock, statistics, number formatting, /proc readers, a tiny
// JSON reader for the Python peer's output line, and unbuffered stderr.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Clock

/// CLOCK_MONOTONIC in nanoseconds (what Python's `time.perf_counter` reads on Linux).
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

@inline(__always)
func seconds(since start: UInt64) -> Double {
    Double(monotonicNanos() &- start) * 1e-9
}

/// Hides a value from the optimizer so that work on it cannot be folded at compile time.
@inline(never)
func opaque<T>(_ value: T) -> T { value }

// MARK: - Statistics

func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

func mean(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    return values.reduce(0, +) / Double(values.count)
}

// MARK: - Errors and output

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Throws instead of asserting: a wrong answer must not be reported as a timing.
func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw BenchError("verification failed: \(message())") }
}

/// Unbuffered write to stderr (progress and diagnostics; stdout carries only results).
func log(_ text: String) {
    var bytes = Array((text + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if written <= 0 {
            if written < 0 && errno == EINTR { continue }
            return
        }
        offset += written
    }
}

/// A line on stdout, flushed at once so that a pipe reader sees each result as it comes.
func emit(_ line: String) {
    print(line)
    fflush(nil)  // all output streams (stdout is not concurrency-safe to name in Swift 6)
}

// MARK: - Number formatting (no String(format:) without Foundation)

/// `value` with exactly `decimals` digits after the point.
func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
    var scale: UInt64 = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * Double(scale)).rounded()
    guard scaled < 9.0e18 else { return "\(value)" }
    let units = UInt64(scaled)
    var text = (value < 0 && units != 0 ? "-" : "") + String(units / scale)
    if decimals > 0 {
        var fraction = String(units % scale)
        while fraction.count < decimals { fraction = "0" + fraction }
        text += "." + fraction
    }
    return text
}

/// About four significant digits, for figures of any size.
func readable(_ value: Double) -> String {
    let magnitude = abs(value)
    let decimals = magnitude >= 1000 ? 0 : magnitude >= 100 ? 1 : magnitude >= 10 ? 2 : magnitude >= 1 ? 3 : 4
    return fixed(value, decimals)
}

/// `readable` with thousands separators, for the table ("6,412,000").
func grouped(_ value: Double) -> String {
    let text = readable(value)
    guard abs(value) >= 10_000, !text.contains(".") else { return text }
    var digits = Array(text)
    let negative = digits.first == "-"
    if negative { digits.removeFirst() }
    var out: [Character] = []
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(digit)
    }
    return (negative ? "-" : "") + String(out)
}

func padded(_ text: String, _ width: Int, right: Bool = false) -> String {
    let gap = max(0, width - text.count)
    let fill = String(repeating: " ", count: gap)
    return right ? fill + text : text + fill
}

// MARK: - Files and /proc

func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { return result }
        result.append(contentsOf: buffer[0..<count])
    }
}

func fileIsReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

/// The parent's memory from /proc/self/status, in KiB: resident now and its high-water mark.
struct MemoryStatus {
    var rssKiB: Int
    var hwmKiB: Int

    static func current() -> MemoryStatus? {
        guard let bytes = readWholeFile("/proc/self/status") else { return nil }
        var rss: Int?
        var hwm: Int?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("VmRSS:") { rss = kibibytes(line) }
            if line.hasPrefix("VmHWM:") { hwm = kibibytes(line) }
        }
        guard let rss, let hwm else { return nil }
        return MemoryStatus(rssKiB: rss, hwmKiB: hwm)
    }

    private static func kibibytes(_ line: Substring) -> Int? {
        line.split(separator: " ", omittingEmptySubsequences: true)
            .lazy.compactMap { Int($0.trimmingTabs()) }.first
    }
}

extension Substring {
    fileprivate func trimmingTabs() -> Substring {
        var text = self
        while text.first == "\t" { text = text.dropFirst() }
        while text.last == "\t" { text = text.dropLast() }
        return text
    }
}

/// Resets VmHWM to the current RSS (`echo 5 > /proc/self/clear_refs`, Linux 4.0+), so that the
/// peak seen afterwards belongs to the workload and not to earlier ones. Returns whether it did.
func resetPeakRSS() -> Bool {
    let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var five: UInt8 = UInt8(ascii: "5")
    return write(fd, &five, 1) == 1
}

// MARK: - A tiny JSON reader (the Python peer prints one JSON object per run)

enum JSONValue {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first(where: { $0.0 == key })?.1
    }

    var number: Double? {
        switch self {
        case .number(let value): return value
        case .bool(let value): return value ? 1 : 0
        default: return nil
        }
    }

    static func parse(_ text: String) throws -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        let value = try parser.value()
        parser.skipSpace()
        guard parser.index == parser.bytes.count else { throw BenchError("trailing characters in JSON") }
        return value
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    mutating func expect(_ literal: String) throws {
        for byte in literal.utf8 {
            guard index < bytes.count, bytes[index] == byte else { throw BenchError("bad JSON literal") }
            index += 1
        }
    }

    mutating func value() throws -> JSONValue {
        skipSpace()
        guard index < bytes.count else { throw BenchError("unexpected end of JSON") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [(String, JSONValue)] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipSpace()
                let key = try string()
                skipSpace()
                try expect(":")
                members.append((key, try value()))
                skipSpace()
                guard index < bytes.count else { throw BenchError("unterminated JSON object") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect("}")
                return .object(members)
            }
        case UInt8(ascii: "["):
            index += 1
            var elements: [JSONValue] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                elements.append(try value())
                skipSpace()
                guard index < bytes.count else { throw BenchError("unterminated JSON array") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect("]")
                return .array(elements)
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case UInt8(ascii: "N"):
            try expect("NaN")
            return .number(.nan)  // Python's json.dumps
        case UInt8(ascii: "I"):
            try expect("Infinity")
            return .number(.infinity)
        default:
            let start = index
            while index < bytes.count, "+-.eE0123456789".utf8.contains(bytes[index]) { index += 1 }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if text == "-", index < bytes.count, bytes[index] == UInt8(ascii: "I") {
                try expect("Infinity")
                return .number(-.infinity)
            }
            guard let number = Double(text) else { throw BenchError("bad JSON number '\(text)'") }
            return .number(number)
        }
    }

    mutating func string() throws -> String {
        try expect("\"")
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            if !raw.isEmpty {
                scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
                raw = []
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\"") {
                flush()
                return String(scalars)
            }
            if byte != UInt8(ascii: "\\") {
                raw.append(byte)
                continue
            }
            guard index < bytes.count else { break }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "n"): raw.append(0x0A)
            case UInt8(ascii: "t"): raw.append(0x09)
            case UInt8(ascii: "r"): raw.append(0x0D)
            case UInt8(ascii: "b"): raw.append(0x08)
            case UInt8(ascii: "f"): raw.append(0x0C)
            case UInt8(ascii: "u"):
                guard index + 4 <= bytes.count,
                    let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
                else { throw BenchError("bad JSON \\u escape") }
                index += 4
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: raw.append(escape)  // \" \\ \/
            }
        }
        throw BenchError("unterminated JSON string")
    }
}

/// A JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// A JSON number (null for a missing or non-finite value), rounded to a readable precision.
func jsonNumber(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "null" }
    let magnitude = abs(value)
    let decimals = magnitude >= 1000 ? 1 : magnitude >= 1 ? 4 : 6
    return fixed(value, decimals)
}
