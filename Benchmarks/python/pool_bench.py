#!/usr/bin/env python3
"""CPython multiprocessing.Pool baseline for the Swift process-pool benchmarks.

Runs ONE workload ONCE and prints exactly one JSON line on stdout:

    {"workload": NAME, "value": <float>, "unit": "<unit>", "extra": {...}}

The Swift driver owns repetition, alternation and medians, so this script
deliberately does no looping of its own. Diagnostics go to stderr only, so the
driver can parse stdout blindly. Any failure (including a wrong result) exits
non-zero.

Usage: python3 pool_bench.py --workload NAME
           [--start-method spawn|fork|forkserver] [--processes 2] [--quick]
"""

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from multiprocessing import shared_memory

import numpy as np

# Blocks a worker has attached, by name (shared-payload).
_attached = {}

# --- Worker functions ---------------------------------------------------------
# These must live at module top level: under "spawn" the child re-imports this
# module and looks them up by qualified name when unpickling tasks.


def identity(x):
    return x


def square(x):
    return x * x


def worker_pid(_):
    # A little work so that one fast worker cannot drain the whole queue alone.
    time.sleep(0.001)
    return os.getpid()


def count_primes(n):
    # Deliberately naive (no sieve, no even-skipping) so the Swift side can run
    # the identical loop and the comparison measures the pool, not the algorithm.
    count = 0
    for k in range(2, n):
        d = 2
        is_prime = True
        while d * d <= k:
            if k % d == 0:
                is_prime = False
                break
            d += 1
        if is_prime:
            count += 1
    return count


# --- Helpers -----------------------------------------------------------------

PRIMES_BELOW_30000 = 3245


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def check(cond, message):
    # Raise rather than assert: asserts vanish under `python -O`, and a silent
    # wrong answer would make the timing meaningless.
    if not cond:
        raise RuntimeError(f"verification failed: {message}")


def memory_mib():
    """(VmRSS, VmHWM) of this process in MiB from /proc/self/status, as the Swift side reads
    them; falls back to ru_maxrss (peak only) where /proc is missing."""
    try:
        fields = {}
        with open("/proc/self/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(rest.split()[0]) / 1024  # kB
        return fields["VmRSS"], fields["VmHWM"]
    except (OSError, KeyError, ValueError):
        # On Linux ru_maxrss is in KiB (on macOS it would be bytes).
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux 4.0+), so the peak seen afterwards belongs to
    the workload. Returns whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def warm(pool, processes):
    """Make sure every worker is up and has imported this module.

    Pool() returns before spawned children finish starting, so without this the
    first timed tasks would absorb interpreter start-up. The workers share one
    task queue, so a map alone does not prove that every worker is up (the first
    one started can take every task): repeat until each worker has answered, up
    to 10 s. The applies then exercise the single-task round-trip path too.
    """
    seen = set()
    deadline = time.perf_counter() + 10
    while len(seen) < processes and time.perf_counter() < deadline:
        seen.update(pool.map(worker_pid, range(processes * 8), chunksize=1))
    if len(seen) < processes:
        log(f"[pool_bench] warning: only {len(seen)} of {processes} workers answered the warm-up")
    pool.map(identity, range(processes * 8), chunksize=1)
    for i in range(5):
        pool.apply(identity, (i,))


def result(value, unit, **extra):
    return {"value": float(value), "unit": unit, "extra": extra}


# --- Workloads ---------------------------------------------------------------
# Each takes (ctx, processes, quick) and returns a dict with value/unit/extra.
# Only the timed section sits between the perf_counter() calls; pool creation
# and warm-up are excluded everywhere except `startup`, whose whole point is
# to measure them.


def wl_startup(ctx, processes, quick):
    t0 = time.perf_counter()
    pool = ctx.Pool(processes)
    r = pool.apply(identity, (1,))
    pool.close()
    pool.join()
    elapsed = time.perf_counter() - t0
    check(r == 1, f"identity(1) returned {r!r}")
    return result(elapsed * 1e3, "ms")


