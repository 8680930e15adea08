"""One scheduling pass as a pure function (SPEC 4.3–4.5): order candidates, admit greedily.

The daemon gathers the inputs (eligible jobs, running jobs, GPUs, limits), calls `plan`,
then applies the outcome. Nothing here does IO, so every rule is unit-testable.
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..protocol import GpuSharing, Job, Reason
from .reservations import ReservationGate

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
    # the active reservations' aggregate rule (None: no reservation is active)
    reservations: Optional[ReservationGate] = None
    rng: Optional[random.Random] = None


@dataclass
class Plan:
    starts: list[tuple[Job, list[int]]] = field(default_factory=list)
    waiting: dict[int, str] = field(default_factory=dict)  # job id -> reason


_EXCLUSIVE = GpuSharing.EXCLUSIVE  # module constants: enum attribute lookups are slow in hot loops
_MEMORY = Reason.WAITING_FOR_MEMORY.value
_GROUP = Reason.WAITING_FOR_RESOURCES.value
_QUOTA = Reason.WAITING_FOR_QUOTA.value
_GPU = Reason.WAITING_FOR_GPU.value
_RESERVED = Reason.RESERVED.value


def time_bonus(job: Job) -> int:
    if job.time_limit is None:
        return 100
    return 200 + int(100 * (1 - min(job.time_limit / DAY, 1.0)))


def order(candidates: list[Job], fair_share: dict[str, float]) -> list[Job]:
    """Priority bands, then fair share, then shorter limits, then older jobs."""
    share = fair_share.get
    return sorted(
        candidates,
        key=lambda j: (-j.priority, -share(j.user, 1.0), -time_bonus(j), j.id),
    )


class _GpuState:
    """Who holds which GPU during one pass: running jobs, then each admission of the pass.

    Exclusive candidates all see the same free GPUs, so that list is computed once and
    again only after an admission: a queue of 10,000 GPU jobs costs O(jobs), not
    O(jobs x GPUs x running jobs).
    """

    def __init__(self, gpus: list[Gpu], allowed: Optional[set[int]], running: list[Job]):
        self.gpus = [g for g in gpus if allowed is None or g.index in allowed]
        self.exclusive: set[int] = set()
        self.shared_mb: dict[int, int] = {}  # GPU -> VRAM budget of its shared holders
        for job in running:
            self.hold(job, job.gpu_ids or [])

    def hold(self, job: Job, indices) -> None:
        for i in indices:
            if job.gpu_sharing_mode is _EXCLUSIVE:
                self.exclusive.add(i)
            else:
                self.shared_mb[i] = self.shared_mb.get(i, 0) + (job.gpu_memory_limit_mb or 0)
        self._free = None

    _free: Optional[list[Gpu]] = None

    def usable(self, job: Job) -> list[Gpu]:
        if job.gpu_sharing_mode is _EXCLUSIVE:
            if self._free is None:
                self._free = [
                    g for g in self.gpus
                    if g.available and g.index not in self.exclusive and g.index not in self.shared_mb
                ]
            return self._free
        # shared: never beside an exclusive job; beside shared ones while the VRAM budget fits
        need = job.gpu_memory_limit_mb or 0
        out = []
        for g in self.gpus:
            if g.index in self.exclusive:
                continue
            used = self.shared_mb.get(g.index)
            if used is None and not g.available:
                continue
            if g.memory_mb is not None and (used or 0) + need > g.memory_mb:
                continue
            out.append(g)
        return out


def _key(job: Job, share) -> tuple:
    return (-job.priority, -share(job.user, 1.0), -time_bonus(job), job.id)


class _Source:
    """Candidates already in order, consumed from the front (a sorted list, or the members
    of an array whose only difference is their id)."""

    __slots__ = ("items", "pos", "keyed")

    def __init__(self, items: list, keyed: bool):
        self.items, self.pos, self.keyed = items, 0, keyed


def _ranked(candidates: list[Job], fair_share: dict[str, float], group_running: dict[str, int]):
    """Candidates in `order`, lazily, with the means to skip the rest of a full group.

    A 10,000-task array under `--max-concurrent 2` would otherwise be ranked in full on
    every pass (one per exit) to admit one task. Members of a group with one limit are
    kept apart; the merge examines a group's members only while the group has room, then
    hands back the rest at once. Members that differ only by id (an array, a sweep) are
    already in order and cost no ranking at all; everything else is sorted once.
    Yields (job, None) to examine a candidate and (None, [jobs]) for a full group's rest.
    """
    share = fair_share.get
    loose: list[Job] = []
    groups: dict[str, list[Job]] = {}
    for job in candidates:
        if job.group_id and job.max_concurrent is not None:
            groups.setdefault(job.group_id, []).append(job)
        else:
            loose.append(job)
    sources: dict[object, tuple[_Source, Optional[str]]] = {}
    heads: list[tuple] = []

    def add(source: _Source, gid: Optional[str]) -> None:
        sources[id(source)] = (source, gid)
        if source.items:
            heads.append((_head_key(source, share), id(source)))

    for gid, members in groups.items():
        first = members[0]
        alike = all(
            m.max_concurrent == first.max_concurrent and m.priority == first.priority
            and m.user == first.user and m.time_limit == first.time_limit
            for m in members
        )
        if alike:
            members.sort(key=lambda m: m.id)
            add(_Source(members, keyed=False), gid)
        elif len({m.max_concurrent for m in members}) == 1:
            add(_Source(sorted(((_key(m, share), m) for m in members), key=lambda e: e[0]), keyed=True), gid)
        else:
            loose += members  # members with different limits: judged one by one
    add(_Source(sorted(((_key(j, share), j) for j in loose), key=lambda e: e[0]), keyed=True), None)
    heapq.heapify(heads)
    while heads:
        _, sid = heapq.heappop(heads)
        source, gid = sources[sid]
        item = source.items[source.pos]
        job = item[1] if source.keyed else item
        source.pos += 1
        yield job, None
        if source.pos >= len(source.items):
            continue
        if gid is not None and group_running.get(gid, 0) >= job.max_concurrent:
            rest = source.items[source.pos:]
            yield None, [e[1] for e in rest] if source.keyed else rest  # full: none can start
            continue
        heapq.heappush(heads, (_head_key(source, share), sid))


def _head_key(source: _Source, share) -> tuple:
    item = source.items[source.pos]
    return item[0] if source.keyed else _key(item, share)


def plan(inp: PassInput) -> Plan:
    """Examine candidates in order, each on its own (greedy backfill, SPEC 4.3/4.4); checks in
    SPEC order: host memory, group limit, quotas, reservations + GPUs."""
    result = Plan()
    running = list(inp.running)  # admitted jobs are appended: the quota hook counts them
    memory_left = inp.host_memory_mb - sum(j.memory_limit_mb or 0 for j in running)
    group_running: dict[str, int] = {}
    for j in running:
        if j.group_id:
            group_running[j.group_id] = group_running.get(j.group_id, 0) + 1
    gpu_state = _GpuState(inp.gpus, inp.allowed, running)
    rng = inp.rng or random.Random()

    for job, rest in _ranked(inp.candidates, inp.fair_share, group_running):
        if rest is not None:
            # members of a full group, each failing at its first check (memory, then group)
            for other in rest:
                result.waiting[other.id] = _MEMORY if (other.memory_limit_mb or 0) > memory_left else _GROUP
            continue
        need_mem = job.memory_limit_mb or 0
        if need_mem > memory_left:
            result.waiting[job.id] = _MEMORY
            continue
        if job.group_id and job.max_concurrent is not None:
            if group_running.get(job.group_id, 0) >= job.max_concurrent:
                result.waiting[job.id] = _GROUP
                continue
        if inp.quota_allows is not None and not inp.quota_allows(job, running):
            result.waiting[job.id] = _QUOTA
            continue
        chosen: list[int] = []
        if job.gpus > 0:
            usable = gpu_state.usable(job)
            if inp.reservations is not None:
                permitted, blocker = inp.reservations.permit(job.user, job.gpus, [g.index for g in usable])
                if permitted is None:
                    result.waiting[job.id] = _GPU if blocker is None else f"{_RESERVED}:{blocker}"
                    continue
                by_index = {g.index: g for g in usable}
                usable = [by_index[i] for i in permitted]
            if len(usable) < job.gpus:
                result.waiting[job.id] = _GPU
                continue
            if inp.strategy == "random":
                usable = list(usable)
                rng.shuffle(usable)
            chosen = sorted(g.index for g in usable[: job.gpus])
            gpu_state.hold(job, chosen)
            if inp.reservations is not None:
                inp.reservations.take(job.user, chosen)
        result.starts.append((job, chosen))
        memory_left -= need_mem
        if job.group_id:
            group_running[job.group_id] = group_running.get(job.group_id, 0) + 1
        running.append(job)
    return result
