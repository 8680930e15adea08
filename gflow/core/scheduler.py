"""One scheduling pass as a pure function: order candidates, admit greedily,
and optionally hold GPUs back for the first jobs that are short of them (backfill).

The daemon gathers the inputs (its ordered queue, running jobs, GPUs, limits), calls `plan`,
then applies the outcome. Nothing here does IO, so every rule is unit-testable.

The pass costs what it examines, not the length of the queue: candidates come from the
lanes of a `ReadyQueue` already in order, and a lane is dropped as soon as its head cannot
start for a reason that holds for everything behind it (its group is full, no GPU is left
for its kind). The head then says why; the jobs behind it lack the same (`Resources`:
GPUs of their kind, or their group's turn), unless they can never start (NeverFits).
That label does not depend on the machine, so it stays true while the lane waits: a pass
writes it only on jobs new behind the head and on those an earlier pass examined and this
one stopped short of (up to the lane's `frontier`), never on the whole lane.
"""
from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Callable, Collection, Optional

from ..protocol import GpuSharing, Job, Reason
from . import backfill as bf
from . import fits
from .queue import EXCLUSIVE, SHARED, Lane, Merge, ReadyQueue, lane_key, time_bonus
from .reservations import ReservationGate

__all__ = ["Gpu", "PassInput", "Plan", "plan", "time_bonus"]


@dataclass(frozen=True)
class Gpu:
    index: int
    memory_mb: Optional[int] = None
    available: bool = True  # false when an unmanaged process holds it, or its state is unknown
    note: Optional[str] = None  # why it is unavailable, as a waiting job's reason names it


@dataclass
class PassInput:
    # every job listed here is judged (tests and small callers); the daemon passes `queue`
    candidates: list[Job] = field(default_factory=list)
    running: list[Job] = field(default_factory=list)
    gpus: list[Gpu] = field(default_factory=list)
    allowed: Optional[set[int]] = None
    host_memory_mb: int = 16 * 1024
    strategy: str = "sequential"
    fair_share: dict[str, float] = field(default_factory=dict)
    # (job, running jobs so far) -> True if the job's quotas allow it to start now
    quota_allows: Optional[Callable[[Job, list[Job]], bool]] = None
    # the active reservations' aggregate rule (`gctl reserve`; None: none is active),
    # consulted per candidate that needs GPUs and told about each admission
    reservations: Optional[ReservationGate] = None
    rng: Optional[random.Random] = None
    # the daemon's ordered queue of eligible jobs; `fresh`: ids in it never judged yet
    queue: Optional[ReadyQueue] = None
    fresh: Collection[int] = ()
    backfill: bool = False
    backfill_depth: int = 8  # how many jobs short of GPUs get a reservation, in order
    now: float = 0.0  # for backfill: running jobs' ends are started_at + time_limit
    capacity: Optional[fits.Capacity] = None  # judge jobs that can never start (NeverFits)


@dataclass
class Plan:
    starts: list[tuple[Job, list[int]]] = field(default_factory=list)
    waiting: dict[int, str] = field(default_factory=dict)  # job id -> reason
    backfill: Optional[bf.Reservation] = None  # the GPUs held back for the first job short of them
    reservations: list[bf.Reservation] = field(default_factory=list)  # for each such job, in order
    planned: dict[int, float] = field(default_factory=dict)  # job id -> expected start


