#!/usr/bin/env python3
"""gflowd resident memory (RSS, psutil) idle and with many jobs, against a fresh private daemon.

    .venv/bin/python bench/memory.py [--jobs 10000 100000] [--active 10000] [--bin DIR]

Finished jobs live in SQLite and active ones in memory, so both are measured:
- active: N held jobs (in the daemon's memory, nothing running);
- finished: N jobs in a terminal state. They are made through the daemon quickly by
  submitting held jobs and cancelling them (state CA: the same SQLite rows a finished job
  has; running 100,000 real processes would take far longer and measure the same thing).
  With --run-finished the first --run-finished of them really run `true` instead.
RSS is read after the daemon is idle again; "after listing" is after one `jobs.list` of
everything (the daemon encodes the whole listing once, which is its peak). Figures only.
"""
from __future__ import annotations

import argparse
import sys
import time

import psutil

from _daemon import BenchDaemon, add_bin_option, machine_note, specs


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def settle(c) -> None:
    """A cheap request: the previous one has been fully handled when it is answered."""
    c.status()
    time.sleep(0.2)


def show(label: str, d: BenchDaemon, c) -> None:
    settle(c)
    print(f"{label:<52}: {rss_mb(d.pid):7.1f} MB")


def add_finished(c, n: int, batch: int = 1000, run: int = 0) -> None:
    done = 0
    while done < n:
        k = min(batch, n - done)
        if done < run:
            k = min(k, 250, run - done)
            c.wait([i for i, _ in c.submit_many(specs(k)).jobs])
        else:
            ids = [i for i, _ in c.submit_many(specs(k, hold=True)).jobs]
            result = c.cancel(ids)
            if result.errors:
                raise SystemExit(f"cancel failed: {result.errors[:3]}")
        done += k


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, nargs="+", default=[10_000, 100_000],
                    help="finished-job counts to measure at, ascending")
    ap.add_argument("--active", type=int, default=10_000, help="held jobs for the in-memory case (0: skip)")
    ap.add_argument("--run-finished", type=int, default=0, metavar="N",
                    help="really run the first N finished jobs (`true`) instead of cancelling them")
    add_bin_option(ap)
    opts = ap.parse_args()
    print(machine_note())

    if opts.active:
        with BenchDaemon(opts.bin) as d, d.client() as c:
            show("idle (fresh daemon, empty store)", d, c)
            for _ in range(0, opts.active, 1000):
                c.submit_many(specs(min(1000, opts.active), hold=True))
            show(f"{opts.active:,} held jobs (active, in memory)", d, c)
            c.list()
            show(f"{opts.active:,} held jobs, after listing them all", d, c)

    with BenchDaemon(opts.bin) as d, d.client() as c:
        show("idle (fresh daemon, empty store)", d, c)
        have = 0
        t0 = time.perf_counter()
        for target in sorted(opts.jobs):
            add_finished(c, target - have, run=max(0, opts.run_finished - have))
            have = target
            show(f"{target:,} finished jobs in the store", d, c)
            c.list()
            show(f"{target:,} finished jobs, after listing them all", d, c)
        print(f"# filled {have:,} finished jobs in {time.perf_counter() - t0:.1f} s")
        c.close()
        d.restart()
        with d.client() as c2:
            show(f"restarted on {have:,} finished jobs", d, c2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
