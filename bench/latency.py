#!/usr/bin/env python3
"""Submit→Finished latency of `true`, one job at a time, against a fresh private daemon.

    .venv/bin/python bench/latency.py [--jobs 50] [--bin DIR]

(i)   Client: `submit("true")` then `wait([id])` on one open connection; time from before
      the submit to the wait's reply (the daemon answers a wait when the job is terminal).
(ii)  CLI: `gbatch --wait true`, the whole process (start to exit).
(iii) CLI + Client: `gbatch true` as a process, then a Client (connected beforehand) waits
      for the printed id; time from process start to the wait's reply.
Every job is checked to have ended Finished. Figures only; nothing is asserted on time.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

from _daemon import BenchDaemon, add_bin_option, machine_note, summary_ms

_SUBMITTED = re.compile(r"Submitted batch job (\d+)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=3, help="untimed jobs before each series")
    add_bin_option(ap)
    opts = ap.parse_args()
    from gflow.protocol import JobState

    print(machine_note())
    with BenchDaemon(opts.bin) as d, d.client() as c:
        def check(job_id: int) -> None:
            job = c.get(job_id)
            if job.state is not JobState.FINISHED:
                raise SystemExit(f"job {job_id} ended {job.state.value}: {d.log_text()[-1000:]}")

        # (i) Client
        times = []
        for i in range(opts.warmup + opts.jobs):
            t0 = time.perf_counter()
            job_id = c.submit("true")
            (job,) = c.wait([job_id])
            elapsed = time.perf_counter() - t0
            if job.state is not JobState.FINISHED:
                raise SystemExit(f"job {job_id} ended {job.state.value}")
            if i >= opts.warmup:
                times.append(elapsed)
        print(f"Client submit+wait           : {summary_ms(times)}")

        # (ii) gbatch --wait true
        argv = d.argv("gbatch") + ["--wait", "true"]
        times = []
        for i in range(opts.warmup + opts.jobs):
            t0 = time.perf_counter()
            out = subprocess.run(argv, env=d.env, cwd=str(d.home), stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True)
            elapsed = time.perf_counter() - t0
            if out.returncode != 0:
                raise SystemExit(f"gbatch --wait failed ({out.returncode}): {out.stderr}")
            check(int(_SUBMITTED.search(out.stdout).group(1)))
            if i >= opts.warmup:
                times.append(elapsed)
        print(f"CLI `gbatch --wait true`     : {summary_ms(times)}")

        # (iii) gbatch true, then a Client wait
        argv = d.argv("gbatch") + ["true"]
        times = []
        for i in range(opts.warmup + opts.jobs):
            t0 = time.perf_counter()
            out = subprocess.run(argv, env=d.env, cwd=str(d.home), stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"gbatch failed ({out.returncode}): {out.stderr}")
            job_id = int(_SUBMITTED.search(out.stdout).group(1))
            (job,) = c.wait([job_id])
            elapsed = time.perf_counter() - t0
            if job.state is not JobState.FINISHED:
                raise SystemExit(f"job {job_id} ended {job.state.value}")
            if i >= opts.warmup:
                times.append(elapsed)
        print(f"CLI `gbatch true` + wait     : {summary_ms(times)}")

        # for reference: the same job's own timestamps, as the daemon recorded them
        jobs = c.list(states=[JobState.FINISHED])[-opts.jobs:]
        queued = [j.started_at - j.submitted_at for j in jobs if j.started_at]
        ran = [j.finished_at - j.started_at for j in jobs if j.started_at and j.finished_at]
        print(f"  daemon: submitted→started  : {summary_ms(queued)}")
        print(f"  daemon: started→finished   : {summary_ms(ran)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
