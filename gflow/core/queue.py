"""The eligible Queued jobs, kept in scheduling order as they come and go.

A pass used to rank every candidate again (O(n log n)) on every event. Here jobs live in
*lanes* that are each already sorted, and a pass merges the lanes' heads lazily: it costs
what it examines, and a lane whose head cannot start (its group is full, no GPU is left for
its kind) is dropped at once with everything behind it.

A lane holds the jobs of one owner, one limited group (with one limit) and one kind (no GPU,
exclusive GPUs, shared GPUs). Within a lane the order (priority, time bonus, id) does not
depend on fair share, which only ranks owners against each other: so the lanes never need
re-sorting when the factors move, only the merge looks at them.
"""
from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from typing import Iterable, Iterator, Optional

from ..protocol import GpuSharing, Job

DAY = 86400

CPU, EXCLUSIVE, SHARED = "cpu", "exclusive", "shared"
# started jobs leave a lane from its head: their keys stay as a dead prefix (a deletion at
# the front of a list moves all the rest: 10,000 queued, 80 kB per start) until they are this
# many and half the list, then go in one deletion
_DEAD_KEYS = 64


def time_bonus(job: Job) -> int:
    if job.time_limit is None:
        return 100
    return 200 + int(100 * (1 - min(job.time_limit / DAY, 1.0)))


def kind_of(job: Job) -> str:
    if job.gpus <= 0:
        return CPU
    return EXCLUSIVE if job.gpu_sharing_mode is GpuSharing.EXCLUSIVE else SHARED


class Lane:
    __slots__ = ("user", "group_id", "max_concurrent", "kind", "keys", "head", "jobs", "limited",
                 "frontier")

    def __init__(self, user: str, group_id: Optional[str], max_concurrent: Optional[int], kind: str):
        self.user, self.group_id, self.max_concurrent, self.kind = user, group_id, max_concurrent, kind
        # (-priority, -time bonus, id), ascending from `head`: the lane's jobs are
        # keys[head:], the keys before it are those of jobs gone from the head
        self.keys: list[tuple[int, int, int]] = []
        self.head = 0
        self.jobs: dict[int, Job] = {}
        self.limited = 0  # jobs with a time limit: the only ones that may use reserved GPUs
        # the key of the last job a pass gave a reason of its own (examined it, or judged it
        # as the head); every job behind it shows `Resources` (or NeverFits), so a pass that
        # stops earlier re-labels only the jobs up to here, never the whole lane
        self.frontier: Optional[tuple[int, int, int]] = None

    def job_at(self, pos: int) -> Job:
        return self.jobs[self.keys[pos][2]]


def _lane_of(job: Job) -> tuple:
    limited = job.group_id is not None and job.max_concurrent is not None
    return (job.user, job.group_id if limited else None, job.max_concurrent if limited else None, kind_of(job))


def lane_key(job: Job) -> tuple[int, int, int]:
    return (-job.priority, -time_bonus(job), job.id)


class ReadyQueue:
    """Add and discard are O(log n) plus a memmove; iteration is a lazy k-way merge."""

    def __init__(self, jobs: Iterable[Job] = ()):
        self._lanes: dict[tuple, Lane] = {}
        self._where: dict[int, tuple[tuple, tuple[int, int, int], bool]] = {}
        for job in jobs:
            self.add(job)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._where

    def add(self, job: Job) -> None:
        """Insert, or move a job whose priority, limits or group changed."""
        self.discard(job.id)
        name, key = _lane_of(job), lane_key(job)
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = Lane(*name)
        if not lane.keys or key > lane.keys[-1]:
            lane.keys.append(key)  # the usual case: a newer job at the end of its band
        else:
            insort(lane.keys, key, lane.head)
        lane.jobs[job.id] = job
        lane.limited += job.time_limit is not None
        self._where[job.id] = (name, key, job.time_limit is not None)

    def discard(self, job_id: int) -> None:
        where = self._where.pop(job_id, None)
        if where is None:
            return
        name, key, limited = where
        lane = self._lanes[name]
        lane.limited -= limited
        del lane.jobs[job_id]
        if not lane.jobs:
            del self._lanes[name]
            return
        keys, head = lane.keys, lane.head
        at = bisect_left(keys, key, head)
        if at > head:
            del keys[at]
        elif head + 1 < _DEAD_KEYS or 2 * (head + 1) < len(keys):
            lane.head = head + 1  # the usual case: the job at the head started
        else:
            del keys[:head + 1]
            lane.head = 0

    def lanes(self) -> Iterable[Lane]:
        return self._lanes.values()

    def jobs(self) -> Iterator[Job]:
        for lane in self._lanes.values():
            yield from lane.jobs.values()


class Merge:
    """The lanes' jobs in scheduling order: priority band, owner's fair share, time bonus, id.

    `next()` gives (lane, position) of the next job; the caller hands the lane back with
    `advance` to go on with it, or simply drops it (the rest of that lane is not examined).
    """

    def __init__(self, lanes: Iterable[Lane], fair_share: dict[str, float]):
        share = fair_share.get
        self._heap = []
        for lane in lanes:
            if lane.head < len(lane.keys):
                s = -share(lane.user, 1.0)
                k = lane.keys[lane.head]
                # job ids are unique: the key alone orders entries, lanes are never compared
                self._heap.append(((k[0], s, k[1], k[2]), id(lane), lane, lane.head, s))
        heapq.heapify(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def next(self) -> tuple[Lane, int, float]:
        _, _, lane, pos, s = heapq.heappop(self._heap)
        return lane, pos, s

    def advance(self, lane: Lane, pos: int, s: float) -> None:
        pos += 1
        if pos < len(lane.keys):
            k = lane.keys[pos]
            heapq.heappush(self._heap, ((k[0], s, k[1], k[2]), id(lane), lane, pos, s))
