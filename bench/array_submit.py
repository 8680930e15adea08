#!/usr/bin/env python3
"""Submit time of one big array: `gbatch --array 1-N true`, end to end, on a fresh daemon.

    .venv/bin/python bench/array_submit.py [--tasks 10000] [--hold] [--run] [--repeat K] [--bin DIR]

Times the whole gbatch process (start to exit, as `time` would: parse, one request, one
transaction, 10,000 printed lines) and checks that it made N jobs. By default the tasks
then run (`true`), so the daemon is already launching them while gbatch prints, as in real
use; `--hold` submits them held (submission alone). `--run` also waits until every task
has finished and prints that figure. Upstream refuses more than 1,000 jobs per request.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from _daemon import BenchDaemon, add_bin_option, machine_note


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--hold", action="store_true", help="submit held: measure the submission alone")
    ap.add_argument("--run", action="store_true", help="also wait until every task has finished")
    ap.add_argument("--repeat", type=int, default=1, help="fresh daemon per repetition")
    add_bin_option(ap)
    opts = ap.parse_args()
    print(machine_note())
    argv = (["--hold"] if opts.hold else []) + ["--array", f"1-{opts.tasks}", "true"]
    figures = []
    for _ in range(opts.repeat):
        with BenchDaemon(opts.bin) as d:
            t0 = time.perf_counter()
            out = d.cli("gbatch", *argv)
            elapsed = time.perf_counter() - t0
            made = sum(1 for line in out.stdout.splitlines() if line.startswith("Submitted batch job"))
            if made != opts.tasks:
                print(f"bench: gbatch made {made} jobs, not {opts.tasks}", file=sys.stderr)
                return 1
            figures.append(elapsed)
            print(f"gbatch {' '.join(argv)}: {elapsed:.3f} s end to end "
                  f"({opts.tasks / elapsed:,.0f} jobs/s, one request)")
            if opts.run and not opts.hold:
                from gflow.protocol import JobState

                with d.client() as c:
                    jobs = c.wait(list(range(1, opts.tasks + 1)), timeout=3600)
                done = time.perf_counter() - t0
                bad = sum(1 for j in jobs if j.state is not JobState.FINISHED)
                print(f"  all {opts.tasks} tasks ended {done:.1f} s after submission "
                      f"({opts.tasks / done:,.0f} jobs/s){f', {bad} not Finished' if bad else ''}")
    if len(figures) > 1:
        print(f"min {min(figures):.3f} s   median {statistics.median(figures):.3f} s   "
              f"max {max(figures):.3f} s   (n={len(figures)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
