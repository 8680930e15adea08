"""What the scheduling pass keeps between passes, so an event costs what it changes.

The job table tells this object about every job that enters or leaves the active set and
every job whose eligibility may have changed (`touch`); a pass then settles only those
(begin time, dependencies), keeps the eligible ones in the ordered `ReadyQueue`, and hands
the queue to `core.scheduler.plan`. Running jobs are indexed too, so no pass walks every
active job.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

from ...core import deps as core_deps
from ...core import fits
from ...core.backfill import Reservation
from ...core.queue import ReadyQueue
from ...core.scheduler import Plan
from ...protocol import Job, JobState, Reason

_QUEUED, _RUNNING = JobState.QUEUED, JobState.RUNNING
_BEGIN_TIME = Reason.WAITING_FOR_START_TIME.value
_DEPENDENCY = Reason.WAITING_FOR_DEPENDENCY.value


class SchedulingState:
    def __init__(self) -> None:
        self.queue = ReadyQueue()
        self.running: dict[int, Job] = {}
        self._unsettled: set[int] = set()
        self.fresh: set[int] = set()  # in the queue, never judged by a pass yet
        self.planned: dict[int, float] = {}  # job id -> expected start (backfill)
        self.backfill: Optional[Reservation] = None  # the GPUs held back by the last pass
        self._capacity_key: Optional[tuple] = None
        self._held: set[int] = set()

    # ------------------------------------------------------------------ bookkeeping
    def activated(self, job: Job) -> None:
        job.planned_start = None  # a stored one is stale: the next pass says
        if job.state is _RUNNING:
            self.running[job.id] = job
        else:
            self._unsettled.add(job.id)

    def deactivated(self, job: Job) -> None:
        job.planned_start = None
        self.running.pop(job.id, None)
        self.left_queue(job.id)

    def left_queue(self, job_id: int) -> None:
        self.queue.discard(job_id)
        self._unsettled.discard(job_id)
        self.fresh.discard(job_id)
        self.planned.pop(job_id, None)

    def touch(self, job_ids: Iterable[int]) -> None:
        """These jobs' state, limits, begin time or dependencies changed."""
        self._unsettled.update(job_ids)

    def requeued(self, job: Job) -> None:
        """A job admitted but never launched goes back to Queued (daemon shutdown)."""
        self.running.pop(job.id, None)
        self._unsettled.add(job.id)

    # ------------------------------------------------------------------ a pass
    def gpus_given_back(self, holders: Iterable[Job]) -> set[int]:
        """GPUs held at the last pass that no running or stopping job holds now."""
        held = {i for job in holders for i in job.gpu_ids or ()}
        freed = self._held - held
        self._held = held
        return freed

    def started(self, job: Job) -> None:
        job.planned_start = None
        self.left_queue(job.id)
        self.running[job.id] = job
        self._held.update(job.gpu_ids or ())

    def settle(self, jobs: dict[int, Job], now: float, state_of: Callable[[int], Optional[JobState]]) -> list[Job]:
        """Eligibility of the touched jobs; returns those whose reason changed."""
        changed = []
        queue = self.queue
        for job_id in self._unsettled:
            job = jobs.get(job_id)
            if job is None or job.state is not _QUEUED:
                queue.discard(job_id)
                self.fresh.discard(job_id)
                if self.planned.pop(job_id, None) is not None and job is not None:
                    job.planned_start = None
                continue
            reason = None
            if job.scheduled_at is not None and job.scheduled_at > now:
                reason = _BEGIN_TIME
            elif job.depends_on_ids and core_deps.outcome(job, state_of)[0] != core_deps.SATISFIED:
                reason = _DEPENDENCY
            if reason is None:
                queue.add(job)  # again after an update: its place may have moved
                self.fresh.add(job_id)
                continue
            queue.discard(job_id)
            self.fresh.discard(job_id)
            self.planned.pop(job_id, None)
            job.planned_start = None
            if job.reason != reason:
                job.reason = reason
                changed.append(job)
        self._unsettled.clear()
        return changed

    def capacity_changed(self, capacity: fits.Capacity, quotas: object) -> None:
        """When the GPUs allowed, the host or the quotas change, every queued job is judged
        again once (some may now never fit, or fit again)."""
        # the quotas compared by value, not by identity: a new object may reuse a freed id
        key = (capacity.gpus, capacity.largest_gpu_mb, capacity.host_memory_mb, quotas)
        if key != self._capacity_key:
            self._capacity_key = key
            self.fresh.update(j.id for j in self.queue.jobs())

    def judged(self, plan: Plan, jobs: dict[int, Job]) -> None:
        self.fresh.clear()  # every lane is either examined or judged when dropped
        self.backfill = plan.backfill
        for job_id in self.planned.keys() - plan.planned.keys():
            job = jobs.get(job_id)
            if job is not None:
                job.planned_start = None
        for job_id, when in plan.planned.items():
            jobs[job_id].planned_start = when
        self.planned = dict(plan.planned)
