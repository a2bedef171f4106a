#if MPI
import CMultiprocessing
import Multiprocessing
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Three hosts emulated on this machine, for MPI jobs that span hosts without sshd: each a
/// network namespace with an address of its own on a bridge (10.A.B.11 to .13, the bridge .1),
/// and a host name of its own (h1, h2, h3) given by `Scripts/netns-agent.sh`, which the MPI
/// launcher runs in place of ssh. `mpiexec` runs on a fourth, h0 (10.A.B.10), as on a cluster's
/// login node; every rank runs on a host, ranks 0 and 1 on h1, rank 2 on h2, rank 3 on h3.
///
/// Every namespace, h0 included, gives up on a TCP connection whose data goes unacknowledged
/// after `tcpRetries` retransmissions (`net.ipv4.tcp_retries2`, a setting of each namespace):
/// a launcher and its daemons notice a host cut off mid-message only that way (see
/// RunningOnACluster.md, "A host cut off").
///
/// Names carry this process's pid and a random part, so that runs in parallel or left over
/// by a crashed run do not collide; a run removes what dead runs left.
struct EmulatedHosts: Sendable {
    struct Host: Sendable {
        /// Its host name inside (what MPI_Get_processor_name reports there): h1, h2, h3.
        let name: String
        let namespace: String
        let address: String
        /// This namespace's end of the host's link; down, the host is cut off.
        let link: String
        /// How many ranks the launcher starts there.
        let slots: Int
    }

    let bridge: String
    /// The first three parts of the hosts' addresses: "10.A.B".
    let subnet: String
    let hosts: [Host]
    /// Where the launcher runs (h0): no rank runs there.
    let launcher: Host

    /// `net.ipv4.tcp_retries2` in every namespace: the kernel's default, 15, keeps a connection
    /// with unacknowledged data to a host that is gone for about 15 minutes; 3, a few seconds.
    static let tcpRetries = 3

    /// Why namespaces cannot be made here (not root, no permission, no `ip`), or nil if they can.
    static let unavailableReason: String? = {
        guard let ip = Command.ip else { return "no ip command (iproute2) on this machine" }
        for tool in ["/usr/bin/unshare", agentScript] where access(tool, X_OK) != 0 {
            return "\(tool) is missing or not executable"
        }
        let name = "mpih-check-\(getpid())"
        let made = Command.run(ip, ["netns", "add", name])
        guard made.status == 0 else {
            return "network namespaces cannot be made here (`ip netns add` said: \(made.output.joined(separator: " ")))"
        }
        defer { _ = Command.run(ip, ["netns", "del", name]) }
        let retries = Command.run(
            ip, ["netns", "exec", name, "sh", "-c", "echo \(tcpRetries) > /proc/sys/net/ipv4/tcp_retries2"])
        guard retries.status == 0 else {
            return "a namespace's net.ipv4.tcp_retries2 cannot be set here (\(retries.output.joined(separator: " ")))"
        }
        return nil
    }()

    /// The message of a test skipped for want of namespaces.
    static var skipMessage: Comment {
        Comment(rawValue: "emulated hosts need network namespaces: \(unavailableReason ?? "")")
    }

    /// The launcher agent that stands in for ssh (committed beside the package).
    static let agentScript: String = {
        // This file is Tests/MultiprocessingTests/MPI/EmulatedHosts.swift in the package.
        let parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        return (parts.dropLast(4) + ["Scripts", "netns-agent.sh"]).joined(separator: "/")
    }()

    /// Makes the hosts, runs `body`, then removes them and whatever still runs on them, also
    /// when `body` throws.
    static func with<R: Sendable>(_ body: (EmulatedHosts) async throws -> R) async throws -> R {
        removeLeftoversOfDeadRuns()
        let hosts = try make()
        do {
            let result = try await body(hosts)
            hosts.remove()
            return result
        } catch {
            hosts.remove()
            throw error
        }
    }

    // MARK: Running a job on them

    /// The command that runs `executable` with `arguments` on h0, the launcher's host.
    func onLauncherHost(_ executable: String, _ arguments: [String]) -> (path: String, arguments: [String]) {
        (Command.ip!, ["netns", "exec", launcher.namespace, executable] + arguments)
    }