def wl_apply_latency(ctx, processes, quick):
    n = 1000 if quick else 5000
    samples = []
    with ctx.Pool(processes) as pool:
        warm(pool, processes)
        for i in range(n):
            t0 = time.perf_counter()
            r = pool.apply(identity, (i,))
            samples.append(time.perf_counter() - t0)
            check(r == i, f"apply returned {r!r}, expected {i}")
    # p50 is the headline: a sequential round-trip loop on a shared 2-core box
    # has a long scheduler-induced tail that would dominate a mean.
    p50 = statistics.median(samples) * 1e6
    mean = statistics.fmean(samples) * 1e6
    return result(p50, "us", p50_us=p50, mean_us=mean, n=n)


def wl_map_chunk1(ctx, processes, quick):
    n = 4000 if quick else 20000
    with ctx.Pool(processes) as pool:
        warm(pool, processes)
        t0 = time.perf_counter()
        out = pool.map(identity, range(n), chunksize=1)
        elapsed = time.perf_counter() - t0
    check(out == list(range(n)), "map(chunksize=1) result mismatch")
    return result(n / elapsed, "tasks/s", n=n, seconds=elapsed)


def wl_map_default(ctx, processes, quick):
    n = 20000 if quick else 100000
    data = list(range(n))
    with ctx.Pool(processes) as pool:
        warm(pool, processes)
        t0 = time.perf_counter()
        out = pool.map(identity, data)
        elapsed = time.perf_counter() - t0
    check(out == data, "map(default chunking) result mismatch")
    return result(n / elapsed, "tasks/s", n=n, seconds=elapsed)


def wl_imap_stream(ctx, processes, quick):
    n = 40000 if quick else 200000
    expected = sum(i * i for i in range(n))
    with ctx.Pool(processes) as pool:
        warm(pool, processes)
        # VmHWM is a high-water mark: reset it to the current RSS, then the
        # peak afterwards shows whether streaming buffered results.
        peak_reset = reset_peak_rss()
        rss_before, hwm_before = memory_mib()
        total = 0
        count = 0
        t0 = time.perf_counter()
        for x in pool.imap(square, range(n), chunksize=64):
            total += x
            count += 1
        elapsed = time.perf_counter() - t0
        rss_after, hwm_after = memory_mib()
    check(count == n, f"imap yielded {count} items, expected {n}")
    check(total == expected, "imap sum of squares mismatch")
    return result(n / elapsed, "tasks/s", n=n, seconds=elapsed,
                  peak_reset=peak_reset,
                  rss_before_mib=rss_before, hwm_before_mib=hwm_before,
                  rss_after_mib=rss_after, hwm_after_mib=hwm_after,
                  peak_growth_mib=hwm_after - rss_before)


def wl_payload(ctx, processes, quick):
    count = 16 if quick else 64
    size = 1 << 20
    buffers = [bytes(size) for _ in range(count)]
    with ctx.Pool(processes) as pool:
        warm(pool, processes)
        t0 = time.perf_counter()
        out = pool.map(identity, buffers, chunksize=1)
        elapsed = time.perf_counter() - t0
    check(len(out) == count, f"got {len(out)} buffers, expected {count}")
    check(all(len(b) == size for b in out), "returned buffer length mismatch")
    # Each buffer crosses the process boundary twice (to the worker and back).
    moved = 2 * count * size
    return result(moved / elapsed / 1e6, "MB/s", buffers=count,
                  buffer_bytes=size, bytes_moved=moved, seconds=elapsed)


def add_one_in_place(job):
    """Adds 1 to every byte of a slice of a SharedMemory block, in place, with numpy.

    A worker attaches each block once and keeps it (as our workers keep their mappings).
    Spawned workers share the parent's resource tracker, so attaching registers nothing new.
    """
    name, start, length = job
    block = _attached.get(name)
    if block is None:
        block = shared_memory.SharedMemory(name=name)
        _attached[name] = block
    view = np.ndarray((length,), dtype=np.uint8, buffer=block.buf, offset=start)
    view += 1
    return length