_EXCLUSIVE = GpuSharing.EXCLUSIVE  # module constants: enum attribute lookups are slow in hot loops
_MEMORY = Reason.WAITING_FOR_MEMORY.value
_GROUP = Reason.WAITING_FOR_RESOURCES.value
_QUOTA = Reason.WAITING_FOR_QUOTA.value
_GPU = Reason.WAITING_FOR_GPU.value
_RESERVED = Reason.RESERVED.value


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
        self.holders: dict[int, list[Job]] = {}
        self._free: Optional[list[Gpu]] = None
        self._shared_room: Optional[bool] = None
        self._blocked: Optional[list[str]] = None
        for job in running:
            self.hold(job, job.gpu_ids or [])

    def hold(self, job: Job, indices) -> None:
        for i in indices:
            self.holders.setdefault(i, []).append(job)
            if job.gpu_sharing_mode is _EXCLUSIVE:
                self.exclusive.add(i)
            else:
                self.shared_mb[i] = self.shared_mb.get(i, 0) + (job.gpu_memory_limit_mb or 0)
        self._free = None
        self._shared_room = None
        self._blocked = None

    def blocked(self) -> list[str]:
        """Notes of GPUs nobody in gflow holds that are unavailable for a known reason."""
        if self._blocked is None:
            self._blocked = [
                g.note for g in self.gpus
                if not g.available and g.note and g.index not in self.exclusive and g.index not in self.shared_mb
            ]
        return self._blocked

    def free(self) -> list[Gpu]:
        if self._free is None:
            self._free = [
                g for g in self.gpus
                if g.available and g.index not in self.exclusive and g.index not in self.shared_mb
            ]
        return self._free

    def shared_room(self) -> bool:
        """Whether any GPU could take one more shared job of some size."""
        if self._shared_room is None:
            self._shared_room = any(
                g.index not in self.exclusive
                and (g.index in self.shared_mb or g.available)
                and (g.memory_mb is None or self.shared_mb.get(g.index, 0) < g.memory_mb)
                for g in self.gpus
            )
        return self._shared_room

    def usable(self, job: Job, rng: Optional[random.Random]) -> list[Gpu]:
        """The GPUs `job` fits on, best first. Shared jobs pack: GPUs already shared come
        first, the tightest fit first, so whole GPUs stay free for exclusive jobs."""
        if job.gpu_sharing_mode is _EXCLUSIVE:
            free = self.free()
            if rng is not None:
                free = list(free)
                rng.shuffle(free)
            return free
        need = job.gpu_memory_limit_mb or 0
        shared: list[tuple[float, int, Gpu]] = []
        empty: list[Gpu] = []
        for g in self.gpus:
            if g.index in self.exclusive:
                continue
            used = self.shared_mb.get(g.index)
            if used is None and not g.available:
                continue
            if g.memory_mb is not None and (used or 0) + need > g.memory_mb:
                continue
            if used is None:
                empty.append(g)
            else:
                left = g.memory_mb - used - need if g.memory_mb is not None else float("inf")
                shared.append((left, g.index, g))
        shared.sort(key=lambda e: (e[0], e[1]))
        if rng is not None:
            rng.shuffle(empty)
        return [g for _, _, g in shared] + empty


