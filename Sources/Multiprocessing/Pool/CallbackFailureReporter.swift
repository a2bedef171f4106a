import Logging

/// Where errors thrown by user callbacks go: they must not break the pool, but must not vanish.
enum CallbackFailureReporter {
    private static let logger = Logger(label: "swift-multiprocessing")

    static func report(_ error: any Error) {
        logger.error("an AsyncResult callback threw \(String(reflecting: type(of: error))): \(error)")
    }
}
