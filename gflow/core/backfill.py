"""Backfill with a reservation, the way Slurm's backfill scheduler does it.

Upstream examines candidates one by one and starts whatever fits, so a 4-GPU job waits for
ever behind a stream of 1-GPU jobs. With backfill, the first job in order that is short of
GPUs gets a *reservation*: the GPUs that free up earliest (from the running jobs' time
limits; a job without one counts as never ending) and the time the last of them frees. A
job behind it may start only if that cannot delay it: on GPUs outside the reservation, or
by its own time limit ending before the reserved start.

Like Slurm's `bf_max_job_test`, the next jobs short of GPUs get reservations too, up to a
small bound (`scheduler.backfill_depth`), so a second big job is not starved either. Each
plans around those before it: it may use a GPU another reservation holds only where its own
time limit keeps it out of the way, before that job's start or after its end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

from ..protocol import GpuSharing, Job, JobState

INF = float("inf")


@dataclass(frozen=True)
class Reservation:
    job_id: int
    gpus: frozenset[int]
    start: float  # INF when some GPU it needs is held by a job without a time limit
    memory_mb: int = 0
    end: float = INF  # when the job, started then, is over by its time limit


    def admits(self, job: Job, now: float) -> bool:
        """True if `job`, started now, is over before the reserved start."""
        return job.time_limit is not None and now + job.time_limit <= self.start


def end_of(job: Job, now: float) -> float:
    """When a holder gives its GPUs back at the latest; a stopping job (already terminal,
    its process winding down) as good as now."""
    if job.state is not JobState.RUNNING and job.state is not JobState.QUEUED:
        return now
    if job.time_limit is None:
        return INF
    return max(now, (job.started_at if job.started_at is not None else now) + job.time_limit)


def free_at(job: Job, memory_mb: Optional[int], available: bool, holders: Iterable[Job], now: float) -> float:
    """When one GPU could take `job`, given who holds it now."""
    holders = list(holders)
    need = job.gpu_memory_limit_mb or 0
    if job.gpu_sharing_mode is GpuSharing.SHARED and memory_mb is not None and need > memory_mb:
        return INF  # too small for it, ever
    if not holders:
        return now if available else INF  # a foreign process: nobody knows when it ends
    if job.gpu_sharing_mode is GpuSharing.EXCLUSIVE or any(
        h.gpu_sharing_mode is GpuSharing.EXCLUSIVE for h in holders
    ):
        return max(end_of(h, now) for h in holders)
    used = sum(h.gpu_memory_limit_mb or 0 for h in holders)
    when = now
    for holder in sorted(holders, key=lambda h: end_of(h, now)):
        if memory_mb is None or used + need <= memory_mb:
            return when
        used -= holder.gpu_memory_limit_mb or 0
        when = end_of(holder, now)
    return when


def reserve(job: Job, candidates: list[tuple[float, int]], held: Iterable[Reservation] = ()) -> Optional[Reservation]:
    """The reservation for `job` from (free time, GPU index) of each GPU it may use, around
    the reservations `held` before it: the earliest start at which enough GPUs are free and
    out of their way for the whole of its time limit. None when it may use too few GPUs to
    ever start."""
    if len(candidates) < job.gpus:
        return None
    candidates = sorted(candidates)
    limit = job.time_limit if job.time_limit is not None else INF
    busy: dict[int, list[tuple[float, float]]] = {}
    for r in held:
        for i in r.gpus:
            busy.setdefault(i, []).append((r.start, r.end))
    if not busy:  # the first reservation of a pass: the GPUs that free first
        chosen = candidates[: job.gpus]
        start = chosen[-1][0]
        return Reservation(job_id=job.id, gpus=frozenset(i for _, i in chosen), start=start,
                           memory_mb=job.memory_limit_mb or 0, end=start + limit)
    # the job can only start when one of its GPUs frees or one of those reservations ends;
    # without a limit it never ends, so it is never out of the way of a later start (even
    # one at infinity: that holder may end after all)
    for start in sorted({t for t, _ in candidates} | {end for spans in busy.values() for _, end in spans}):
        chosen = [
            i for t, i in candidates
            if t <= start and not any(
                start < end and (limit == INF or start + limit > begin) for begin, end in busy.get(i, ())
            )
        ][: job.gpus]
        if len(chosen) == job.gpus:
            return Reservation(
                job_id=job.id, gpus=frozenset(chosen), start=start, memory_mb=job.memory_limit_mb or 0,
                end=start + limit,
            )
    return None  # only when every start collides with a reservation that never ends


def around(reservations: list[Reservation], job: Job, gpus: list, now: float) -> list:
    """`gpus` (objects with `.index`) that `job` may take now without delaying any of the
    reservations: those outside them, then those it leaves before the reserved start."""
    late: set[int] = set()
    blocked: set[int] = set()
    for r in reservations:
        (late if r.admits(job, now) else blocked).update(r.gpus)
    late -= blocked
    return [g for g in gpus if g.index not in blocked and g.index not in late] + \
           [g for g in gpus if g.index in late]


def reserved_memory(reservations: list[Reservation], job: Job, now: float) -> int:
    """Host memory `job` must leave for the reservations it could delay."""
    return sum(r.memory_mb for r in reservations if not r.admits(job, now))
