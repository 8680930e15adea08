#!/usr/bin/env python3
"""Cost of the scheduling pass with a deep GPU queue, against fresh private daemons (8 fake GPUs).

    .venv/bin/python bench/scheduler.py [--queued 10000] [--big 100000] [--submits 200]
                                        [--drain 2000] [--bin DIR]

(i)   Submit cost: 8 `--gpus 1 sleep` jobs hold the 8 GPUs, --queued one-GPU jobs wait behind
      them; then --submits more are submitted one at a time. Daemon CPU (user+sys, psutil)
      per submission, and the client's round trip.
(ii)  Drain: --queued one-GPU `true` jobs on 8 free GPUs; over the first --drain of them:
      jobs/s (first start → last end), and job end → next start on the same GPU (the
      shepherd's recorded end to the daemon's start of the next job there), p50/p95, and the
      daemon's own CPU per job, its launcher (fork server) included, and the rest of each
      job's cost: its shepherd and payload (CPU of the children the launcher reaped).
(iii) The submit cost of (i) again with --big jobs queued (0 skips it).
Figures only; nothing is asserted on time. The machine's load is printed first: on a shared
machine the figures move with it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

from _daemon import BenchDaemon, add_bin_option, machine_note, percentile

GPU = "  backend: fake\n  count: 8\n  memory_mb: 81920\n"
BATCH = 5000


def _env() -> dict[str, str]:
    return {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}


def _specs(n: int, command: str, **fields):
    from gflow.protocol import JobSpec

    cwd = os.getcwd()
    return [JobSpec(command=command, run_dir=cwd, gpus=1, **fields) for _ in range(n)]


def _submit_batches(c, n: int, command: str, **fields) -> list[int]:
    from gflow.protocol import SubmitParams, SubmitResult

    ids: list[int] = []
    while len(ids) < n:
        size = min(BATCH, n - len(ids))
        result = c.call("jobs.submit", SubmitParams(jobs=_specs(size, command, **fields), env=_env()),
                        SubmitResult)
        ids += [job_id for job_id, _ in result.jobs]
    return ids


def _cpu(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def _helpers_cpu(pid: int) -> tuple[float, float]:
    """CPU of the daemon's own helper processes (its launcher): work moved out of the daemon
    still counts as the daemon's; and of the children they reaped: the shepherds the launcher
    forked, each with its job (a shepherd waits for its job, so the job's CPU is in its own
    children's), i.e. the rest of what a job costs the machine."""
    import psutil

    own = reaped = 0.0
    for child in psutil.Process(pid).children():
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        own += t.user + t.system
        reaped += t.children_user + t.children_system
    return own, reaped


def submit_cost(opts, queued: int) -> None:
    with BenchDaemon(opts.bin, gpu=GPU) as d, d.client() as c:
        busy = _submit_batches(c, 8, "sleep 100000")
        t0 = time.perf_counter()
        _submit_batches(c, queued, "true")
        fill = time.perf_counter() - t0
        c.status()  # the fill's last pass has run once this answers
        env = _env()
        rtts = []
        cpu0 = _cpu(d.pid)
        for _ in range(opts.submits):
            t = time.perf_counter()
            c.submit("true", gpus=1, env=env)
            rtts.append(time.perf_counter() - t)
        cpu = (_cpu(d.pid) - cpu0) / opts.submits
        ms = [r * 1000 for r in rtts]
        print(f"submit, {queued:>7,} queued on 8 busy GPUs: daemon CPU {cpu * 1000:7.2f} ms/submit   "
              f"round trip p50 {statistics.median(ms):7.2f} ms p95 {percentile(ms, 95):7.2f} ms   "
              f"(n={opts.submits}; fill {queued / fill:,.0f} jobs/s)")
        c.cancel(busy)


def drain(opts) -> None:
    from gflow.protocol import JobState

    with BenchDaemon(opts.bin, gpu=GPU) as d, d.client() as c:
        hold = _submit_batches(c, 8, "sleep 100000")  # the queue fills behind busy GPUs
        ids = _submit_batches(c, opts.queued, "true")
        c.status()
        cpu0, (helpers0, shepherds0) = _cpu(d.pid), _helpers_cpu(d.pid)
        c.cancel(hold)
        measured = ids[: opts.drain]
        c.wait(measured)
        cpu = (_cpu(d.pid) - cpu0) / opts.drain
        helpers, shepherds = _helpers_cpu(d.pid)
        helpers = (helpers - helpers0) / opts.drain
        # the 8 held jobs' shepherds are among them too, ending at the cancel: a few µs a job
        shepherds = (shepherds - shepherds0) / opts.drain
        jobs = c.list(ids=measured)
        rest = [j for j in ids[opts.drain:]]
        c.cancel(rest)
        bad = [j for j in jobs if j.state is not JobState.FINISHED]
        if bad:
            raise SystemExit(f"job {bad[0].id} ended {bad[0].state.value}: {d.log_text()[-1000:]}")
        span = max(j.finished_at for j in jobs) - min(j.started_at for j in jobs)
        by_gpu = defaultdict(list)
        for j in jobs:
            by_gpu[j.gpu_ids[0]].append(j)
        gaps = []
        for on_gpu in by_gpu.values():
            on_gpu.sort(key=lambda j: j.started_at)
            gaps += [(b.started_at - a.finished_at) * 1000 for a, b in zip(on_gpu, on_gpu[1:])]
        print(f"drain, {opts.queued:,} queued `true` on 8 GPUs: {len(jobs) / span:7.0f} jobs/s over the first "
              f"{len(jobs):,}   end → next start p50 {statistics.median(gaps):6.1f} ms "
              f"p95 {percentile(gaps, 95):6.1f} ms   daemon CPU {(cpu + helpers) * 1000:.2f} ms/job "
              f"(launcher {helpers * 1000:.2f}), shepherd + job {shepherds * 1000:.2f} ms/job")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queued", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000, help="queue depth of (iii); 0 skips it")
    ap.add_argument("--submits", type=int, default=200)
    ap.add_argument("--drain", type=int, default=2000)
    add_bin_option(ap)
    opts = ap.parse_args()
    print(machine_note())
    submit_cost(opts, opts.queued)
    drain(opts)
    if opts.big:
        submit_cost(opts, opts.big)
    print(machine_note().replace("# ", "# after: ", 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
