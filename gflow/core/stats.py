"""Usage statistics over a set of jobs (SPEC 1.7). Pure: the daemon filters, this counts.

The field order of `Stats` is the key order of `gstats -o json` (SPEC 5.6), so the Struct
is encoded as is; nothing is omitted, absent values are JSON null.
"""
from __future__ import annotations

from typing import Optional

from msgspec import Struct

from ..protocol import Job, JobState

TOP_JOBS = 5


class TopJob(Struct, kw_only=True):
    id: int
    name: Optional[str]  # run name; None when the job has none
    runtime_secs: float
    gpus: int


class Stats(Struct, kw_only=True):
    user: Optional[str] = None  # None = all users
    since: Optional[int] = None  # unix seconds
    total_jobs: int = 0
    completed_jobs: int = 0
    failed_jobs: int = 0
    cancelled_jobs: int = 0
    timeout_jobs: int = 0
    running_jobs: int = 0
    queued_jobs: int = 0
    avg_wait_secs: Optional[float] = None
    avg_runtime_secs: Optional[float] = None
    total_gpu_hours: float = 0.0
    jobs_with_gpus: int = 0
    avg_gpus_per_job: float = 0.0
    peak_gpu_usage: int = 0
    success_rate: float = 0.0  # percent
    top_jobs: list[TopJob] = []


def runtime(job: Job, now: float) -> Optional[float]:
    """Seconds run so far (running) or in total; None for a job that never started."""
    if job.started_at is None:
        return None
    end = job.finished_at if job.finished_at is not None else now
    return max(0.0, end - job.started_at)


def _mean(values: list[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def compute(jobs: list[Job], now: float) -> Stats:
    count = {state: 0 for state in JobState}
    for job in jobs:
        count[job.state] += 1
    runtimes = {job.id: runtime(job, now) for job in jobs}

    waits = [max(0.0, j.started_at - j.submitted_at) for j in jobs if j.started_at is not None]
    # averages only over jobs that ran to an end by themselves; a cancel cuts a run short
    ended = (JobState.FINISHED, JobState.FAILED, JobState.TIMEOUT)
    done_runtimes = [runtimes[j.id] for j in jobs if j.state in ended and runtimes[j.id] is not None]
    # ...but GPU time was used regardless of how the job ended, and is still being used
    gpu_hours = sum((j.gpus * runtimes[j.id] / 3600 for j in jobs if runtimes[j.id] is not None), 0.0)

    completed = count[JobState.FINISHED]
    terminal = completed + count[JobState.FAILED] + count[JobState.CANCELLED] + count[JobState.TIMEOUT]

    ran = [j for j in jobs if runtimes[j.id] is not None]
    ran.sort(key=lambda j: (-runtimes[j.id], j.id))  # longest first, ties by id
    top = [
        TopJob(id=j.id, name=j.run_name or None, runtime_secs=runtimes[j.id], gpus=j.gpus)
        for j in ran[:TOP_JOBS]
    ]

    return Stats(
        total_jobs=len(jobs),
        completed_jobs=completed,
        failed_jobs=count[JobState.FAILED],
        cancelled_jobs=count[JobState.CANCELLED],
        timeout_jobs=count[JobState.TIMEOUT],
        running_jobs=count[JobState.RUNNING],
        queued_jobs=count[JobState.QUEUED],
        avg_wait_secs=_mean(waits),
        avg_runtime_secs=_mean(done_runtimes),
        total_gpu_hours=gpu_hours,
        jobs_with_gpus=sum(1 for j in jobs if j.gpus > 0),
        avg_gpus_per_job=sum(j.gpus for j in jobs) / len(jobs) if jobs else 0.0,
        peak_gpu_usage=max((j.gpus for j in jobs), default=0),
        success_rate=completed / terminal * 100 if terminal else 0.0,
        top_jobs=top,
    )
