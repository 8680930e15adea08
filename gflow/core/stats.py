"""Usage statistics over a set of jobs. Pure: the daemon filters, this counts.

The field order of `Stats` is the key order of `gstats -o json`, so the Struct
is encoded as is; nothing is omitted, absent values are JSON null.
"""
from __future__ import annotations

from typing import Optional

import msgspec
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


class Totals(Struct, kw_only=True):
    """The sums behind `Stats`, kept for jobs that were purged (`gctl purge`), so totals,
    averages and GPU-hours survive a purge; top jobs and peaks are not kept."""

    total_jobs: int = 0
    completed_jobs: int = 0
    failed_jobs: int = 0
    cancelled_jobs: int = 0
    timeout_jobs: int = 0
    wait_secs: float = 0.0
    waited_jobs: int = 0
    runtime_secs: float = 0.0
    ran_jobs: int = 0
    gpu_secs: float = 0.0
    job_secs: float = 0.0  # wall-clock seconds of every job that ran, however it ended
    cpu_secs: float = 0.0  # CPU seconds recorded for ended jobs
    jobs_with_gpus: int = 0
    gpus: int = 0
    peak_gpus: int = 0

    def add(self, other: "Totals") -> "Totals":
        fields = {f: getattr(self, f) + getattr(other, f) for f in self.__struct_fields__ if f != "peak_gpus"}
        return Totals(peak_gpus=max(self.peak_gpus, other.peak_gpus), **fields)


_ENDED = (JobState.FINISHED, JobState.FAILED, JobState.TIMEOUT)
_STATE_FIELD = {
    JobState.FINISHED: "completed_jobs", JobState.FAILED: "failed_jobs",
    JobState.CANCELLED: "cancelled_jobs", JobState.TIMEOUT: "timeout_jobs",
}


def totals(jobs: list[Job], now: float) -> Totals:
    """The sums of `jobs` (finished ones: a purge only forgets those)."""
    t = Totals(total_jobs=len(jobs))
    for job in jobs:
        field = _STATE_FIELD.get(job.state)
        if field is not None:
            setattr(t, field, getattr(t, field) + 1)
        if job.started_at is not None:
            t.wait_secs += max(0.0, job.started_at - job.submitted_at)
            t.waited_jobs += 1
            run = runtime(job, now) or 0.0
            t.gpu_secs += job.gpus * run
            t.job_secs += run
            t.cpu_secs += job.cpu_secs or 0.0
            if job.state in _ENDED:
                t.runtime_secs += run
                t.ran_jobs += 1
        t.jobs_with_gpus += job.gpus > 0
        t.gpus += job.gpus
        t.peak_gpus = max(t.peak_gpus, job.gpus)
    return t


def compute(jobs: list[Job], now: float, purged: Optional[Totals] = None) -> Stats:
    """Statistics of `jobs`, plus the kept sums of purged jobs when given: both through
    `Totals`, so a purge changes no average."""
    t = totals(jobs, now)
    if purged is not None:
        t = t.add(purged)
    running = sum(1 for j in jobs if j.state is JobState.RUNNING)
    queued = sum(1 for j in jobs if j.state is JobState.QUEUED)
    terminal = t.completed_jobs + t.failed_jobs + t.cancelled_jobs + t.timeout_jobs
    return Stats(
        total_jobs=t.total_jobs,
        completed_jobs=t.completed_jobs,
        failed_jobs=t.failed_jobs,
        cancelled_jobs=t.cancelled_jobs,
        timeout_jobs=t.timeout_jobs,
        running_jobs=running,
        queued_jobs=queued,
        # averages only over jobs that ran to an end by themselves (a cancel cuts a run short),
        # but GPU time counts however the job ended, and while it is still being used
        avg_wait_secs=t.wait_secs / t.waited_jobs if t.waited_jobs else None,
        avg_runtime_secs=t.runtime_secs / t.ran_jobs if t.ran_jobs else None,
        total_gpu_hours=t.gpu_secs / 3600,
        jobs_with_gpus=t.jobs_with_gpus,
        avg_gpus_per_job=t.gpus / t.total_jobs if t.total_jobs else 0.0,
        peak_gpu_usage=t.peak_gpus,
        success_rate=t.completed_jobs / terminal * 100 if terminal else 0.0,
        top_jobs=_top(jobs, now),
    )


def _top(jobs: list[Job], now: float) -> list[TopJob]:
    runtimes = {job.id: runtime(job, now) for job in jobs}
    ran = [j for j in jobs if runtimes[j.id] is not None]
    ran.sort(key=lambda j: (-runtimes[j.id], j.id))  # longest first, ties by id
    return [TopJob(id=j.id, name=j.run_name or None, runtime_secs=runtimes[j.id], gpus=j.gpus)
            for j in ran[:TOP_JOBS]]


# --------------------------------------------------------------------------- per user / project
class StatsRow(Struct, kw_only=True):
    """One line of `gstats -u all` / `--by project`: a user's (or project's) statistics."""

    name: Optional[str]  # user name, or project code (None: jobs without a project)
    stats: Stats
    job_hours: float = 0.0  # wall-clock hours of every job that ran (running ones so far)
    cpu_hours: float = 0.0  # CPU time of the ended jobs (user + system), in hours


class StatsTable(Struct, kw_only=True):
    by: str  # "user" | "project"
    since: Optional[int] = None
    rows: list[StatsRow] = []
    total: Stats = msgspec.field(default_factory=Stats)
    total_job_hours: float = 0.0
    total_cpu_hours: float = 0.0


def breakdown(jobs: list[Job], now: float, by: str,
              purged: Optional[dict[tuple[str, Optional[str]], Totals]] = None) -> StatsTable:
    """Statistics per user (`by="user"`) or per project, with the totals over all of them.
    `purged` maps (user, project) to the kept sums of purged jobs."""
    index = 0 if by == "user" else 1
    groups: dict[Optional[str], list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.user if by == "user" else job.project, []).append(job)
    kept: dict[Optional[str], Totals] = {}
    for key, t in (purged or {}).items():
        name = key[index]
        kept[name] = kept[name].add(t) if name in kept else t
    rows = []
    for name in sorted(set(groups) | set(kept), key=lambda n: (n is None, n or "")):
        members = groups.get(name, [])
        stats = compute(members, now, kept.get(name))
        if by == "user":
            stats.user = name
        rows.append(StatsRow(name=name, stats=stats, job_hours=_job_hours(members, now, kept.get(name)),
                             cpu_hours=_cpu_hours(members, kept.get(name))))
    everything = Totals()
    for t in kept.values():
        everything = everything.add(t)
    return StatsTable(by=by, rows=rows, total=compute(jobs, now, everything),
                      total_job_hours=_job_hours(jobs, now, everything),
                      total_cpu_hours=_cpu_hours(jobs, everything))


def _job_hours(jobs: list[Job], now: float, purged: Optional[Totals]) -> float:
    seconds = sum((runtime(j, now) or 0.0) for j in jobs)
    return (seconds + (purged.job_secs if purged is not None else 0.0)) / 3600


def _cpu_hours(jobs: list[Job], purged: Optional[Totals]) -> float:
    seconds = sum((j.cpu_secs or 0.0) for j in jobs)
    return (seconds + (purged.cpu_secs if purged is not None else 0.0)) / 3600