    /// The launcher's options that start ranks on the hosts through the agent, for the MPI the
    /// package was built against.
    var launcherOptions: [String] {
        let agent = Self.agentScript
        switch MPICluster.implementation {
        case "MPICH":
            return [
                // Hydra's proxies connect back to mpiexec at h0's address; without it they try the
                // machine's name, which the hosts cannot reach.
                "-iface", "eth0", "-launcher", "ssh", "-launcher-exec", agent,
                "-hosts", hosts.map { "\($0.address):\($0.slots)" }.joined(separator: ","),
                // UCX decides that every rank is on one machine (the hosts share its memory) and
                // passes their messages through shared memory, which no cut link stops: TCP only,
                // as between real hosts.
                "-genv", "UCX_TLS", "tcp",
            ]
        default:
            return [
                "--mca", "plm_rsh_agent", agent,
                // The daemons' and the ranks' traffic on the hosts' network only (the machine's
                // other interfaces are not reachable from inside).
                "--mca", "oob_tcp_if_include", "\(subnet).0/24", "--mca", "btl_tcp_if_include", "\(subnet).0/24",
                "--host", hosts.map { "\($0.address):\($0.slots)" }.joined(separator: ","),
                "--mca", "oob_tcp_keepalive_time", "1", "--mca", "oob_tcp_keepalive_intvl", "1",
                "--mca", "oob_tcp_keepalive_probes", "2",
            ]
        }
    }

    /// The environment the agent reads to find each host's namespace.
    var agentEnvironment: [String] {
        ["NETNS_AGENT_HOSTS=" + hosts.map { "\($0.address)=\($0.namespace)=\($0.name)" }.joined(separator: " ")]
    }

    /// How many ranks a job started with `launcherOptions` has.
    var ranks: Int { hosts.reduce(0) { $0 + $1.slots } }

    /// Takes `host`'s link down: nothing reaches it or leaves it any more.
    func cut(_ host: Host) throws {
        let result = Command.run(Command.ip!, ["link", "set", host.link, "down"])
        guard result.status == 0 else { throw ProbeFailure("cannot cut \(host.name): \(result.output)") }
    }

    /// The processes running on `host` (in its namespace): pid, name and the start of the command line.
    func processes(on host: Host) -> [(pid: pid_t, command: String)] {
        Self.processes(inNamespace: host.namespace)
    }

    // MARK: Making and removing

    private static func make() throws -> EmulatedHosts {
        let ip = Command.ip!
        var lastFailure = ""
        for _ in 0..<5 {
            let random = String(UInt32.random(in: 0..<(36 * 36 * 36 * 36 * 36 * 36)), radix: 36)
            let subnet = "10.\(Int.random(in: 100...199)).\(Int.random(in: 0...255))"
            // An address range already used here (by another run, or the machine's network) is
            // not taken: another draw.
            guard !Command.run(ip, ["-o", "-4", "addr", "show"]).output.joined().contains(" \(subnet).") else { continue }
            let made = (0...3).map { i in
                Host(
                    name: "h\(i)", namespace: "mpih-\(getpid())-\(random)-h\(i)", address: "\(subnet).1\(i)",
                    link: "mpv\(random)\(i)", slots: i == 0 ? 0 : i == 1 ? 2 : 1)
            }
            let hosts = EmulatedHosts(bridge: "mpb\(random)", subnet: subnet, hosts: Array(made.dropFirst()), launcher: made[0])
            do {
                try hosts.build()
                return hosts
            } catch {
                hosts.remove()
                lastFailure = "\(error)"
            }
        }
        throw ProbeFailure("the emulated hosts could not be made: \(lastFailure)")
    }

