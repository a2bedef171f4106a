/// Where a task's error was thrown: the worker, its pid and the item.
///
/// An error type that is `Codable` crosses back to the caller as itself, so that
/// `catch let error as MyError` matches, as Python re-raises the original exception class.
/// Its `init(from:)` finds where it was thrown in the decoder's `userInfo`:
/// ```swift
/// struct ParseError: Error, Codable {
///     var line: Int
///     var origin: TaskOrigin?
///     enum CodingKeys: CodingKey { case line }
///     init(from decoder: any Decoder) throws {
///         line = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .line)
///         origin = decoder.userInfo[.taskOrigin] as? TaskOrigin
///     }
/// }
/// ```
public struct TaskOrigin: Sendable, Hashable, CustomStringConvertible {
    /// The worker that ran the item, e.g. "SpawnPoolWorker-1".
    public let workerName: String
    /// That worker's pid.
    public let workerPID: Int32
    /// The item's position in the call's input (0 for `apply`).
    public let itemIndex: Int

    /// "SpawnPoolWorker-1 (pid 123), item 4".
    public var description: String { "\(workerName) (pid \(workerPID)), item \(itemIndex)" }
}

extension CodingUserInfoKey {
    /// The ``TaskOrigin`` of an error rebuilt in the caller, in its decoder's `userInfo`.
    public static let taskOrigin = CodingUserInfoKey(rawValue: "swift-multiprocessing.taskOrigin")!
}

/// An error thrown by task code in a worker, carried back to the caller, when its type is not
/// `Codable` (or cannot be found by name in a worker: private, local).
///
/// The original error value stays in the worker; its type name and description come back,
/// with the worker that ran it and the item's position. An error of a `Codable` type comes
/// back as itself instead (see ``TaskOrigin``).
public struct TaskError: Error, Sendable, CustomStringConvertible {
    /// The thrown error's full type name, e.g. "MyApp.ParseError".
    public let typeName: String
    /// `String(describing:)` of the thrown error.
    public let errorDescription: String
    /// The worker that ran the item, e.g. "SpawnPoolWorker-1".
    public let workerName: String
    /// That worker's pid.
    public let workerPID: Int32
    /// The item's position in the call's input (0 for `apply`).
    public let itemIndex: Int

    internal init(_ failure: RemoteFailure, workerName: String, workerPID: Int32, itemIndex: Int) {
        self.typeName = failure.typeName
        self.errorDescription = failure.description
        self.workerName = workerName
        self.workerPID = workerPID
        self.itemIndex = itemIndex
    }

    /// The worker, pid and item together.
    public var origin: TaskOrigin { TaskOrigin(workerName: workerName, workerPID: workerPID, itemIndex: itemIndex) }

    /// "ParseError in SpawnPoolWorker-1 (pid 123), item 4: bad digit".
    public var description: String {
        "\(typeName) in \(workerName) (pid \(workerPID)), item \(itemIndex): \(errorDescription)"
    }
}
