#!/usr/bin/env python3
"""`gqueue` wall time (whole process, as a user sees it) on an empty queue and with 10,000
finished jobs in the store, against a fresh private daemon.

    .venv/bin/python bench/gqueue_time.py [--jobs 10000] [--runs 21] [--fill run|cancel] [--bin DIR]

--fill run (default): the jobs really run: `true` submitted in batches of --batch through
    `Client.submit_many`, each batch waited for; they end Finished (CD) with start and end
    times, as in real use. About a minute or two on a small machine.
--fill cancel: held jobs submitted and cancelled through the daemon (state CA); quick, the
    same rows in SQLite, slightly different cells in the table.
Nothing is written to the database behind the daemon's back. Output goes to a pipe (no
colour), and each figure is the median of --runs runs after one untimed warm-up.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from _daemon import BenchDaemon, add_bin_option, machine_note, specs


def timed(d: BenchDaemon, runs: int, *args: str) -> list[float]:
    d.timed_cli("gqueue", *args)  # warm-up: page cache, pyc
    return [d.timed_cli("gqueue", *args) for _ in range(runs)]


def report(label: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    print(f"{label:<44}: median {statistics.median(ms):7.1f} ms   min {ms[0]:7.1f} ms   "
          f"max {ms[-1]:7.1f} ms   (n={len(ms)})")


def fill(d: BenchDaemon, c, jobs: int, mode: str, batch: int) -> None:
    from gflow.protocol import JobState

    t0 = time.perf_counter()
    done = 0
    while done < jobs:
        n = min(batch, jobs - done)
        if mode == "run":
            ids = [i for i, _ in c.submit_many(specs(n)).jobs]
            ended = c.wait(ids)
            bad = [j.id for j in ended if j.state is not JobState.FINISHED]
            if bad:
                raise SystemExit(f"jobs {bad[:5]} did not finish: {d.log_text()[-1000:]}")
        else:
            ids = [i for i, _ in c.submit_many(specs(n, hold=True)).jobs]
            result = c.cancel(ids)
            if result.errors:
                raise SystemExit(f"cancel failed: {result.errors[:3]}")
        done += n
    elapsed = time.perf_counter() - t0
    print(f"# filled {jobs} jobs (--fill {mode}) in {elapsed:.1f} s ({jobs / elapsed:,.0f} jobs/s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--fill", choices=["run", "cancel"], default="run")
    ap.add_argument("--batch", type=int, default=250, help="jobs per submission while filling")
    add_bin_option(ap)
    opts = ap.parse_args()

    print(machine_note())
    with BenchDaemon(opts.bin) as d, d.client() as c:
        report("gqueue (empty queue)", timed(d, opts.runs))
        report("gqueue -a (empty store)", timed(d, opts.runs, "-a"))
        fill(d, c, opts.jobs, opts.fill, opts.batch)
        out = d.cli("gqueue", "-a").stdout
        print(f"# gqueue -a prints {len(out.splitlines()) - 1} rows, {len(out):,} bytes")
        report(f"gqueue -a ({opts.jobs} finished jobs)", timed(d, opts.runs, "-a"))
        report(f"gqueue (own active; {opts.jobs} finished)", timed(d, opts.runs))
        report(f"gqueue -a -o json ({opts.jobs} finished)", timed(d, max(5, opts.runs // 3), "-a", "-o", "json"))
        # for reference: the same listing in-process (one round trip + decoding, no start-up)
        times = []
        for _ in range(opts.runs):
            t0 = time.perf_counter()
            jobs = c.list()
            times.append(time.perf_counter() - t0)
        report(f"Client.list() in-process ({len(jobs)} jobs)", times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
