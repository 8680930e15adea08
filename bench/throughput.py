#!/usr/bin/env python3
"""Submission throughput (jobs/s) against a fresh private daemon; held jobs, so nothing runs.

    .venv/bin/python bench/throughput.py [--jobs 1000] [--cli-jobs 100] [--bin DIR]

- Client, one by one: `Client.submit(..., hold=True)` N times on one connection.
- Client, batched: `Client.submit_many` with one request of N specs, and N/100 requests of 100.
- CLI: `gbatch --hold true` run --cli-jobs times in sequence (one process each), as jobs/s.
Each job carries this process's full environment, as `gbatch` sends it. Every series runs
on its own fresh daemon, so earlier series do not inflate the queue. Figures only.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from _daemon import BenchDaemon, add_bin_option, machine_note, specs


def _line(label: str, n: int, seconds: float) -> None:
    print(f"{label:<34}: {n / seconds:9,.0f} jobs/s   ({n} jobs in {seconds:.3f} s, "
          f"{seconds / n * 1000:.2f} ms/job)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--cli-jobs", type=int, default=100)
    add_bin_option(ap)
    opts = ap.parse_args()
    n = opts.jobs
    print(machine_note())
    print(f"# environment per job: {len(os.environ)} variables, "
          f"{sum(len(k) + len(v) for k, v in os.environ.items())} bytes")

    with BenchDaemon(opts.bin) as d, d.client() as c:
        c.submit("true", hold=True)  # warm-up
        t0 = time.perf_counter()
        for _ in range(n):
            c.submit("true", hold=True)
        _line("Client.submit one by one", n, time.perf_counter() - t0)

    with BenchDaemon(opts.bin) as d, d.client() as c:
        c.submit("true", hold=True)
        batch = specs(n, hold=True)
        t0 = time.perf_counter()
        result = c.submit_many(batch)
        _line(f"Client.submit_many 1 x {n}", len(result.jobs), time.perf_counter() - t0)

    with BenchDaemon(opts.bin) as d, d.client() as c:
        c.submit("true", hold=True)
        size = 100
        batches = [specs(size, hold=True) for _ in range(max(1, n // size))]
        t0 = time.perf_counter()
        total = sum(len(c.submit_many(b).jobs) for b in batches)
        _line(f"Client.submit_many {len(batches)} x {size}", total, time.perf_counter() - t0)

    with BenchDaemon(opts.bin) as d:
        d.cli("gbatch", "--hold", "true")  # warm-up (page cache)
        t0 = time.perf_counter()
        for _ in range(opts.cli_jobs):
            d.cli("gbatch", "--hold", "true")
        _line(f"CLI gbatch --hold x {opts.cli_jobs}", opts.cli_jobs, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
