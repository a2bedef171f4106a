#!/usr/bin/env python3
"""mpi4py.futures baseline for pool-bench's MPI workloads.

pool-bench runs it under the launcher of the MPI it was built against, with the same number of
ranks as its own MPI job; rank 0 runs this script, every other rank is a worker of mpi4py's
MPIPoolExecutor:

    mpiexec -n 3 python3 -m mpi4py.futures mpi_pool_bench.py --workload NAME
        [--quick] [--launched-at NANOSECONDS]

Like pool_bench.py it runs ONE workload ONCE and prints exactly one JSON line on stdout:

    {"workload": NAME, "value": <float>, "unit": "<unit>", "extra": {...}}

The Swift driver owns repetition, alternation and medians. `--launched-at` is the driver's
CLOCK_MONOTONIC reading (in nanoseconds) just before it started mpiexec: `mpi-startup` counts
from there. Diagnostics go to stderr; any failure (a wrong result included) exits non-zero.

    mpiexec -n 3 python3 mpi_pool_bench.py --floor-pingpong [--quick]

is the floor beside them, without mpi4py.futures: 8-byte MPI_Send/MPI_Recv round trips between
ranks 0 and 1 of a job of the same size (the others wait without spinning); rank 0 prints the
p50 in the same JSON line. The same job then measures the relay floor (`relay_p50_us`): the
same round trips with rank 1 passing each message through a child process (`cat`, over two
pipes) before it answers, the least a rank that runs its tasks in worker processes can add.

    python3 mpi_pool_bench.py --check

says whether mpi4py is importable (one JSON line with its version and the MPI library it
loads), without starting MPI; it exits 3 with a message on stderr if mpi4py is missing.
"""

import argparse
import json
import os
import statistics
import sys
import time

MISSING_EXIT = 3


def now_ns():
    # The clock the Swift driver reads (CLOCK_MONOTONIC), so that the two can be subtracted.
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


SCRIPT_START_NS = now_ns()


# --- Worker functions ---------------------------------------------------------
# At module top level: the worker ranks look them up by name in this module.


def identity(x):
    return x


def worker_rank(_):
    # A little work so that one fast worker cannot drain the whole queue alone.
    time.sleep(0.001)
    from mpi4py import MPI

    return (MPI.COMM_WORLD.Get_rank(), os.getpid())


# --- Helpers -----------------------------------------------------------------


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def check(cond, message):
    # Raise rather than assert: asserts vanish under `python -O`.
    if not cond:
        raise RuntimeError(f"verification failed: {message}")


def result(value, unit, **extra):
    return {"value": float(value), "unit": unit, "extra": extra}


def warm(executor):
    """Every worker rank up and answering, as the Swift side's warm-up: repeat a map of a
    1 ms task until each worker has answered (at most 10 s), then a chunksize-1 map of the
    identity and 5 round trips. Returns how many distinct worker processes answered."""
    workers = executor.num_workers
    seen = set()
    deadline = time.perf_counter() + 10
    while len(seen) < workers and time.perf_counter() < deadline:
        seen.update(executor.map(worker_rank, range(workers * 8), chunksize=1))
    if len(seen) < workers:
        log(f"[mpi_pool_bench] warning: only {len(seen)} of {workers} workers answered the warm-up")
    out = list(executor.map(identity, range(workers * 8), chunksize=1))
    check(out == list(range(workers * 8)), "warm-up map returned wrong values")
    for i in range(5):
        check(executor.submit(identity, i).result() == i, "warm-up submit returned a wrong value")
    return len(seen)


# --- Workloads ---------------------------------------------------------------
# Each takes (args) and returns a dict with value/unit/extra. Only the timed section sits
# between the clock readings; executor start-up and warm-up are excluded everywhere except
# `mpi-startup`, whose point is to time them.


def wl_startup(args):
    from mpi4py.futures import MPIPoolExecutor

    launched = args.launched_at if args.launched_at is not None else SCRIPT_START_NS
    with MPIPoolExecutor() as executor:
        r = executor.submit(identity, 1).result()
        first = now_ns()
        workers = executor.num_workers
    check(r == 1, f"identity(1) returned {r!r}")
    first_ms = (first - launched) / 1e6
    return result(first_ms, "ms", first_result_ms=first_ms,
                  script_start_ms=(SCRIPT_START_NS - launched) / 1e6,
                  task_processes=workers)


def wl_apply(args):
    from mpi4py.futures import MPIPoolExecutor

    n = 500 if args.quick else 2000
    samples = []
    with MPIPoolExecutor() as executor:
        seen = warm(executor)
        workers = executor.num_workers
        for i in range(n):
            t0 = time.perf_counter()
            r = executor.submit(identity, i).result()
            samples.append(time.perf_counter() - t0)
            check(r == i, f"submit returned {r!r}, expected {i}")
    # p50 is the headline, as in pool_bench.py's apply-latency: a sequential round-trip loop
    # on a shared machine has a long scheduler-induced tail that would dominate a mean.
    p50 = statistics.median(samples) * 1e6
    mean = statistics.fmean(samples) * 1e6
    return result(p50, "us", p50_us=p50, mean_us=mean, n=n,
                  task_processes=workers, task_processes_seen=seen)


