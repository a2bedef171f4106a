extension SharedArray {
    /// Calls `body` with the elements as a `Span`, read-only and bounds-checked.
    public func withSpan<R, E: Error>(_ body: (Span<Element>) throws(E) -> R) throws(E) -> R {
        try withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(buffer.span) }
    }

    /// Calls `body` with the elements as a `MutableSpan` to write in place, bounds-checked;
    /// throws ``SharedArrayError/readOnly`` without calling it when the array is frozen.
    public func withMutableSpan<R>(_ body: (inout MutableSpan<Element>) throws -> R) throws -> R {
        try withUnsafeMutableBufferPointer { buffer in
            var span = buffer.mutableSpan
            return try body(&span)
        }
    }
}

extension SharedArray.Slice {
    /// Calls `body` with the slice's elements as a `Span`, read-only and bounds-checked.
    public func withSpan<R, E: Error>(_ body: (Span<Element>) throws(E) -> R) throws(E) -> R {
        try withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(buffer.span) }
    }

    /// Calls `body` with the slice's elements as a `MutableSpan` to write in place,
    /// bounds-checked; throws ``SharedArrayError/readOnly`` without calling it when the array is
    /// frozen.
    public func withMutableSpan<R>(_ body: (inout MutableSpan<Element>) throws -> R) throws -> R {
        try withUnsafeMutableBufferPointer { buffer in
            var span = buffer.mutableSpan
            return try body(&span)
        }
    }
}
