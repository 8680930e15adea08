"""One scheduling pass as a pure function (SPEC 4.3–4.5): order candidates, admit greedily.

The daemon gathers the inputs (eligible jobs, running jobs, GPUs, limits), calls `plan`,
then applies the outcome. Nothing here does IO, so every rule is unit-testable.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..protocol import GpuSharing, Job, Reason

DAY = 86400


@dataclass(frozen=True)
class Gpu:
    index: int
    memory_mb: Optional[int] = None
    available: bool = True  # false when an unmanaged process holds it


@dataclass
class PassInput:
    candidates: list[Job]
    running: list[Job]
    gpus: list[Gpu] = field(default_factory=list)
    allowed: Optional[set[int]] = None
    host_memory_mb: int = 16 * 1024
    strategy: str = "sequential"
    fair_share: dict[str, float] = field(default_factory=dict)
    # (job, running jobs so far) -> True if the job's quotas allow it to start now
    quota_allows: Optional[Callable[[Job, list[Job]], bool]] = None
    # (job) -> GPU indices it may use given reservations, None when unrestricted
    reservation_filter: Optional[Callable[[Job], Optional[set[int]]]] = None
    rng: Optional[random.Random] = None


@dataclass
class Plan:
    starts: list[tuple[Job, list[int]]] = field(default_factory=list)
    waiting: dict[int, str] = field(default_factory=dict)  # job id -> reason


def time_bonus(job: Job) -> int:
    if job.time_limit is None:
        return 100
    return 200 + int(100 * (1 - min(job.time_limit / DAY, 1.0)))


def order(candidates: list[Job], fair_share: dict[str, float]) -> list[Job]:
    """Priority bands, then fair share, then shorter limits, then older jobs."""
    return sorted(
        candidates,
        key=lambda j: (-j.priority, -fair_share.get(j.user, 1.0), -time_bonus(j), j.id),
    )


def _gpu_usable(gpu: Gpu, job: Job, running: list[Job], pending: list[tuple[Job, list[int]]]) -> bool:
    holders = [j for j in running if j.gpu_ids and gpu.index in j.gpu_ids]
    holders += [j for j, ids in pending if gpu.index in ids]
    if any(h.gpu_sharing_mode is GpuSharing.EXCLUSIVE for h in holders):
        return False
    if job.gpu_sharing_mode is GpuSharing.EXCLUSIVE:
        return not holders and gpu.available
    # shared: co-locate with shared jobs while the VRAM budget fits
    if not holders and not gpu.available:
        return False
    if gpu.memory_mb is not None:
        used = sum(h.gpu_memory_limit_mb or 0 for h in holders)
        return used + (job.gpu_memory_limit_mb or 0) <= gpu.memory_mb
    return True


def plan(inp: PassInput) -> Plan:
    result = Plan()
    running = list(inp.running)
    memory_left = inp.host_memory_mb - sum(j.memory_limit_mb or 0 for j in running)
    group_running: dict[str, int] = {}
    for j in running:
        if j.group_id:
            group_running[j.group_id] = group_running.get(j.group_id, 0) + 1
    rng = inp.rng or random.Random()

    for job in order(inp.candidates, inp.fair_share):
        need_mem = job.memory_limit_mb or 0
        if need_mem > memory_left:
            result.waiting[job.id] = Reason.WAITING_FOR_MEMORY.value
            continue
        if job.group_id and job.max_concurrent is not None:
            if group_running.get(job.group_id, 0) >= job.max_concurrent:
                result.waiting[job.id] = Reason.WAITING_FOR_RESOURCES.value
                continue
        if inp.quota_allows is not None and not inp.quota_allows(job, running):
            result.waiting[job.id] = Reason.WAITING_FOR_QUOTA.value
            continue
        chosen: list[int] = []
        if job.gpus > 0:
            usable = [
                g for g in inp.gpus
                if (inp.allowed is None or g.index in inp.allowed)
                and _gpu_usable(g, job, inp.running, result.starts)
            ]
            if inp.reservation_filter is not None:
                permitted = inp.reservation_filter(job)
                if permitted is not None:
                    usable = [g for g in usable if g.index in permitted]
            if inp.strategy == "random":
                rng.shuffle(usable)
            if len(usable) < job.gpus:
                result.waiting[job.id] = Reason.WAITING_FOR_GPU.value
                continue
            chosen = sorted(g.index for g in usable[: job.gpus])
        result.starts.append((job, chosen))
        memory_left -= need_mem
        if job.group_id:
            group_running[job.group_id] = group_running.get(job.group_id, 0) + 1
        running.append(job)
    return result
