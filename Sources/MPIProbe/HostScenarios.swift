import Multiprocessing

/// Scenarios of the tests that run ranks on several emulated hosts (see
/// `Tests/MultiprocessingTests/MPI/`).
enum HostScenarios {
    /// Runs `name` if it is one of these; false if it is not.
    static func run(_ name: String) async throws -> Bool {
        #if MPI
        switch name {
        default: return false
        }
        #else
        return false
        #endif
    }
}