def timed_map(args, chunksize):
    from mpi4py.futures import MPIPoolExecutor

    n = 4000 if args.quick else 20000
    with MPIPoolExecutor() as executor:
        seen = warm(executor)
        workers = executor.num_workers
        t0 = time.perf_counter()
        out = list(executor.map(identity, range(n), chunksize=chunksize))
        elapsed = time.perf_counter() - t0
    check(out == list(range(n)), f"map(chunksize={chunksize}) result mismatch")
    return result(n / elapsed, "tasks/s", n=n, seconds=elapsed,
                  us_per_task=elapsed / n * 1e6, chunksize=chunksize,
                  task_processes=workers, task_processes_seen=seen)


def wl_map_chunk1(args):
    return timed_map(args, 1)


def wl_map_64(args):
    return timed_map(args, 64)


def floor_pingpong(args):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    check(comm.Get_size() >= 2, "the ping-pong needs 2 ranks or more")
    n = 1000 if args.quick else 5000
    warmup = 100
    buf = bytearray(8)
    message = [buf, MPI.BYTE]
    comm.Barrier()

    def round_trips(relay):
        samples = []
        if rank == 0:
            for i in range(warmup + n):
                t0 = time.perf_counter()
                comm.Send(message, dest=1, tag=7)
                comm.Recv(message, source=1, tag=7)
                if i >= warmup:
                    samples.append(time.perf_counter() - t0)
        elif rank == 1:
            for _ in range(warmup + n):
                comm.Recv(message, source=0, tag=7)
                if relay is not None:
                    os.write(relay.stdin.fileno(), buf)
                    got = 0
                    while got < len(buf):
                        got += len(os.read(relay.stdout.fileno(), len(buf) - got))
                comm.Send(message, dest=0, tag=7)
        # The other ranks wait as an idle serving rank does, asleep: an MPI barrier would spin
        # and take a core from the two that measure.
        done = comm.Ibarrier()
        while not done.Test():
            time.sleep(0.001)
        return samples

    plain = round_trips(None)
    relay = None
    if rank == 1:
        import subprocess
        # `cat` writes back each read at once: a worker process doing nothing, in C.
        relay = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    try:
        relayed = round_trips(relay)
    finally:
        if relay is not None:
            relay.stdin.close()
            relay.wait()
    if rank != 0:
        return None
    p50 = statistics.median(plain) * 1e6
    mean = statistics.fmean(plain) * 1e6
    relay_p50 = statistics.median(relayed) * 1e6
    relay_mean = statistics.fmean(relayed) * 1e6
    return result(p50, "us", p50_us=p50, mean_us=mean, n=n,
                  relay_p50_us=relay_p50, relay_mean_us=relay_mean)


WORKLOADS = {
    "mpi-startup": wl_startup,
    "mpi-apply": wl_apply,
    "mpi-map-chunk1": wl_map_chunk1,
    "mpi-map-64": wl_map_64,
}


def check_mpi4py():
    try:
        import mpi4py
    except ImportError as exc:
        log(f"mpi4py is not installed for {sys.executable} ({exc}): "
            "pip install mpi4py==4.1.0")
        return MISSING_EXIT
    # Which MPI library it loads, without starting MPI (MPI_Get_library_version may be called
    # before MPI_Init).
    mpi4py.rc.initialize = False
    mpi4py.rc.finalize = False
    try:
        from mpi4py import MPI

        library = MPI.Get_library_version().strip("\x00 \n").splitlines()[0]
    except Exception as exc:  # an mpi4py that cannot load its MPI is as good as missing
        log(f"mpi4py {mpi4py.__version__} is installed but cannot load MPI: {exc}")
        return MISSING_EXIT
    print(json.dumps({"mpi4py": mpi4py.__version__, "mpi": library,
                      "python": sys.version.split()[0]}), flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="mpi4py.futures baseline (one workload, one run, under mpiexec)")
    parser.add_argument("--workload", choices=sorted(WORKLOADS))
    parser.add_argument("--quick", action="store_true",
                        help="shrink sizes ~5x; units stay the same")
    parser.add_argument("--launched-at", type=int, default=None,
                        help="CLOCK_MONOTONIC nanoseconds when mpiexec was started")
    parser.add_argument("--check", action="store_true",
                        help="only say whether mpi4py is there (no MPI job)")
    parser.add_argument("--floor-pingpong", action="store_true",
                        help="the raw MPI ping-pong floor (run without -m mpi4py.futures)")
    args = parser.parse_args(argv)
    if args.check:
        return check_mpi4py()
    if args.floor_pingpong:
        try:
            res = floor_pingpong(args)
        except Exception as exc:
            log(f"[mpi_pool_bench] floor FAILED: {type(exc).__name__}: {exc}")
            return 1
        if res is not None:
            print(json.dumps({"workload": "mpi-floor-pingpong", **res}), flush=True)
        return 0
    if args.workload is None:
        parser.error("--workload is required (or --check, or --floor-pingpong)")

    import mpi4py
    from mpi4py import MPI

    log(f"[mpi_pool_bench] {args.workload} quick={args.quick} mpi4py={mpi4py.__version__} "
        f"ranks={MPI.COMM_WORLD.Get_size()} python={sys.version.split()[0]}")
    try:
        res = WORKLOADS[args.workload](args)
    except Exception as exc:  # a non-zero exit, not a traceback on stdout
        log(f"[mpi_pool_bench] FAILED: {type(exc).__name__}: {exc}")
        return 1
    res["extra"].update(quick=args.quick, ranks=MPI.COMM_WORLD.Get_size())
    print(json.dumps({"workload": args.workload, **res}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
