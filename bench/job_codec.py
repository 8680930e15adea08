#!/usr/bin/env python3
"""The Job record's codec costs, in process (no daemon): what `gqueue -a` spends decoding a
listing, what the daemon spends loading its stored rows, and building jobs from requests.

    .venv/bin/python bench/job_codec.py [--jobs 10000] [--runs 21]

Figures (median and min of --runs, after one warm-up; on a shared machine compare the mins):
- decode list[Job]      one msgpack array of --jobs finished jobs, as a listing reply
- decode stored rows    one blob per job with a reused Decoder(Job), as the store loads them
- encode list[Job]      the daemon's side of the listing
- decode list[JobSpec]  a submission of --jobs specs, as the daemon decodes the request
- Job from JobSpec      the submit path's copy of a spec into a Job (what
                        creation._job_from_spec builds, without its checks)
- retry copies          lineage.retry_of for each job
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import msgspec

from gflow.core import lineage
from gflow.protocol import Job, JobSpec, JobState


def finished_job(i: int) -> Job:
    return Job(
        id=i, state=JobState.FINISHED, command=f"python train.py --seed {i}", run_dir="/home/alice/work",
        parameters={"seed": str(i)}, owner_uid=1000, user="alice", run_name=f"gjob-{i}",
        priority=10, gpus=1, gpu_ids=[i % 8], time_limit=3600, submitted_at=1.7e9 + i,
        started_at=1.7e9 + i + 1, finished_at=1.7e9 + i + 60, exit_code=0, cpu_secs=12.5,
        runner_pid=4000 + i, runner_started=1.7e9 + i + 1, env_from=1,
    )


def spec(i: int) -> JobSpec:
    return JobSpec(command=f"python train.py --seed {i}", run_dir="/home/alice/work", gpus=1,
                   parameters={"seed": str(i)}, time_limit=3600, name="train")


def timed_ms(fn, runs: int) -> tuple[float, float]:
    """(median, min) in ms."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, min(times) * 1000


def job_from_spec(s: JobSpec, i: int) -> Job:
    """What `_job_from_spec` builds once its checks passed (daemon/jobs/creation.py): the
    generic copy `lineage.submitted`, or on a version without it the hand-written one."""
    submitted = getattr(lineage, "submitted", None)
    if submitted is not None:
        return submitted(s, i, 0.0, owner_uid=1000, user="alice", requested_name=s.name,
                         project=s.project, depends_on_ids=[])
    return Job(id=i, command=s.command, script=s.script, conda_env=s.conda_env, run_dir=s.run_dir,
               parameters=s.parameters, task_id=s.task_id, owner_uid=1000, user="alice",
               requested_name=s.name, project=s.project, max_retries=s.max_retries,
               auto_close_tmux=s.auto_close_tmux, notify_emails=s.notify_emails, notify_on=s.notify_on,
               depends_on_ids=[], dependency_mode=s.dependency_mode,
               auto_cancel_on_dependency_failure=s.auto_cancel_on_dependency_failure,
               scheduled_at=s.scheduled_at, priority=s.priority, gpus=s.gpus,
               gpu_memory_limit_mb=s.gpu_memory_limit_mb, memory_limit_mb=s.memory_limit_mb,
               time_limit=s.time_limit, max_concurrent=s.max_concurrent, submitted_at=0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=21)
    opts = ap.parse_args()
    n, runs = opts.jobs, opts.runs

    jobs = [finished_job(i) for i in range(1, n + 1)]
    encode = msgspec.msgpack.Encoder().encode
    listing = encode(jobs)
    rows = [encode(j) for j in jobs]
    one = msgspec.msgpack.Decoder(Job).decode
    specs = [spec(i) for i in range(n)]
    request = encode(specs)

    figures = [
        (f"decode list[Job] ({n} jobs, {len(listing):,} bytes)",
         timed_ms(lambda: msgspec.msgpack.decode(listing, type=list[Job]), runs)),
        (f"decode stored rows ({n} blobs)", timed_ms(lambda: [one(r) for r in rows], runs)),
        (f"encode list[Job] ({n} jobs)", timed_ms(lambda: encode(jobs), runs)),
        (f"decode list[JobSpec] ({n} specs)", timed_ms(lambda: msgspec.msgpack.decode(request, type=list[JobSpec]), runs)),
        (f"Job from JobSpec ({n} jobs)", timed_ms(lambda: [job_from_spec(s, i) for i, s in enumerate(specs)], runs)),
        (f"retry copies ({n} jobs)", timed_ms(lambda: [lineage.retry_of(j, j.id + n, 0.0) for j in jobs], runs)),
    ]
    for label, (median, least) in figures:
        print(f"{label:<48}: median {median:8.2f} ms   min {least:8.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
