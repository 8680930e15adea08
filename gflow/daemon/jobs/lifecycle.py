"""Every transition of a job after its creation, and the one way a job ends.

`end` is the only function that makes jobs terminal: cancel, `gcancel --finish/--fail`, a
time limit, a memory kill, a natural exit, a launch failure, a vanished runner and a
dependency auto-cancel all go through it. It commits first (a full disk refuses the change
and leaves memory as stored), then stops the processes, then emits one `Ended` per job.
Hold and release live here too; new jobs come from `creation.py`.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Callable, Iterable, Optional

import msgspec

from ...core import deps as core_deps
from ...core import fairshare
from ...core import lineage
from ...core import names
from ...core import update as core_update
from ...protocol import (
    ActionResult,
    ErrorCode,
    GflowError,
    Job,
    JobState,
    Reason,
    SetLimitResult,
    UpdateParams,
    UpdateResult,
)
from .. import identity
from . import admission
from ..events import Ended, Held, LaunchFailed, Released, Submitted, TimeLimitReached
from ..executors.base import ExitStatus
from ..refusals import bad_request, conflict, not_found
from ..store import DiskFull
from .table import unique

log = logging.getLogger("gflow.engine")

_WAITING_STATES = (JobState.QUEUED, JobState.HOLD)
_RESOURCE_FIELDS = frozenset({"gpus", "memory_limit_mb", "gpu_memory_limit_mb"})

# (job, terminal state, reason) for `end`
Ending = tuple[Job, JobState, Optional[str]]


class Lifecycle:
    """Mixin of the Engine (see engine.py for the attributes it sets up)."""

    def _subscribe_lifecycle(self) -> None:
        """What the scheduling side reports, and the waiters of `gjob wait`."""
        self.events.subscribe(LaunchFailed, lambda e: self._launch_failed(e.job, e.reason, time.time()))
        self.events.subscribe(TimeLimitReached, lambda e: self._time_out(e.job_id))
        self.events.subscribe(Ended, self._wake_waiters)

    # ------------------------------------------------------------------ the end of jobs
    def end(
        self,
        endings: list[Ending],
        now: Optional[float] = None,
        stop: Optional[Callable[[int], bool]] = None,
        retry: bool = False,
    ) -> None:
        """End jobs: terminal in memory, Queued dependents auto-cancelled (transitively), all
        saved in one commit, then `stop` (the executor's cancel, timeout or kill) for those
        whose process was running, then one Ended event per job and a pass. A full disk
        raises DiskFull with memory put back as stored and nothing stopped or announced.

        With `retry` (a payload that failed by itself: one job), a failure with budget left
        queues its next attempt in the same transaction, and the jobs waiting on the failed
        attempt wait on the new one instead of being auto-cancelled (SPEC 3.7)."""
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
            self._terminate(job, state, reason, now)
            ended.append(job)
        if retried is None:
            ended += self._cascade(ended, now)
            self._commit(changed + ended)
        else:
            try:
                self.store.write(new=[retried], changed=unique(changed + ended), meta=self._changed_meta())
            except DiskFull:
                self._rollback(changed + ended)
                raise
            self.next_id = retried.id + 1
            self._activate(retried)
        if stop is not None:
            for job_id in running:
                stop(job_id)
        for job in ended:
            self.events.emit(Ended(job, job.state, job.reason))
        if retried is not None:
            self.events.emit(Submitted((retried,)))
            self._settle([retried])
        self.request_pass()

    def _wake_waiters(self, event: Ended) -> None:
        for fut in self._waiters.pop(event.job.id, []):
            if not fut.done():
                fut.set_result(None)

    def _settle(self, jobs: list[Job]) -> None:
        """Evaluate new or released jobs like the scheduler would: a dependency that already
        failed cancels them at once; begin times arm a timer; then a pass."""
        cancelled: list[Ending] = []
        for job in jobs:
            if job.state is not JobState.QUEUED:
                continue
            verdict, failed = core_deps.outcome(job, self.state_of)
            if verdict == core_deps.IMPOSSIBLE and job.auto_cancel_on_dependency_failure:
                cancelled.append((job, JobState.CANCELLED, f"{Reason.DEPENDENCY_FAILED.value}:{failed}"))
                continue
            self._arm_begin(job)
        if cancelled:
            try:
                self.end(cancelled)
            except DiskFull as e:  # the jobs were acknowledged: cancel them once it can be saved
                log.error("%s", e.message)
                self._later.add(("settle", cancelled[0][0].id), lambda: self._settle(jobs))
                self.request_pass()
        else:
            self.request_pass()

    def _cascade(self, ended: Iterable[Job], now: float) -> list[Job]:
        """Auto-cancel Queued dependents that ended jobs leave no way to start, transitively:
        those of a failure, and (`afternotok`) those of a success."""
        todo = list(ended)
        cancelled: list[Job] = []
        while todo:
            parent = todo.pop()
            for job_id in sorted(self._dependents.get(parent.id, ())):
                job = self.jobs.get(job_id)
                if (
                    job is not None
                    and job.state is JobState.QUEUED
                    and job.auto_cancel_on_dependency_failure
                ):
                    verdict, _ = core_deps.outcome(job, self.state_of)
                    if verdict == core_deps.IMPOSSIBLE:
                        self._terminate(job, JobState.CANCELLED, f"{Reason.DEPENDENCY_FAILED.value}:{parent.id}", now)
                        cancelled.append(job)
                        todo.append(job)
        return cancelled

    def _terminate(self, job: Job, state: JobState, reason: Optional[str], now: float) -> None:
        """Move a job to a terminal state in memory (the caller commits)."""
        was_running = job.state is JobState.RUNNING
        job.state = state
        job.reason = reason
        job.finished_at = now
        self.sched.touch(self._dependents.get(job.id, ()))
        self._deactivate(job)
        if was_running and self.executor.is_watched(job.id):
            self.stopping[job.id] = job
        self._terminal_states[job.id] = state
        if was_running and fairshare.charge(self.usage, job, now, self.config.daemon.fair_share.half_life_secs):
            self._usage_changed = True
        self._cancel_timer("begin", job.id)
        self._cancel_timer("limit", job.id)

    # ------------------------------------------------------------------ hold, release, update
    def hold(self, caller: identity.Caller, ids: list[int]) -> ActionResult:
        return self._transition(caller, ids, "hold", JobState.QUEUED, JobState.HOLD)

    def release(self, caller: identity.Caller, ids: list[int], at: Optional[float]) -> ActionResult:
        return self._transition(caller, ids, "release", JobState.HOLD, JobState.QUEUED, at)

    def _transition(
        self,
        caller: identity.Caller,
        ids: list[int],
        action: str,
        source: JobState,
        target: JobState,
        at: Optional[float] = None,
    ) -> ActionResult:
        result = ActionResult()
        changed: list[Job] = []
        for job_id in ids:
            job = self.find(job_id)
            if job is None:
                result.errors.append((job_id, f"Job {job_id} not found"))
                continue
            try:
                identity.require_owner(caller, job, action)
            except GflowError as e:
                result.errors.append((job_id, e.message))
                continue
            if job.state is not source:
                verb = "held" if action == "hold" else "released"
                allowed = "Queued" if action == "hold" else "Hold"
                result.errors.append((
                    job_id,
                    f"Job {job_id} is in state '{job.state.value}' and cannot be {verb}. "
                    f"Only {allowed} jobs can be {verb}.",
                ))
                continue
            job.state = target
            job.reason = None
            if at is not None:
                job.scheduled_at = at
            changed.append(job)
            self.sched.touch([job.id])
            result.done.append(job_id)
        self._commit(changed)
        if changed:
            self.events.emit((Released if target is JobState.QUEUED else Held)(tuple(changed)))
        if target is JobState.QUEUED:
            self._settle(changed)
        else:
            for job in changed:
                self._cancel_timer("begin", job.id)
        return result

    def update(self, caller: identity.Caller, params: UpdateParams) -> UpdateResult:
        """`gjob update`: the same changes for every id; each id succeeds or fails alone, and a
        refused one is left exactly as it was."""
        changes = core_update.requested(params)
        if not changes:
            raise bad_request("No updates specified. Use --help to see available options.")
        result = UpdateResult()
        changed: list[Job] = []
        for job_id in params.ids:
            job = self.jobs.get(job_id) or self.find(job_id)
            if job is None:
                result.errors.append((job_id, f"Job {job_id} not found"))
                continue
            try:
                identity.require_owner(caller, job, "update")
                values = core_update.plan(
                    job, changes, lambda d: self.state_of(d) is not None, self._deps_of
                )
            except GflowError as e:
                result.errors.append((job_id, e.message))
                continue
            except core_update.UpdateError as e:
                result.errors.append((job_id, str(e)))
                continue
            problem = self._never_fits_after(job, values, params.allow_pending)
            if problem:
                result.errors.append((job_id, problem))
                continue
            self._unindex(job)
            core_update.apply(job, values)
            self._index(job)
            self.sched.touch([job.id])
            changed.append(job)
            result.updated.append((job_id, core_update.changed_fields(values)))
        self._commit(changed)
        # judged again like a new submission: new dependencies may be done, or impossible
        self._settle(changed)
        return result

    def _never_fits_after(self, job: Job, values: dict, allow_pending: bool) -> Optional[str]:
        """Why an update that changes resources would leave the job unable to ever start."""
        if allow_pending or not _RESOURCE_FIELDS.intersection(values):
            return None
        try:
            admission.refuse_impossible([msgspec.structs.replace(job, **values)], admission.capacity(self), "update")
        except GflowError as e:
            return e.message
        return None

    def report_outcome(self, caller: identity.Caller, job_id: int, success: bool) -> None:
        """`gcancel --finish/--fail`: record a Running job's outcome by hand. Never retried
        (an explicit verdict, SPEC 3.7); a payload still running is stopped."""
        job = self.jobs.get(job_id)
        if job is None:
            stored = self.find(job_id)
            if stored is None:
                raise not_found(job_id)
            identity.require_owner(caller, stored, "finish it" if success else "fail it")
            raise conflict(f"Job {job_id} is {stored.state.value}, not Running")
        identity.require_owner(caller, job, "finish it" if success else "fail it")
        if job.state is not JobState.RUNNING:
            raise conflict(f"Job {job_id} is {job.state.value}, not Running")
        self.end([(job, JobState.FINISHED if success else JobState.FAILED, None)], stop=self.executor.cancel)

    def set_group_limit(self, caller: identity.Caller, target: str, limit: int) -> SetLimitResult:
        found_job = None
        text = target.strip()
        if text.isascii() and text.isdigit():
            job = self.get(int(text))
            if not job.group_id:
                raise bad_request(f"Job {job.id} is not part of a group")
            found_job, group_id = job.id, job.group_id
        else:
            try:
                group_id = str(uuid.UUID(text))
            except ValueError:
                raise bad_request(f"Invalid UUID format: '{text}'") from None
        members = [self.jobs.get(j.id) or self.stopping.get(j.id) or j for j in self.store.group_jobs(group_id)]
        if not members:
            raise GflowError(ErrorCode.NOT_FOUND, f"No jobs found with group_id '{group_id}'")
        for job in members:
            identity.require_owner(caller, job, "set-limit")
        for job in members:
            job.max_concurrent = limit
        self.sched.touch(j.id for j in members)
        self._commit(members)
        self.request_pass()
        return SetLimitResult(group_id=group_id, updated=len(members), found_job=found_job)

    # ------------------------------------------------------------------ exits
    def _on_exit(self, job_id: int, status: ExitStatus) -> None:
        # known before the commit, so a rollback keeps a stopping job holding its resources
        self._unrecorded_exits.add(job_id)
        try:
            job = self.jobs.get(job_id)
            if job is not None and job.state is JobState.RUNNING:
                self._finish_running(job, status)
            else:
                stopped = self.stopping.pop(job_id, None)
                if stopped is not None:
                    stopped.exit_code, stopped.exit_signal = status.exit_code, status.signal
                    self._commit([stopped])
                    self.request_pass()
        except DiskFull as e:
            # the status file stays (no cleanup) until the outcome is saved, even across a restart
            log.error("%s; the exit of job %d is recorded once there is room", e.message, job_id)
            self._later.add(("exit", job_id), lambda: self._on_exit(job_id, status))
            return
        self._unrecorded_exits.discard(job_id)
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
        self.end([(job, state, reason)], now, retry=True)
        self.stopping.pop(job.id, None)

    def _launch_failed(self, job: Job, reason: str, now: float) -> None:
        try:
            self.end([(job, JobState.FAILED, reason)], now, retry=True)
        except DiskFull as e:
            log.error("%s", e.message)
            self._later.add(("launch", job.id), lambda: self._launch_failed(job, reason, now))

    def _retry_for(self, job: Job, now: float) -> Optional[Job]:
        """The next attempt of a failed job, if its budget allows and the owner's quota and
        the project policy accept it like any submission; else None (the failure is final)."""
        attempts = lineage.attempts_so_far(job, self._retried_from_of)
        if not lineage.may_retry(job, attempts):
            return None
        retry = lineage.retry_of(job, self.next_id, now)
        try:
            retry.project = self._project(retry.project)
            self._check_queue_quota([retry])
        except GflowError as e:
            log.warning("job %d is not retried: %s", job.id, e.message)
            return None
        retry.run_name = names.run_name(retry.id, retry.requested_name, self._names)
        log.info("job %d failed; retry %d/%d is job %d", job.id, attempts + 1, job.max_retries, retry.id)
        return retry

    def _retried_from_of(self, job_id: int) -> Optional[int]:
        job = self.find(job_id)
        return job.retried_from if job is not None else None

    def _repoint_dependents(self, old: int, new: int) -> list[Job]:
        """Queued/Hold jobs waiting on `old` wait on `new` instead (ids replaced, no repeats)."""
        moved = []
        for job_id in sorted(self._dependents.get(old, ())):
            job = self.jobs.get(job_id)
            if job is None or job.state not in _WAITING_STATES:
                continue
            self._unindex(job)
            job.depends_on_ids = core_deps.remap(job.depends_on_ids, {old: new})
            self._index(job)
            self.sched.touch([job.id])
            moved.append(job)
        return moved

    def _time_out(self, job_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.state is not JobState.RUNNING:
            return
        try:
            self.end([(job, JobState.TIMEOUT, None)], stop=self.executor.timeout)
        except DiskFull as e:  # the job runs on until its timeout can be recorded
            log.error("%s", e.message)
            self._later.add(("limit", job_id), lambda: self._time_out(job_id))

    def memory_exceeded(self, job_id: int, used_mb: float) -> None:
        """A job's processes outgrew `--memory`: killed at once, Failed with reason
        MemoryLimitExceeded, not retried (it would only grow again)."""
        job = self.jobs.get(job_id)
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
        return [self.get(i) for i in ids]

    async def wait_until_done(self, ids: list[int], timeout: Optional[float]) -> None:
        """Until every job of `ids` is terminal or `timeout` passes; the caller reads them
        (`jobs.wait` a page at a time)."""
        for job_id in ids:
            if self.state_of(job_id) is None:
                raise not_found(job_id)
        loop = asyncio.get_running_loop()
        futures = []
        for job_id in ids:
            if job_id in self.jobs:
                fut = loop.create_future()
                self._waiters.setdefault(job_id, []).append(fut)
                futures.append(fut)
        if futures:
            try:
                await asyncio.wait_for(asyncio.gather(*futures), timeout)
            except asyncio.TimeoutError:
                pass