    private func build() throws {
        let ip = Command.ip!
        func run(_ arguments: [String], in namespace: String? = nil) throws {
            let full = namespace.map { ["netns", "exec", $0, ip] + arguments } ?? arguments
            let result = Command.run(ip, full)
            guard result.status == 0 else {
                throw ProbeFailure("ip \(full.joined(separator: " ")): \(result.output.joined(separator: " "))")
            }
        }
        try run(["link", "add", bridge, "type", "bridge"])
        try run(["addr", "add", "\(subnet).1/24", "dev", bridge])
        try run(["link", "set", bridge, "up"])
        for host in [launcher] + hosts {
            try run(["netns", "add", host.namespace])
            try run(["link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace])
            try run(["link", "set", host.link, "master", bridge, "up"])
            try run(["addr", "add", "\(host.address)/24", "dev", "eth0"], in: host.namespace)
            try run(["link", "set", "eth0", "up"], in: host.namespace)
            try run(["link", "set", "lo", "up"], in: host.namespace)
            // The namespace's own copy of the setting (the machine's is not touched).
            let retries = Command.run(
                ip, ["netns", "exec", host.namespace, "sh", "-c", "echo \(Self.tcpRetries) > /proc/sys/net/ipv4/tcp_retries2"])
            guard retries.status == 0 else {
                throw ProbeFailure("cannot set tcp_retries2 on \(host.name): \(retries.output.joined(separator: " "))")
            }
        }
    }

    /// Ends what runs on the hosts, then removes links, namespaces and bridge; what does not
    /// exist (a half-made set) is skipped.
    func remove() {
        let all = [launcher] + hosts
        Self.remove(namespaces: all.map(\.namespace), links: all.map(\.link), bridge: bridge)
    }

    private static func remove(namespaces: [String], links: [String], bridge: String) {
        guard let ip = Command.ip else { return }
        for namespace in namespaces {
            let running = processes(inNamespace: namespace).map(\.pid)
            for pid in running { kill(pid, SIGKILL) }
            // A namespace with a process still in it outlives `ip netns del`, and so does its link.
            for pid in running { _ = waitForExit(of: pid, milliseconds: 5_000) }
        }
        // Deleting one end of a veth pair deletes both.
        for link in links { _ = Command.run(ip, ["link", "del", link]) }
        for namespace in namespaces { _ = Command.run(ip, ["netns", "del", namespace]) }
        _ = Command.run(ip, ["link", "del", bridge])
    }

    /// Removes the hosts of runs whose process is gone (a run that crashed, or was killed at a
    /// deadline, never removed its own).
    private static func removeLeftoversOfDeadRuns() {
        guard let ip = Command.ip else { return }
        let names = Command.run(ip, ["netns", "list"]).output.compactMap { $0.split(separator: " ").first.map(String.init) }
        var dead: [String: [String]] = [:]
        for name in names where name.hasPrefix("mpih-") {
            // mpih-PID-RANDOM-hN
            let parts = name.split(separator: "-")
            guard parts.count == 4, let pid = pid_t(parts[1]), kill(pid, 0) != 0 && errno == ESRCH else { continue }
            dead[String(parts[2]), default: []].append(name)
        }
        for (random, namespaces) in dead {
            remove(namespaces: namespaces, links: (0...3).map { "mpv\(random)\($0)" }, bridge: "mpb\(random)")
        }
    }

    /// Processes whose network namespace is `namespace`'s: pid, name and the start of the command line.
    static func processes(inNamespace namespace: String) -> [(pid: pid_t, command: String)] {
        var target = stat()
        guard stat("/run/netns/\(namespace)", &target) == 0 else { return [] }
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var found: [(pid: pid_t, command: String)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name) else { continue }
            var own = stat()
            guard stat("/proc/\(pid)/ns/net", &own) == 0, own.st_ino == target.st_ino, own.st_dev == target.st_dev else { continue }
            let command = readProcFile("/proc/\(pid)/cmdline").split(whereSeparator: { $0 == "\0" || $0 == " " }).joined(separator: " ")
            found.append((pid, readProcFile("/proc/\(pid)/comm") + ": " + command.prefix(100)))
        }
        return found
    }
}

/// Runs a system command to its end (blocking).
enum Command {
    static let ip: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { access($0, X_OK) == 0 }

    /// Its exit status (-1 if it could not start) and its output lines, standard error included.
    static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: [String]) {
        guard
            let process = try? ProbeProcess.start(
                executable: executable, arguments, capturing: STDOUT_FILENO, alsoStandardError: true, environment: ["LC_ALL=C"])
        else { return (-1, ["cannot start \(executable)"]) }
        let (lines, status) = process.linesUntilExit()
        return ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), lines)
    }
}
#endif
