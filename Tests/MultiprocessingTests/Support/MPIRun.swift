#if MPI
import CMultiprocessing
import Multiprocessing
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs the `MPIProbe` program (built beside the test bundle) under the launcher of the MPI the
/// package was built against: `mpiexec.openmpi` (allowed to run as root, oversubscribed: this
/// machine has fewer cores than ranks) or `mpiexec.mpich`.
enum MPIRun {
    /// The launcher and its options for `ranks` processes.
    static func launcher(ranks: Int, options: [String] = []) -> (path: String, arguments: [String]) {
        switch MPICluster.implementation {
        case "MPICH": return ("/usr/bin/mpiexec.mpich", options + ["-n", "\(ranks)"])
        // Unbound: Open MPI would otherwise bind each rank, and its pool, to one core.
        default: return ("/usr/bin/mpiexec.openmpi", ["--oversubscribe", "--bind-to", "none"] + options + ["-n", "\(ranks)"])
        }
    }

    /// The environment the launcher needs: Open MPI refuses to run as root without it.
    static var environment: [String] {
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            result.append(String(cString: entry))
            cursor += 1
        }
        return result + ["OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"]
    }

    /// Runs the probe's `scenario` (or `program`'s arguments) on `ranks` ranks; returns its output lines (standard output
    /// and error together) and the launcher's wait status. Blocks: call through `offCooperativePool`.
    static func probe(
        _ scenario: [String], program: String = "MPIProbe", ranks: Int = 3, launcherOptions: [String] = [],
        extraEnvironment: [String] = []
    ) throws -> (lines: [String], status: Int32) {
        let (path, options) = launcher(ranks: ranks, options: launcherOptions)
        let process = try ProbeProcess.start(
            executable: path, options + [ProbeProcess.directory + "/" + program] + scenario, capturing: STDOUT_FILENO,
            alsoStandardError: true, environment: environment + extraEnvironment)
        return process.linesUntilExit()
    }

    /// Pids of processes of this build's probe (its executable, not another checkout's): what a
    /// run left behind.
    static func leftovers() -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var pids: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), pid != getpid() else { continue }
            let fd = open("/proc/\(pid)/cmdline", O_RDONLY)
            guard fd >= 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            guard count > 0 else { continue }
            let command = String(decoding: buffer.prefix(count).map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            var target = [CChar](repeating: 0, count: 4096)
            let length = readlink("/proc/\(pid)/exe", &target, target.count - 1)
            let executable = length > 0 ? String(decoding: target.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            if command.contains("/MPIProbe") && executable.hasPrefix(ProbeProcess.directory + "/") { pids.append(pid) }
        }
        return pids
    }
}
#endif