def wl_shared_payload(ctx, processes, quick):
    count = 16 if quick else 64
    size = 1 << 20
    block = shared_memory.SharedMemory(create=True, size=count * size)
    try:
        whole = np.ndarray((count * size,), dtype=np.uint8, buffer=block.buf)
        for i in range(count):
            whole[i * size:(i + 1) * size] = (i * 37 + 1) & 0xFF
        jobs = [(block.name, i * size, size) for i in range(count)]
        with ctx.Pool(processes) as pool:
            warm(pool, processes)
            t0 = time.perf_counter()
            out = pool.map(add_one_in_place, jobs, chunksize=1)
            elapsed = time.perf_counter() - t0
        check(out == [size] * count, "wrong slice lengths")
        for i in range(count):
            fill = (i * 37 + 2) & 0xFF
            check(whole[i * size] == fill and whole[(i + 1) * size - 1] == fill
                  and whole[i * size + size // 2] == fill, f"slice {i} was not incremented once")
        del whole
    finally:
        block.close()
        block.unlink()
    # Counted as `payload` counts its buffers (in and out), though nothing is copied.
    moved = 2 * count * size
    return result(moved / elapsed / 1e6, "MB/s", buffers=count,
                  buffer_bytes=size, bytes_moved=moved, seconds=elapsed)


def wl_cpu_bound(ctx, processes, quick):
    items = 16 if quick else 64
    n = 30000
    inputs = [n] * items

    t0 = time.perf_counter()
    serial = [count_primes(x) for x in inputs]
    serial_s = time.perf_counter() - t0

    with ctx.Pool(processes) as pool:
        warm(pool, processes)
        t0 = time.perf_counter()
        parallel = pool.map(count_primes, inputs)
        pool_s = time.perf_counter() - t0

    check(serial == parallel, "serial and pool results differ")
    check(all(c == PRIMES_BELOW_30000 for c in serial),
          f"count_primes({n}) != {PRIMES_BELOW_30000}: {serial[0]}")
    return result(serial_s / pool_s, "x", serial_s=serial_s, pool_s=pool_s,
                  items=items, n=n)


def many_results(n):
    """map squaring n Ints, default chunks, in a fresh interpreter (the driver runs one workload
    per process): the time, and the peak growth over the resident size measured after the pool
    was warmed and the input list built (peak reset there), against the size of a Swift [Int]
    of the results (8 bytes an item), as the Swift side reports it."""
    def run(ctx, processes, quick):
        data = list(range(n))
        with ctx.Pool(processes) as pool:
            warm(pool, processes)
            peak_reset = reset_peak_rss()
            rss_before, hwm_before = memory_mib()
            t0 = time.perf_counter()
            out = pool.map(square, data)
            elapsed = time.perf_counter() - t0
            _, hwm_after = memory_mib()
            check(len(out) == n, f"{len(out)} results for {n} items")
            check(all(out[i] == i * i for i in range(0, n, 9973)), "map(square) result mismatch")
            check(out[-1] == (n - 1) * (n - 1), "the last result is wrong")
        growth = hwm_after - rss_before
        results = n * 8 / (1024 * 1024)
        return result(elapsed * 1e3, "ms", n=n, seconds=elapsed, peak_reset=peak_reset,
                      baseline_rss_mib=rss_before, baseline_hwm_mib=hwm_before,
                      hwm_after_mib=hwm_after, peak_growth_mib=growth,
                      results_mib=results, growth_over_results=growth / results)
    return run


WORKLOADS = {
    "startup": wl_startup,
    "apply-latency": wl_apply_latency,
    "map-chunk1": wl_map_chunk1,
    "map-default": wl_map_default,
    "imap-stream": wl_imap_stream,
    "payload": wl_payload,
    "shared-payload": wl_shared_payload,
    "cpu-bound": wl_cpu_bound,
    "many-results-1m": many_results(1_000_000),
    "many-results-10m": many_results(10_000_000),
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="CPython multiprocessing.Pool baseline (one workload, one run)")
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--start-method", default="spawn",
                        choices=["spawn", "fork", "forkserver"])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="shrink sizes ~5x; units stay the same")
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error("--processes must be >= 1")

    ctx = multiprocessing.get_context(args.start_method)
    log(f"[pool_bench] {args.workload} method={args.start_method} "
        f"processes={args.processes} quick={args.quick} python={sys.version.split()[0]}")
    try:
        res = WORKLOADS[args.workload](ctx, args.processes, args.quick)
    except Exception as exc:  # report any failure as a non-zero exit, not a traceback on stdout
        log(f"[pool_bench] FAILED: {type(exc).__name__}: {exc}")
        return 1

    res["extra"].update(start_method=args.start_method,
                        processes=args.processes, quick=args.quick)
    print(json.dumps({"workload": args.workload, **res}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
