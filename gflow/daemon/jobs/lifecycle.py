"""Every transition of a job after its creation, and the one way a job ends.

`end` is the only function that makes jobs terminal: cancel, `gcancel --finish/--fail`, a
time limit, a memory kill, a natural exit, a launch failure, a vanished runner and a
dependency auto-cancel all go through it. It commits first (a full disk refuses the change
and leaves memory as stored), then stops the processes, then emits one `Ended` per job.
Hold, release and update live here too, as the transitions their handlers ask for; new jobs
come from `creation.py`.

The lifecycle is the top of lifecycle -> scheduling -> policy -> table: it is constructed
with those parts and the executor (to stop processes), and hears what happens below it as
events: a failed launch, a reached time limit (scheduling) and a process's exit (executor).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import msgspec

from ...config import Config
from ...core import deps as core_deps
from ...core import fairshare
from ...core import lineage
from ...core import names
from ...core import update as core_update
from ...protocol import GflowError, Job, JobState, Reason
from . import admission
from ..events import (
    Ended, EventBus, Held, LaunchFailed, ProcessExited, Released, Submitted, TimeLimitReached,
)
from ..executors.base import Executor, ExitStatus
from ..machine import Machine
from ..policy import Policy
from ..refusals import not_found
from ..store import DiskFull
from .scheduling import Scheduling
from .table import JobTable, unique

log = logging.getLogger("gflow.engine")

_WAITING_STATES = (JobState.QUEUED, JobState.HOLD)
_RESOURCE_FIELDS = frozenset({"gpus", "memory_limit_mb", "gpu_memory_limit_mb", "max_concurrent"})

# (job, terminal state, reason) for `end`
Ending = tuple[Job, JobState, Optional[str]]


@dataclass(eq=False)
class Lifecycle:
    table: JobTable
    scheduling: Scheduling
    policy: Policy
    machine: Machine
    executor: Executor
    events: EventBus
    config: Config

    def __post_init__(self) -> None:
        self._waiters: dict[int, list[asyncio.Future]] = {}
        self._gathered_exits: list[tuple[Job, ExitStatus]] = []  # plain exits of this loop turn
        # what the parts below report, and the waiters of `gjob wait`
        self.events.subscribe(LaunchFailed, lambda e: self._launch_failed(e.job, e.reason, time.time()))
        self.events.subscribe(TimeLimitReached, lambda e: self._time_out(e.job_id))
        self.events.subscribe(ProcessExited, lambda e: self._on_exit(e.job_id, e.status))
        self.events.subscribe(Ended, self._wake_waiters)

    # ------------------------------------------------------------------ the end of jobs
    def end(
        self,
        endings: list[Ending],
        now: Optional[float] = None,
        stop: Optional[Callable[[int], bool]] = None,
        retry: bool = False,
        admit: bool = False,
        finished_at: Optional[dict[int, float]] = None,
    ) -> None:
        """End jobs: terminal in memory, Queued dependents auto-cancelled (transitively), all
        saved in one commit, then `stop` (the executor's cancel, timeout or kill) for those
        whose process was running, then one Ended event per job and a pass. A full disk
        raises DiskFull with memory put back as stored and nothing stopped or announced.

        With `retry` (a payload that failed by itself: one job), a failure with budget left
        queues its next attempt in the same transaction, and the jobs waiting on the failed
        attempt wait on the new one instead of being auto-cancelled.

        With `admit` the pass runs here, before the commit, and the jobs it admits into the
        freed resources are saved in the same commit and launched after the events: a job's
        end and its successor's start cost one commit and no extra loop turn. `finished_at`:
        when each job ended, where it was not `now` (exits recorded together)."""
        now = time.time() if now is None else now
        retried: Optional[Job] = None
        changed: list[Job] = []
        if retry:
            ((job, state, _),) = endings
            retried = self._retry_for(job, now) if state is JobState.FAILED else None
            if retried is not None:
                changed += self._repoint_dependents(job.id, retried.id)
        ended: list[Job] = []
        running: list[int] = []
        for job, state, reason in endings:
            if job.state is JobState.RUNNING:
                running.append(job.id)
            self._terminate(job, state, reason, finished_at.get(job.id, now) if finished_at else now)
            ended.append(job)
        if retried is None:
            ended += self._cascade(ended, now)
        admitted: list[Job] = []
        if admit:
            reasons, admitted = self.scheduling.plan_pass()
            changed += reasons + admitted
        if retried is None:
            self.table.commit(changed + ended)
        else:
            try:
                self.table.store.write(new=[retried], changed=unique(changed + ended), meta=self.table.changed_meta())
            except DiskFull:
                self.table.rollback(changed + ended)
                raise
            self.table.next_id = retried.id + 1
            self.table.activate(retried)
        # disarmed once saved: a refused end leaves the timers armed, as the jobs are
        for job in ended:
            self.scheduling.disarm(job.id)
        if stop is not None:
            for job_id in running:
                stop(job_id)
        for job in ended:
            self.events.emit(Ended(job, job.state, job.reason))
        if admitted:
            self.scheduling.launch_all(admitted)
        if retried is not None:
            self.events.emit(Submitted((retried,)))
            self.settle([retried])
        elif not admit:
            self.scheduling.request_pass()

    def _wake_waiters(self, event: Ended) -> None:
        for fut in self._waiters.pop(event.job.id, []):
            if not fut.done():
                fut.set_result(None)

    def settle(self, jobs: list[Job]) -> None:
        """Evaluate new or released jobs like the scheduler would: a dependency that already
        failed cancels them at once; begin times arm a timer; then a pass."""
        cancelled: list[Ending] = []
        state_of, arm_begin = self.table.state_of, self.scheduling.arm_begin  # a batch may be 10k jobs
        for job in jobs:
            if job.state is not JobState.QUEUED:
                continue
            verdict, failed = core_deps.outcome(job, state_of)
            if verdict == core_deps.IMPOSSIBLE and job.auto_cancel_on_dependency_failure:
                cancelled.append((job, JobState.CANCELLED, f"{Reason.DEPENDENCY_FAILED.value}:{failed}"))
                continue
            arm_begin(job)
        if cancelled:
            try:
                self.end(cancelled)
            except DiskFull as e:  # the jobs were acknowledged: cancel them once it can be saved
                log.error("%s", e.message)
                self.table.later.add(("settle", cancelled[0][0].id), lambda: self.settle(jobs))
                self.scheduling.request_pass()
        else:
            self.scheduling.request_pass()

    def _cascade(self, ended: Iterable[Job], now: float) -> list[Job]:
        """Auto-cancel Queued dependents that ended jobs leave no way to start, transitively:
        those of a failure, and (`afternotok`) those of a success."""
        todo = list(ended)
        cancelled: list[Job] = []
        while todo:
            parent = todo.pop()
            for job_id in sorted(self.table.dependents.get(parent.id, ())):
                job = self.table.jobs.get(job_id)
                if (
                    job is not None
                    and job.state is JobState.QUEUED
                    and job.auto_cancel_on_dependency_failure
                ):
                    verdict, _ = core_deps.outcome(job, self.table.state_of)
                    if verdict == core_deps.IMPOSSIBLE:
                        self._terminate(job, JobState.CANCELLED, f"{Reason.DEPENDENCY_FAILED.value}:{parent.id}", now)
                        cancelled.append(job)
                        todo.append(job)
        return cancelled

    def _terminate(self, job: Job, state: JobState, reason: Optional[str], now: float) -> None:
        """Move a job to a terminal state in memory (the caller commits, then disarms its
        timers)."""
        table = self.table
        was_running = job.state is JobState.RUNNING
        job.state = state
        job.reason = reason
        job.finished_at = now
        table.sched.touch(table.dependents.get(job.id, ()))
        table.mark_terminal(job, was_running)
        if was_running and fairshare.charge(table.usage, job, now, self.config.daemon.fair_share.half_life_secs):
            table.usage_changed = True

    # ------------------------------------------------------------------ hold, release, update
    # The handlers (handlers/jobs.py, handlers/groups.py) decide which jobs a request may
    # change; these make the change: in memory, one commit, one event, then what follows.
    def hold_jobs(self, jobs: list[Job]) -> None:
        """Queued jobs to Hold: their begin timers disarmed, one Held event."""
        for job in jobs:
            job.state = JobState.HOLD
            job.reason = None
            self.table.sched.touch([job.id])
        self.table.commit(jobs)
        if jobs:
            self.events.emit(Held(tuple(jobs)))
        for job in jobs:
            self.scheduling.disarm(job.id)

    def release_jobs(self, jobs: list[Job], at: Optional[float]) -> None:
        """Held jobs back to Queued (to begin at `at` if given): one Released event, then
        judged again like new jobs."""
        for job in jobs:
            job.state = JobState.QUEUED
            job.reason = None
            if at is not None:
                job.scheduled_at = at
            self.table.sched.touch([job.id])
        self.table.commit(jobs)
        if jobs:
            self.events.emit(Released(tuple(jobs)))
        self.settle(jobs)

    def update_jobs(self, updates: list[tuple[Job, dict]]) -> None:
        """Set the planned values (core/update.py) of waiting jobs, in one commit."""
        changed: list[Job] = []
        for job, values in updates:
            self.table.unindex(job)
            core_update.apply(job, values)
            self.table.index(job)
            self.table.sched.touch([job.id])
            changed.append(job)
        self.table.commit(changed)
        # judged again like a new submission: new dependencies may be done, or impossible
        self.settle(changed)

    def never_fits_after(self, job: Job, values: dict, allow_pending: bool) -> Optional[str]:
        """Why an update that changes resources would leave the job unable to ever start."""
        if allow_pending or not _RESOURCE_FIELDS.intersection(values):
            return None
        try:
            capacity = admission.capacity(self.machine, self.policy)
            admission.refuse_impossible([msgspec.structs.replace(job, **values)], capacity, "update")
        except GflowError as e:
            return e.message
        return None

    def set_group_limit(self, members: list[Job], limit: int) -> None:
        """`gctl set-limit`: how many of a group's jobs may run at once."""
        for job in members:
            job.max_concurrent = limit
        self.table.sched.touch(j.id for j in members)
        self.table.commit(members)
        self.scheduling.request_pass()

    # ------------------------------------------------------------------ exits
    def _on_exit(self, job_id: int, status: ExitStatus) -> None:
        # known before the commit, so a rollback keeps a stopping job holding its resources
        self.table.unrecorded_exits.add(job_id)
        job = self.table.jobs.get(job_id)
        if job is not None and job.state is JobState.RUNNING and _plain_success(status):
            # recorded with the other plain exits of this loop turn: one end, one pass, one
            # commit (a burst of short jobs then costs one fsync per turn, not per job)
            self._gathered_exits.append((job, status))
            if len(self._gathered_exits) == 1:
                asyncio.get_running_loop().call_soon(self._record_gathered_exits)
            return
        self._record_exit(job_id, status)

    def _record_gathered_exits(self) -> None:
        gathered, self._gathered_exits = self._gathered_exits, []
        plain: list[tuple[Job, ExitStatus]] = []
        for job, status in gathered:
            if self.table.jobs.get(job.id) is job and job.state is JobState.RUNNING:
                plain.append((job, status))
            else:  # ended meanwhile (a cancel in the same turn): recorded as a stopped job
                self._record_exit(job.id, status)
        if not plain:
            return
        now = time.time()
        for job, status in plain:
            job.exit_code, job.exit_signal, job.cpu_secs = status.exit_code, status.signal, status.cpu_secs
        try:
            self.end([(job, JobState.FINISHED, None) for job, _ in plain], now, admit=True,
                     finished_at={job.id: status.finished_at or now for job, status in plain})
        except DiskFull as e:
            # the status files stay (no cleanup) until the outcomes are saved
            log.error("%s; the exits of %d job(s) are recorded once there is room", e.message, len(plain))
            for job, status in plain:
                self.table.later.add(("exit", job.id), functools.partial(self._record_exit, job.id, status))
            return
        for job, _ in plain:
            self.table.stopping.pop(job.id, None)
            self.table.unrecorded_exits.discard(job.id)
            self.executor.cleanup(job.id)

    def _record_exit(self, job_id: int, status: ExitStatus) -> None:
        try:
            job = self.table.jobs.get(job_id)
            if job is not None and job.state is JobState.RUNNING:
                self._finish_running(job, status)
            else:
                stopped = self.table.stopping.pop(job_id, None)
                if stopped is not None:
                    stopped.exit_code, stopped.exit_signal = status.exit_code, status.signal
                    self.table.commit([stopped])
                    self.scheduling.request_pass()
        except DiskFull as e:
            # the status file stays (no cleanup) until the outcome is saved, even across a restart
            log.error("%s; the exit of job %d is recorded once there is room", e.message, job_id)
            self.table.later.add(("exit", job_id), lambda: self._record_exit(job_id, status))
            return
        self.table.unrecorded_exits.discard(job_id)
        self.executor.cleanup(job_id)

    def _finish_running(self, job: Job, status: ExitStatus) -> None:
        now = status.finished_at or time.time()
        job.exit_code, job.exit_signal = status.exit_code, status.signal
        job.cpu_secs = status.cpu_secs
        if status.vanished:
            state, reason = JobState.FAILED, Reason.RUNNER_VANISHED.value
        elif status.launch_error:
            state, reason = JobState.FAILED, f"{Reason.SYSTEM_ERROR.value}:{status.launch_error}"
        elif status.exit_code == 0:
            state, reason = JobState.FINISHED, None
        else:
            state, reason = JobState.FAILED, None
        self.end([(job, state, reason)], now, retry=True, admit=True)
        self.table.stopping.pop(job.id, None)

    def _launch_failed(self, job: Job, reason: str, now: float) -> None:
        try:
            self.end([(job, JobState.FAILED, reason)], now, retry=True)
        except DiskFull as e:
            log.error("%s", e.message)
            self.table.later.add(("launch", job.id), lambda: self._launch_failed(job, reason, now))

    def _retry_for(self, job: Job, now: float) -> Optional[Job]:
        """The next attempt of a failed job, if its budget allows and the owner's quota and
        the project policy accept it like any submission; else None (the failure is final)."""
        attempts = lineage.attempts_so_far(job, self._retried_from_of)
        if not lineage.may_retry(job, attempts):
            return None
        retry = lineage.retry_of(job, self.table.next_id, now)
        try:
            retry.project = admission.project(self.config.projects, retry.project)
            self.policy.check_queue_quota([retry])
        except GflowError as e:
            log.warning("job %d is not retried: %s", job.id, e.message)
            return None
        retry.run_name = names.run_name(retry.id, retry.requested_name, self.table.names)
        log.info("job %d failed; retry %d/%d is job %d", job.id, attempts + 1, job.max_retries, retry.id)
        return retry

    def _retried_from_of(self, job_id: int) -> Optional[int]:
        job = self.table.find(job_id)
        return job.retried_from if job is not None else None

    def _repoint_dependents(self, old: int, new: int) -> list[Job]:
        """Queued/Hold jobs waiting on `old` wait on `new` instead (ids replaced, no repeats)."""
        moved = []
        for job_id in sorted(self.table.dependents.get(old, ())):
            job = self.table.jobs.get(job_id)
            if job is None or job.state not in _WAITING_STATES:
                continue
            self.table.unindex(job)
            job.depends_on_ids = core_deps.remap(job.depends_on_ids, {old: new})
            self.table.index(job)
            self.table.sched.touch([job.id])
            moved.append(job)
        return moved

    def _time_out(self, job_id: int) -> None:
        job = self.table.jobs.get(job_id)
        if job is None or job.state is not JobState.RUNNING:
            return
        try:
            self.end([(job, JobState.TIMEOUT, None)], stop=self.executor.timeout)
        except DiskFull as e:  # the job runs on until its timeout can be recorded
            log.error("%s", e.message)
            self.table.later.add(("limit", job_id), lambda: self._time_out(job_id))

    def memory_exceeded(self, job_id: int, used_mb: float) -> None:
        """A job's processes outgrew `--memory`: killed at once, Failed with reason
        MemoryLimitExceeded, not retried (it would only grow again)."""
        job = self.table.jobs.get(job_id)
        if job is None or job.state is not JobState.RUNNING:
            return
        log.warning("job %d uses %.0f MB, over its %d MB limit: killed", job_id, used_mb, job.memory_limit_mb)
        try:
            self.end([(job, JobState.FAILED, Reason.MEMORY_LIMIT.value)], stop=self.executor.kill)
        except DiskFull as e:  # the next check (seconds away) tries again
            log.error("%s", e.message)

    # ------------------------------------------------------------------ waiting
    async def wait(self, ids: list[int], timeout: Optional[float]) -> list[Job]:
        await self.wait_until_done(ids, timeout)
        return [self.table.get(i) for i in ids]

    async def wait_until_done(self, ids: list[int], timeout: Optional[float]) -> None:
        """Until every job of `ids` is terminal or `timeout` passes; the caller reads them
        (`jobs.wait` a page at a time)."""
        for job_id in ids:
            if self.table.state_of(job_id) is None:
                raise not_found(job_id)
        loop = asyncio.get_running_loop()
        futures = []
        for job_id in ids:
            if job_id in self.table.jobs:
                fut = loop.create_future()
                self._waiters.setdefault(job_id, []).append(fut)
                futures.append(fut)
        if futures:
            try:
                await asyncio.wait_for(asyncio.gather(*futures), timeout)
            except asyncio.TimeoutError:
                pass


def _plain_success(status: ExitStatus) -> bool:
    """An exit that needs nothing but recording: no retry, no launch error, nothing vanished."""
    return status.exit_code == 0 and status.launch_error is None and not status.vanished
