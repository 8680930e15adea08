"""Scheduling: the pass that decides which waiting jobs start, launching them a slice at a
time, and the timers (begin times, time limits) that make jobs eligible or due.

This side never ends a job itself: a launch that fails and a time limit that is reached are
reported as events (`LaunchFailed`, `TimeLimitReached`) that the lifecycle handles, so the
dependency runs one way (lifecycle -> scheduling -> table).
"""
from __future__ import annotations

import asyncio
import errno
import logging
import time
from typing import Callable

from ...core import fairshare
from ...core import scheduler as core_scheduler
from ...protocol import Job, JobState, Reason
from . import admission
from ..events import ClockStepped, GpusFreed, LaunchFailed, Started, TimeLimitReached
from ..executors import runspec
from ..memwatch import Target
from ..store import DiskFull

log = logging.getLogger("gflow.engine")

# shepherds started per loop iteration: a pass that admits 10,000 jobs must not stall the
# daemon for the seconds all those spawns take
_LAUNCH_SLICE = 64
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class Scheduling:
    """Mixin of the Engine (see engine.py for the attributes it sets up)."""

    def request_pass(self) -> None:
        """Coalesce every change of one loop iteration into a single pass."""
        if not self._pass_pending:
            self._pass_pending = True
            asyncio.get_running_loop().call_soon(self._run_pass)

    def _run_pass(self) -> None:
        """One scheduling pass. It costs what changed plus what it examines: the jobs touched
        since the last pass are settled, the ordered queue is walked only while something
        could still start (see core.scheduler), running jobs come from their index."""
        self._pass_pending = False
        now = time.time()
        sched = self.sched
        changed = sched.settle(self.jobs, now, self.state_of)
        running = list(sched.running.values())
        share = self.config.daemon.fair_share
        # before the stopping jobs join: their usage is already charged to the ledger
        factors = fairshare.factors(self.usage, running, now, share.half_life_secs) if share.enabled else {}
        running += self.stopping.values()
        freed = sched.gpus_given_back(running)
        if freed:
            self.gpus.freed(freed)
            self.events.emit(GpusFreed(frozenset(freed)))
        capacity = admission.capacity(self)
        sched.capacity_changed(capacity, self.policy.effective if self.policy else None)
        plan = core_scheduler.plan(core_scheduler.PassInput(
            queue=sched.queue,
            fresh=sched.fresh,
            running=running,
            fair_share=factors,
            gpus=self.gpus.devices(),
            allowed=self.allowed_gpus,
            host_memory_mb=self.host_memory_mb,
            strategy=self.config.daemon.gpu_allocation_strategy,
            quota_allows=self.policy.quota_gate() if self.policy else None,
            reservations=self.policy.reservation_gate(running) if self.policy else None,
            backfill=self.config.scheduler.backfill,
            backfill_depth=self.config.scheduler.backfill_depth,
            now=now,
            capacity=capacity,
        ))
        sched.judged(plan, self.jobs)
        jobs = self.jobs
        for job_id, reason in plan.waiting.items():
            job = jobs[job_id]
            if job.reason != reason:
                job.reason = reason
                changed.append(job)
        started = []
        for job, gpu_ids in plan.starts:
            job.state = JobState.RUNNING
            job.reason = None
            job.started_at = now
            job.gpu_ids = gpu_ids
            sched.started(job)
            started.append(job)
        # persisted before launching, so a crash never leaves an unrecorded process
        try:
            self._commit(changed + started)
        except DiskFull as e:
            log.error("%s; no job starts until it can be recorded", e.message)
            self._later.add("pass", self.request_pass)
            return
        if started:
            self._launch_all(started)

    def _launch_all(self, jobs: list[Job]) -> None:
        """Start admitted jobs a slice per loop iteration, so requests and exits are served
        between slices; a job cancelled meanwhile is simply not started."""
        self._launch_queue.extend(jobs)
        if len(self._launch_queue) == len(jobs):
            self._launch_slice()

    def _launch_slice(self) -> None:
        batch, self._launch_queue = self._launch_queue[:_LAUNCH_SLICE], self._launch_queue[_LAUNCH_SLICE:]
        launched: list[Job] = []
        requeued: list[Job] = []
        deferred: list[Job] = []
        for job in batch:
            if self.jobs.get(job.id) is not job or job.state is not JobState.RUNNING:
                continue
            try:
                pid, created = self.executor.launch(self._run_spec(job))
            except (OSError, KeyError, ValueError, RuntimeError) as e:
                if isinstance(e, OSError) and e.errno in _NO_SPACE:
                    # no room for its runner files: not started, so back to the queue
                    log.error("job %d not started, state disk full: %s", job.id, e)
                    job.state, job.started_at, job.gpu_ids, job.reason = JobState.QUEUED, None, None, None
                    self.sched.requeued(job)
                    requeued.append(job)
                    continue
                delay = self._launch_retries.defer(job.id, e)
                if delay is not None:
                    self._defer_launch(job, e, delay)
                    deferred.append(job)
                    continue
                log.error("job %d could not be launched: %s", job.id, e)
                self._launch_retries.forget(job.id)
                self.events.emit(LaunchFailed(job, f"{Reason.SYSTEM_ERROR.value}:{e}"))
                continue
            self._launch_retries.forget(job.id)
            job.runner_pid, job.runner_started = pid, created
            self._arm_time_limit(job)
            launched.append(job)
        if launched or requeued or deferred:
            self._save_facts(launched + requeued + deferred)
        if launched:
            self.events.emit(Started(tuple(launched)))
        if self._launch_queue:
            asyncio.get_running_loop().call_soon(self._launch_slice)

    def _defer_launch(self, job: Job, error: BaseException, delay: float) -> None:
        """Back to the queue, never started: the machine is out of fds or memory for now."""
        log.warning("job %d not launched now (%s); trying again in %g s", job.id, error, delay)
        job.state, job.started_at, job.gpu_ids, job.reason = JobState.QUEUED, None, None, None
        # out of the scheduler's sight until the timer: no pass re-admits it meanwhile
        self.sched.deactivated(job)
        self._arm("launch-retry", job.id, time.time() + delay, lambda: self._retry_launch(job.id))

    def _retry_launch(self, job_id: int) -> None:
        self.sched.touch([job_id])
        self.request_pass()

    def _run_spec(self, job: Job):
        env = self.store.get_env(job.env_from if job.env_from is not None else job.id)
        return runspec.build(job, env, self.gpus.uuid, self.dirs.logs_dir, self.daemon_uid,
                             self.config.daemon.kill_grace_secs)

    # ------------------------------------------------------------------ timers
    def _arm_begin(self, job: Job) -> None:
        if job.scheduled_at is not None and job.scheduled_at > time.time():
            self._arm("begin", job.id, job.scheduled_at, lambda: self._begin_reached(job.id))

    def _begin_reached(self, job_id: int) -> None:
        self.sched.touch([job_id])
        self.request_pass()

    def _arm_time_limit(self, job: Job) -> None:
        if job.time_limit is not None and job.started_at is not None:
            job_id = job.id
            self._arm("limit", job_id, job.started_at + job.time_limit,
                      lambda: self.events.emit(TimeLimitReached(job_id)))

    def _arm(self, kind: str, job_id: int, when: float, callback: Callable[[], None]) -> None:
        self._timers.arm((kind, job_id), when, callback)
        self._clock_watch.poke()

    def _clock_stepped(self) -> None:
        self._timers.clock_stepped()
        self.events.emit(ClockStepped())
        self.request_pass()  # begin times may have come, or gone back

    def _cancel_timer(self, kind: str, job_id: int) -> None:
        self._timers.cancel((kind, job_id))

    def _rearm(self, job: Job) -> None:
        if job.state is JobState.QUEUED:
            self._arm_begin(job)
        elif job.time_limit is not None and (job.started_at or 0) + job.time_limit > time.time():
            # a limit already due is retried by whoever failed to record it (no
            # timer firing at once, failing, and re-arming itself in a loop)
            self._arm_time_limit(job)

    def memory_targets(self) -> list[Target]:
        """Running jobs with a host-memory limit and a live shepherd to measure under."""
        return [
            Target(job.id, job.runner_pid, job.memory_limit_mb)
            for job in self.jobs.values()
            if job.memory_limit_mb and job.state is JobState.RUNNING and job.runner_pid
            and self.executor.is_watched(job.id)
        ]
