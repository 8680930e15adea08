"""Jobs that can never start on this machine as it is configured.

Upstream accepts them and they wait forever with a generic `Resources`. We refuse them at
submission (and `gjob update`) with the limit they exceed, unless the submitter says the
machine will change (`--allow-pending`); a queued job that becomes impossible later (after
`gctl set-gpus`, a quota change) shows `NeverFits: <why>` instead of waiting silently.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..protocol import GpuSharing, Job

NEVER_FITS = "NeverFits"


@dataclass(frozen=True)
class Capacity:
    gpus: int  # GPUs the scheduler may hand out (allowed ones)
    largest_gpu_mb: Optional[int]  # the largest of them; None when unknown
    host_memory_mb: int
    # (job) -> (most GPUs its quotas ever let it run, the quota's name), None when unlimited
    gpu_quota: Optional[Callable[[Job], Optional[tuple[int, str]]]] = None
    # (job) -> the name of a quota that lets none of its owner's (or project's) jobs run
    # (`max_running_jobs: 0`), None when there is none
    no_jobs_quota: Optional[Callable[[Job], Optional[str]]] = None


def _mb(mb: int) -> str:
    return f"{mb // 1024}G" if mb >= 1024 and mb % 1024 == 0 else f"{mb}M"


def _gpus(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def why_never(job: Job, cap: Capacity) -> Optional[str]:
    """The limit `job` exceeds whatever else runs, or None when it can start some day.

    A limit of 0 is a limit (absent is "unlimited"): a group that may run 0 jobs at once
    or a quota of 0 running jobs never lets the job start, until someone changes it."""
    if job.memory_limit_mb and job.memory_limit_mb > cap.host_memory_mb:
        return f"{_mb(job.memory_limit_mb)} memory > {_mb(cap.host_memory_mb)} on this host"
    if job.group_id is not None and job.max_concurrent == 0:
        return "its group may run 0 jobs at once (gctl set-limit)"
    if cap.no_jobs_quota is not None:
        quota = cap.no_jobs_quota(job)
        if quota is not None:
            return f"0 running jobs allowed by {quota}"
    if job.gpus <= 0:
        return None
    if job.gpus > cap.gpus:
        return f"{_gpus(job.gpus)} > {cap.gpus} allowed"
    if job.gpu_sharing_mode is GpuSharing.SHARED and job.gpu_memory_limit_mb is not None \
            and cap.largest_gpu_mb is not None and job.gpu_memory_limit_mb > cap.largest_gpu_mb:
        return f"{_mb(job.gpu_memory_limit_mb)} GPU memory > {_mb(cap.largest_gpu_mb)} per GPU"
    if cap.gpu_quota is not None:
        limit = cap.gpu_quota(job)
        if limit is not None and job.gpus > limit[0]:
            return f"{_gpus(job.gpus)} > {limit[0]} allowed by {limit[1]}"
    return None


def reason(why: str) -> str:
    return f"{NEVER_FITS}: {why}"
