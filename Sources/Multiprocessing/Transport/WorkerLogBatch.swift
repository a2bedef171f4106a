/// swift-log records a worker sends its parent (``ProcessPool/WorkerLogs/parent``), with how
/// many it dropped since the last batch because its buffer was full.
struct WorkerLogBatch: Sendable, Equatable {
    /// One record as the worker's handler saw it, metadata flattened to strings.
    struct Record: Sendable, Equatable {
        /// `Logger.Level` raw value.
        var level: String
        var message: String
        var metadata: [(key: String, value: String)]
        var label: String
        var source: String
        var file: String
        var function: String
        var line: UInt64

        /// At most how many bytes `write(to:)` gives this record: each string's bytes and a
        /// length varint of at most 10 bytes, the metadata count and the line likewise.
        var encodedSizeBound: Int {
            let texts = [level, message, label, source, file, function].reduce(0) { $0 + 10 + $1.utf8.count }
            return metadata.reduce(texts + 20) { $0 + 20 + $1.key.utf8.count + $1.value.utf8.count }
        }

        static func == (lhs: Record, rhs: Record) -> Bool {
            lhs.level == rhs.level && lhs.message == rhs.message && lhs.label == rhs.label && lhs.source == rhs.source
                && lhs.file == rhs.file && lhs.function == rhs.function && lhs.line == rhs.line
                && lhs.metadata.elementsEqual(rhs.metadata) { $0.key == $1.key && $0.value == $1.value }
        }
    }

    var records: [Record]
    /// Records dropped since the batch before, for want of room in the worker's buffer.
    var dropped: UInt64

    func write(to writer: inout ByteWriter) {
        writer.writeVarint(dropped)
        writer.writeVarint(UInt64(records.count))
        for record in records {
            writer.writeString(record.level)
            writer.writeString(record.message)
            writer.writeVarint(UInt64(record.metadata.count))
            for (key, value) in record.metadata {
                writer.writeString(key)
                writer.writeString(value)
            }
            writer.writeString(record.label)
            writer.writeString(record.source)
            writer.writeString(record.file)
            writer.writeString(record.function)
            writer.writeVarint(record.line)
        }
    }

    static func read(from reader: inout ByteReader) throws -> WorkerLogBatch {
        let dropped = try reader.readVarint()
        let count = Int(clamping: try reader.readVarint())
        guard count <= reader.remaining else { throw BinaryCodingError.invalidData("log record count \(count) exceeds the frame") }
        var records: [Record] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            let level = try reader.readString()
            let message = try reader.readString()
            let pairs = Int(clamping: try reader.readVarint())
            guard pairs <= reader.remaining else { throw BinaryCodingError.invalidData("metadata count \(pairs) exceeds the frame") }
            var metadata: [(key: String, value: String)] = []
            metadata.reserveCapacity(pairs)
            for _ in 0..<pairs { metadata.append((try reader.readString(), try reader.readString())) }
            records.append(
                Record(
                    level: level, message: message, metadata: metadata, label: try reader.readString(),
                    source: try reader.readString(), file: try reader.readString(), function: try reader.readString(),
                    line: try reader.readVarint()))
        }
        return WorkerLogBatch(records: records, dropped: dropped)
    }
}