class _Pass:
    def __init__(self, inp: PassInput):
        self.inp = inp
        self.result = Plan()
        self.running = list(inp.running)  # admitted jobs are appended: the quota hook counts them
        self.memory_left = inp.host_memory_mb - sum(j.memory_limit_mb or 0 for j in self.running)
        self.group_running: dict[str, int] = {}
        for j in self.running:
            if j.group_id:
                self.group_running[j.group_id] = self.group_running.get(j.group_id, 0) + 1
        self.gpus = _GpuState(inp.gpus, inp.allowed, self.running)
        self.rng = (inp.rng or random.Random()) if inp.strategy == "random" else None
        self.held = self.result.reservations  # backfill reservations made so far, in order
        self.held_gpus: frozenset[int] = frozenset()
        self.depth = inp.backfill_depth if inp.backfill else 0

    # ------------------------------------------------------------------ lanes
    def lane_blocked(self, lane: Lane) -> Optional[str]:
        """Why nothing in `lane` can start any more in this pass, or None."""
        if lane.max_concurrent is not None and self.group_running.get(lane.group_id, 0) >= lane.max_concurrent:
            return _GROUP
        if lane.kind == EXCLUSIVE:
            free = self.gpus.free()
            if not free:
                return _GPU
            if self.held and all(g.index in self.held_gpus for g in free):
                # only jobs over before a reserved start may use these: none without a limit
                jobs = lane.jobs
                reserved = sum(1 for r in self.held if r.job_id in jobs and jobs[r.job_id].time_limit is not None)
                if lane.limited - reserved == 0:
                    return _GPU
        if lane.kind == SHARED and not self.gpus.shared_room():
            return _GPU
        return None

    def judge_rest(self, lane: Lane, pos: int, blocked: str, fresh: Optional[set[int]]) -> None:
        """Reasons for the jobs of a dropped lane: its head (the next in line) says what the
        lane waits for; those behind it lack the same (`Resources`) or can never
        start. Written on every job behind when every candidate must be judged, else only on
        those never judged before and those an earlier pass examined (up to the frontier)."""
        waiting = self.result.waiting
        keys = lane.keys
        head = keys[pos]
        job = lane.jobs[head[2]]
        if blocked is _GROUP:  # quotas are not asked: the group already says no
            why = self.never(job)
            waiting[head[2]] = why or (_MEMORY if (job.memory_limit_mb or 0) > self.memory_left else _GROUP)
        else:
            why = self.first_failure(job)
            if why is None and blocked is _GPU and len(self.held) < self.depth:
                self.reserve_for(job)  # no GPU free now, but one will be, and GPUs are all it lacks
            waiting[head[2]] = why or self.short_of_gpus(job)
        if fresh is None:
            behind = [keys[p][2] for p in range(pos + 1, len(keys))]
        else:
            behind = [i for i in fresh if i in lane.jobs and lane_key(lane.jobs[i]) > head]
            frontier = lane.frontier
            if frontier is not None and frontier > head:
                behind += [keys[p][2] for p in range(pos + 1, bisect_right(keys, frontier, pos + 1))]
        lane.frontier = head
        # Behind the head, every job of the lane lacks what the head lacks: GPUs of its kind
        # (the lane stops only when none is left for it) or its group's turn. A label that
        # does not depend on which GPU is busy why, so it never goes stale while the lane
        # waits; both read `Resources`, as upstream shows every job short of them.
        label = _GROUP if lane.max_concurrent is not None else _GPU
        for job_id in behind:
            waiting[job_id] = self.never(lane.jobs[job_id]) or label

    # ------------------------------------------------------------------ checks
    def never(self, job: Job) -> Optional[str]:
        cap = self.inp.capacity
        if cap is None:
            return None
        why = fits.why_never(job, cap)
        return fits.reason(why) if why else None

    def first_failure(self, job: Job) -> Optional[str]:
        """The first check (upstream's order) `job` fails short of the GPUs, without admitting it."""
        why = self.never(job)
        if why:
            return why
        if (job.memory_limit_mb or 0) > self.memory_left:
            return _MEMORY
        if job.group_id and job.max_concurrent is not None \
                and self.group_running.get(job.group_id, 0) >= job.max_concurrent:
            return _GROUP
        if self.inp.quota_allows is not None and not self.inp.quota_allows(job, self.running):
            return _QUOTA
        return None

    def short_of_gpus(self, job: Job) -> str:
        """The reason of a job no GPU is left for in this pass: a reservation whose claim
        comes first names itself (so a freed GPU that goes to it is explained)."""
        gate = self.inp.reservations
        if gate is not None:
            usable = self.gpus.usable(job, None)
            permitted, blocker = gate.permit(job.user, job.gpus, [g.index for g in usable])
            if permitted is None and blocker is not None:
                return f"{_RESERVED}:{blocker}"
            return self.gpu_reason(job, len(usable))
        return self.gpu_reason(job, 0)

    def gpu_reason(self, job: Job, usable: int) -> str:
        """WaitingForGpu, or what blocks the GPUs that would let the job start (a foreign
        process, a GPU we cannot query), so the queue says why."""
        notes = self.gpus.blocked()
        if notes and usable + len(notes) >= job.gpus:
            return notes[0]
        return _GPU

    def examine(self, job: Job) -> None:
        inp, result = self.inp, self.result
        why = self.never(job)
        if why:
            result.waiting[job.id] = why
            return
        need_mem = job.memory_limit_mb or 0
        if need_mem > self.memory_left:
            result.waiting[job.id] = _MEMORY
            return
        held = self.held
        if held and need_mem and self.memory_left - need_mem < bf.reserved_memory(held, job, inp.now):
            result.waiting[job.id] = _MEMORY  # would leave too little for the reserved jobs
            return
        if job.group_id and job.max_concurrent is not None:
            if self.group_running.get(job.group_id, 0) >= job.max_concurrent:
                result.waiting[job.id] = _GROUP
                return
        if inp.quota_allows is not None and not inp.quota_allows(job, self.running):
            result.waiting[job.id] = _QUOTA
            return
        chosen: list[int] = []
        if job.gpus > 0:
            usable = self.gpus.usable(job, self.rng)
            gate = inp.reservations
            if gate is not None:
                permitted, blocker = gate.permit(job.user, job.gpus, [g.index for g in usable])
                if permitted is None:
                    if blocker is not None:
                        result.waiting[job.id] = f"{_RESERVED}:{blocker}"
                        return
                    result.waiting[job.id] = self.gpu_reason(job, len(usable))
                    if len(held) < self.depth:
                        self.reserve_for(job)
                    return
                by_index = {g.index: g for g in usable}
                usable = [by_index[i] for i in permitted]
            if held:
                usable = bf.around(held, job, usable, inp.now)
            if len(usable) < job.gpus:
                result.waiting[job.id] = self.gpu_reason(job, len(usable))
                if len(held) < self.depth:
                    self.reserve_for(job)
                return
            chosen = sorted(g.index for g in usable[: job.gpus])
            self.gpus.hold(job, chosen)
            if gate is not None:
                gate.take(job.user, chosen)
        result.starts.append((job, chosen))
        self.memory_left -= need_mem
        if job.group_id:
            self.group_running[job.group_id] = self.group_running.get(job.group_id, 0) + 1
        self.running.append(job)

    def reserve_for(self, job: Job) -> None:
        now = self.inp.now
        holders = self.gpus.holders
        gate = self.inp.reservations
        # GPUs index-reserved for someone else are never its; count reservations are not
        # planned ahead (they hold back idle GPUs only, pass by pass)
        owner = gate.index_owner.get if gate is not None else (lambda i: None)
        options = [
            (bf.free_at(job, g.memory_mb, g.available, holders.get(g.index, ()), now), g.index)
            for g in self.gpus.gpus
            if owner(g.index) is None or owner(g.index).user == job.user
        ]
        res = bf.reserve(job, options, self.held)
        if res is None:
            return
        self.held.append(res)
        self.held_gpus |= res.gpus
        if self.result.backfill is None:
            self.result.backfill = res
        if res.start != bf.INF:
            self.result.planned[job.id] = res.start


def plan(inp: PassInput) -> Plan:
    """Examine candidates in order, each on its own; checks in upstream's order:
    host memory, group limit, quotas, reservations + GPUs. With `backfill`, the first
    `backfill_depth` jobs short of GPUs hold the GPUs they will get (see `backfill`)."""
    queue = inp.queue if inp.queue is not None else ReadyQueue(inp.candidates)
    fresh = set(inp.fresh) if inp.queue is not None else None
    state = _Pass(inp)
    merge = Merge(queue.lanes(), inp.fair_share)
    while merge:
        lane, pos, share = merge.next()
        blocked = state.lane_blocked(lane)
        if blocked is not None:
            state.judge_rest(lane, pos, blocked, fresh)
            continue
        key = lane.keys[pos]
        if lane.frontier is None or key > lane.frontier:
            lane.frontier = key
        state.examine(lane.jobs[key[2]])
        merge.advance(lane, pos, share)
    return state.result
