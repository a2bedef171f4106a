#if MPI
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A test hook: the ranks listed in `MULTIPROCESSING_MPI_SEPARATE_HOST_RANKS` (comma-separated
/// rank numbers, read when a rank starts serving) say they are on a host of their own, so that
/// rank 0 sends them copies of shared arrays instead of handles. Emulated hosts (network
/// namespaces) share one kernel, where a handle would still open: the copy path needs this to
/// be tested on one machine.
enum SeparateHostHook {
    static let variable = "MULTIPROCESSING_MPI_SEPARATE_HOST_RANKS"

    /// The machine `rank` reports in its hello: this one's, or another when the hook lists it.
    static func machine(rank: Int32) -> UInt64 {
        let mine = SharedMemoryHandle.thisMachine
        guard let value = getenv(variable) else { return mine }
        let listed = String(cString: value).split(separator: ",").contains { Int32($0.filter { $0 != " " }) == rank }
        return listed ? ~mine ^ UInt64(UInt32(bitPattern: rank)) : mine
    }
}
#endif
