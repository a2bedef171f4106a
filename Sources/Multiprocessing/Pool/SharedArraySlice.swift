extension SharedArray {
    /// Consecutive elements of a ``SharedArray``, in place: what a task receives to work on part
    /// of an array. Encoding one sends the array's handle and the range; where the array must be
    /// copied (a cluster rank on another host), only the slice's elements are.
    public struct Slice: Sendable, Codable {
        /// The whole array.
        ///
        /// On a cluster rank on another host, the array is a copy that holds only the bytes
        /// the chunk's handles refer to: read through `base` past the slice, it holds zeros,
        /// and writes outside the slice are not sent back (see <doc:RunningOnACluster>).
        public let base: SharedArray
        /// The positions of the slice's elements in ``base``.
        public let range: Range<Int>

        /// The number of elements.
        public var count: Int { range.count }

        /// Whether the array is frozen.
        public var isReadOnly: Bool { base.isReadOnly }

        /// Calls `body` with the slice's elements, read-only.
        public func withUnsafeBufferPointer<R, E: Error>(_ body: (UnsafeBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
            try base.withUnsafeBufferPointer { (all) throws(E) -> R in try body(UnsafeBufferPointer(rebasing: all[range])) }
        }

        /// Calls `body` with the slice's elements to write in place; throws
        /// ``SharedArrayError/readOnly`` without calling it when the array is frozen.
        public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) throws -> R {
            try base.withUnsafeMutableBufferPointer { all in try body(UnsafeMutableBufferPointer(rebasing: all[range])) }
        }

        /// The element at `index`, counted from the slice's start.
        public subscript(index: Int) -> Element {
            get {
                precondition(index >= 0 && index < count, "SharedArray.Slice index \(index) out of range 0..<\(count)")
                return base[range.lowerBound + index]
            }
            nonmutating set {
                precondition(index >= 0 && index < count, "SharedArray.Slice index \(index) out of range 0..<\(count)")
                base[range.lowerBound + index] = newValue
            }
        }

        /// Encodes the array's handle and the range.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(Reference(array: base, elements: range))
            try container.encode(range.lowerBound)
            try container.encode(range.upperBound)
        }

        /// Decodes what ``encode(to:)`` wrote, mapping the array if this process has not yet.
        public init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            let base = try container.decode(SharedArray.self)
            let lower = try container.decode(Int.self)
            let upper = try container.decode(Int.self)
            guard lower >= 0, lower <= upper, upper <= base.count else {
                throw SharedArrayError.invalidArgument("slice \(lower)..<\(upper) out of range 0..<\(base.count)")
            }
            self.base = base
            range = lower..<upper
        }

        init(base: SharedArray, range: Range<Int>) {
            self.base = base
            self.range = range
        }

        /// The array encoded as a slice sends it: its handle naming the slice's bytes, so that
        /// a copy to another host carries only those.
        private struct Reference: Encodable {
            let array: SharedArray
            let elements: Range<Int>

            func encode(to encoder: any Encoder) throws {
                try array.encode(to: encoder, referring: elements)
            }
        }
    }
}
