/// An error thrown by user code in a worker, reduced to what can cross a process boundary.
struct RemoteFailure: Sendable, Equatable {
    /// The dynamic type name of the thrown error, e.g. "MyModule.ParseError".
    var typeName: String
    /// `String(describing: error)`.
    var description: String
    /// The error itself, when its type is `Codable` and a process of this program can find it
    /// by name: the caller rebuilds it as its own type.
    var value: EncodedValue?

    /// A failure as it was read off the wire.
    init(typeName: String, description: String, value: EncodedValue? = nil) {
        self.typeName = typeName
        self.description = description
        self.value = value
    }

    /// The failure a thrown error stands for: its type's name and description, and the error
    /// itself when it can be encoded and found by name.
    init(_ error: any Error) {
        self.typeName = String(reflecting: type(of: error))
        self.description = String(describing: error)
        if let encodable = error as? any Encodable { self.value = Self.encoded(encodable) }
    }

    /// A failure of the pool's own machinery in the worker, which the parent turns back into a
    /// ``PoolError`` with the same code.
    init(poolError code: PoolError.Code, _ description: String) {
        self.typeName = RemoteFailure.poolErrorPrefix + code.description
        self.description = description
    }

    /// How the type name of a failure that stands for a ``PoolError`` starts.
    static let poolErrorPrefix = "Multiprocessing.PoolError."

    /// The pool error this failure stands for, if it is one.
    var poolErrorCode: PoolError.Code? {
        guard typeName.hasPrefix(RemoteFailure.poolErrorPrefix) else { return nil }
        return PoolError.Code(named: String(typeName.dropFirst(RemoteFailure.poolErrorPrefix.count)))
    }

    /// An error value, encoded under its type's name; nil for a type that cannot be found by
    /// name (private, local) or a value that cannot be encoded.
    private static func encoded<E: Encodable>(_ error: E) -> EncodedValue? {
        guard let name = try? TaskTypeNames.name(of: E.self), let payload = try? BinaryEncoder().encode(error) else { return nil }
        return EncodedValue(typeName: name, payload: payload)
    }

    /// The thrown error rebuilt as its own type, if it travelled as a value and its type is a
    /// `Decodable` error here; `origin` is in the decoder's `userInfo` for it.
    func rebuilt(origin: TaskOrigin) -> (any Error)? {
        guard let value, let type = _typeByName(value.typeName) as? any (Error & Decodable).Type else { return nil }
        return try? Self.decode(type, value.payload, origin: origin)
    }

    private static func decode<E: Error & Decodable>(_: E.Type, _ payload: [UInt8], origin: TaskOrigin) throws -> any Error {
        try BinaryDecoder().decode(E.self, from: payload[...], userInfo: [.taskOrigin: origin])
    }

    /// Writes the type name, the description, then the value if any, after a presence byte.
    func write(to writer: inout ByteWriter) {
        writer.writeString(typeName)
        writer.writeString(description)
        if let value {
            writer.writeByte(1)
            value.write(to: &writer)
        } else {
            writer.writeByte(0)
        }
    }

    /// Reads what `write(to:)` wrote.
    static func read(from reader: inout ByteReader) throws -> RemoteFailure {
        let typeName = try reader.readString()
        let description = try reader.readString()
        let value = try reader.readByte() == 1 ? try EncodedValue.read(from: &reader) : nil
        return RemoteFailure(typeName: typeName, description: description, value: value)
    }
}
