import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A pool's program ended by a signal takes its workers with it, and a program that handles
/// SIGINT itself can cancel its pool's call cleanly. The probe is a real pool parent
/// (`MultiprocessingProbe`) with workers idle, sleeping in a task and spinning in one.
@Suite("signals end a pool's program and its workers", .timeLimit(.minutes(2)))
struct SignalTests {
    @Test("SIGINT, SIGTERM or SIGHUP to the program: it ends, and every worker with it", arguments: [SIGINT, SIGTERM, SIGHUP])
    func signalToTheProgram(signal: Int32) async throws {
        try await withDeadline(30) { () async throws in
            try await expectSignalEndsAll(signal, toGroup: false)
        }
    }

    @Test("Ctrl-C at a terminal (SIGINT to the whole process group): the program and every worker end")
    func controlCToTheGroup() async throws {
        try await withDeadline(30) { () async throws in
            try await expectSignalEndsAll(SIGINT, toGroup: true)
        }
    }

    @Test(
        "a program that handles SIGINT itself cancels its call: the workers running it are killed and the pool ends",
        arguments: [false, true])
    func handledSIGINTCancels(toGroup: Bool) async throws {
        try await withDeadline(30) { () async throws in
            let directory = temporaryDirectory()
            defer {
                unlink(directory + "/pids")
                rmdir(directory)
            }
            let probe = try ProbeProcess.start(["cancel-on-sigint", directory + "/pids"], ownProcessGroup: toGroup)
            let ready = await offCooperativePool { probe.readLine() ?? "" }
            let workers = ready.split(separator: " ").dropFirst().compactMap { pid_t($0) }
            #expect(ready.hasPrefix("ready") && workers.count == 2, "probe said: \(ready)")
            kill(toGroup ? -probe.pid : probe.pid, SIGINT)
            // It prints how the call ended and "done" only once its pool has ended: workers
            // left sleeping in their task would keep it from ending.
            let (lines, status) = await offCooperativePool { probe.linesUntilExit() }
            #expect(lines.first?.hasPrefix("cancelled") == true, "\(lines)")
            #expect(lines.last == "done", "\(lines)")
            #expect(status == 0, "probe exit status \(status)")
            for worker in workers {
                let exited = await offCooperativePool { waitForExit(of: worker, milliseconds: 5_000) }
                #expect(exited, "worker \(worker) outlived its cancelled call")
                if !exited { kill(worker, SIGKILL) }
            }
        }
    }

    /// Starts a pool parent, sends it (or its process group) `signal`, and expects it and its
    /// workers to be gone within 5 s each.
    private func expectSignalEndsAll(_ signal: Int32, toGroup: Bool) async throws {
        let directory = temporaryDirectory()
        defer {
            unlink(directory + "/pids")
            rmdir(directory)
        }
        let probe = try ProbeProcess.start(["orphan-parent", directory + "/pids"], ownProcessGroup: toGroup)
        let line = await offCooperativePool { probe.readLine() ?? "" }
        let workers = line.split(separator: " ").dropFirst().compactMap { pid_t($0) }
        #expect(line.hasPrefix("ready") && workers.count == 3, "probe said: \(line)")
        kill(toGroup ? -probe.pid : probe.pid, signal)
        let ended = await offCooperativePool { waitForExit(of: probe.pid, milliseconds: 5_000) }
        #expect(ended, "the program outlived signal \(signal) by 5 s")
        if !ended { kill(probe.pid, SIGKILL) }
        let status = await offCooperativePool { probe.wait() }
        #expect(status & 0x7f == signal, "wait status \(status)")
        for worker in workers {
            let exited = await offCooperativePool { waitForExit(of: worker, milliseconds: 5_000) }
            #expect(exited, "worker \(worker) outlived its parent's signal \(signal) by 5 s")
            if !exited { kill(worker, SIGKILL) }
        }
    }
}

/// A fresh directory under /tmp for a probe's files.
func temporaryDirectory() -> String {
    var template = Array("/tmp/mp-signal-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
}
