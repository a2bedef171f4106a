import Synchronization

/// Finds task and initializer types across processes by mangled name, with no registry to keep:
/// a worker runs the same binary, so `_typeByName` resolves the name the parent computed.
/// Names of private, fileprivate and local types embed an address and do not resolve, even in
/// the same process; the parent checks every type once so the error comes at the call.
enum TaskTypeNames {
    private static let checked = Mutex<[ObjectIdentifier: String]>([:])

    /// The name a worker can resolve, or an error naming the type.
    static func name<T>(of type: T.Type) throws(PoolError) -> String {
        let key = ObjectIdentifier(type)
        if let known = checked.withLock({ $0[key] }) { return known }
        guard let name = _mangledTypeName(type), _typeByName(name) != nil else {
            throw PoolError(
                .unsupportedTaskType,
                "\(String(reflecting: type)) cannot be found by name in a worker process: a task or initializer type must not be private, fileprivate or declared inside a function"
            )
        }
        checked.withLock { $0[key] = name }
        return name
    }
}
