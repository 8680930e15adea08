"""Scheduling: the pass that decides which waiting jobs start, launching them a slice at a
time, the timers (begin times, time limits) that make jobs eligible or due, and the start-up
recovery of jobs the previous daemon left running or half-launched.

Constructed with exactly what it uses (the job table, the executor, the machine, the policy,
the event bus) and holding no reference to the lifecycle above it: it never ends a job
itself. A launch that fails and a time limit that is reached are reported as events
(`LaunchFailed`, `TimeLimitReached`) that the lifecycle handles, so the dependencies run one
way (lifecycle -> scheduling -> policy -> table).
"""
from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

from ...config import Config
from ...core import fairshare
from ...core import scheduler as core_scheduler
from ...protocol import Job, JobState, Reason
from . import admission
from ..events import (
    ClockStepped, EventBus, GpusFreed, LaunchFailed, SettingsChanged, Started, TimeLimitReached,
)
from ..executors import runspec
from ..identity import Passwd
from ..executors.base import Executor
from ..launchretry import LaunchRetries
from ..machine import Machine
from ..policy import Policy
from ..store import DiskFull
from ..wallclock import ClockStepWatch, WallTimers
from .table import JobTable

log = logging.getLogger("gflow.engine")

# shepherds started per loop iteration: a pass that admits 10,000 jobs must not stall the
# daemon for the seconds all those spawns take
_LAUNCH_SLICE = 64
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# the longest a launched job's shepherd pid waits for a commit to ride along with
_FACTS_DELAY = 0.5


@dataclass(eq=False)
class Scheduling:
    table: JobTable
    executor: Executor
    machine: Machine
    policy: Policy
    events: EventBus
    config: Config
    logs_dir: str

    def __post_init__(self) -> None:
        self.daemon_uid = os.geteuid()
        self._passwd = Passwd()
        self._launch_queue: list[Job] = []
        self._launch_retries = LaunchRetries()
        self._pass_pending = False
        self._facts_timer: Optional[asyncio.TimerHandle] = None
        # begin times and time limits are wall-clock instants: re-armed when the clock steps
        self._timers = WallTimers()
        self._clock_watch = ClockStepWatch(self._clock_stepped, lambda: len(self._timers) > 0)
        self.events.subscribe(SettingsChanged, lambda _: self.request_pass())

    # ------------------------------------------------------------------ start and stop
    def start(self) -> None:
        """Load active jobs, re-adopt running ones, arm timers and run a first pass."""
        table = self.table
        self._clock_watch.start()
        loaded = table.store.load_active()
        for job in loaded:
            table.activate(job)
        # Admitted but without a recorded shepherd: the previous daemon died mid-launch.
        launched = self.executor.find_unrecorded(
            [j.id for j in loaded if j.state is JobState.RUNNING and j.runner_pid is None]
        )
        requeued: list[Job] = []
        # all loaded first: a vanished runner's retry or cascade must see its dependents
        for job in loaded:
            if job.state is JobState.RUNNING:
                if job.runner_pid is None:
                    if job.id not in launched:  # never started: back to the queue, not failed
                        job.state, job.started_at, job.gpu_ids, job.reason = JobState.QUEUED, None, None, None
                        table.sched.requeued(job)
                        self.executor.remove_files(job.id)  # now: it may be relaunched at once
                        requeued.append(job)
                        self.arm_begin(job)
                        continue
                    shepherd = launched[job.id]
                    if shepherd is None:  # ended, or vanished: its status file decides
                        self.executor.collect(job.id)
                        continue
                    job.runner_pid, job.runner_started = shepherd
                    requeued.append(job)
                self.executor.adopt(job.id, job.runner_pid, job.runner_started or 0.0)
                self.arm_time_limit(job)
            elif job.state is JobState.QUEUED:
                self.arm_begin(job)
        if requeued:
            log.warning("recovered %d job(s) the previous daemon was launching when it stopped", len(requeued))
        table.save_facts(requeued)
        self.request_pass()

    def close(self) -> None:
        # Admitted but not yet started (the launch queue drains a slice per loop turn):
        # back to the queue, rather than found "vanished" and failed at the next start.
        jobs = self.table.jobs
        unlaunched = [
            j for j in self._launch_queue
            if jobs.get(j.id) is j and j.state is JobState.RUNNING and j.runner_pid is None
        ]
        for job in unlaunched:
            job.state, job.started_at, job.gpu_ids, job.reason = JobState.QUEUED, None, None, None
            self.table.sched.requeued(job)
        self._launch_queue = []
        try:
            self.table.commit(unlaunched, rollback=False)
        except DiskFull as e:  # still Running without a shepherd: the next start requeues them
            log.error("%s", e.message)
        self._timers.clear()
        self._clock_watch.close()

    # ------------------------------------------------------------------ the pass
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
        changed, started = self.plan_pass()
        # persisted before launching, so a crash never leaves an unrecorded process
        try:
            self.table.commit(changed + started)
        except DiskFull as e:
            log.error("%s; no job starts until it can be recorded", e.message)
            self.table.later.add("pass", self.request_pass)
            return
        if started:
            self.launch_all(started)

    def plan_pass(self) -> tuple[list[Job], list[Job]]:
        """The pass in memory: (jobs whose waiting reason changed, jobs admitted as Running).
        The caller commits both (a rollback puts them back) before launching the admitted."""
        now = time.time()
        table = self.table
        jobs = table.jobs
        sched = table.sched
        policy = self.policy
        changed = sched.settle(jobs, now, table.state_of)
        running = list(sched.running.values())
        share = self.config.daemon.fair_share
        # before the stopping jobs join: their usage is already charged to the ledger
        factors = fairshare.factors(table.usage, running, now, share.half_life_secs) if share.enabled else {}
        running += table.stopping.values()
        freed = sched.gpus_given_back(running)
        if freed:
            self.machine.gpus.freed(freed)
            self.events.emit(GpusFreed(frozenset(freed)))
        capacity = admission.capacity(self.machine, policy)
        sched.capacity_changed(capacity, policy.effective)
        plan = core_scheduler.plan(core_scheduler.PassInput(
            queue=sched.queue,
            fresh=sched.fresh,
            running=running,
            fair_share=factors,
            gpus=self.machine.devices(),
            allowed=self.machine.allowed_gpus,
            host_memory_mb=self.machine.host_memory_mb,
            strategy=self.config.daemon.gpu_allocation_strategy,
            quota_allows=policy.quota_gate(),
            reservations=policy.reservation_gate(running),
            backfill=self.config.scheduler.backfill,
            backfill_depth=self.config.scheduler.backfill_depth,
            now=now,
            capacity=capacity,
        ))
        sched.judged(plan, jobs)
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
        return changed, started

    # ------------------------------------------------------------------ launching
    def launch_all(self, jobs: list[Job]) -> None:
        """Start admitted jobs a slice per loop iteration, so requests and exits are served
        between slices; a job cancelled meanwhile is simply not started."""
        self._launch_queue.extend(jobs)
        if len(self._launch_queue) == len(jobs):
            self._launch_slice()

    def _launch_slice(self) -> None:
        batch, self._launch_queue = self._launch_queue[:_LAUNCH_SLICE], self._launch_queue[_LAUNCH_SLICE:]
        jobs = self.table.jobs
        requeued: list[Job] = []
        deferred: list[Job] = []
        for job in batch:
            if jobs.get(job.id) is not job or job.state is not JobState.RUNNING:
                continue
            try:
                started = self.executor.launch(self._run_spec(job))
            except (OSError, KeyError, ValueError, RuntimeError) as e:
                self._not_launched(job, e, requeued, deferred)
                continue
            if started.done():
                self._launched(job, started)
            else:  # the fork server answers later; the loop does not wait for it
                started.add_done_callback(functools.partial(self._launched, job))
        if requeued or deferred:
            self.table.save_facts(requeued + deferred)
        if self._launch_queue:
            asyncio.get_running_loop().call_soon(self._launch_slice)

    def _launched(self, job: Job, started: asyncio.Future) -> None:
        """The executor's answer for one launch: the shepherd runs, or why it does not."""
        if started.cancelled():
            return
        table = self.table
        current = table.jobs.get(job.id) is job and job.state is JobState.RUNNING
        error = started.exception()
        if error is not None:
            if current:
                requeued: list[Job] = []
                deferred: list[Job] = []
                self._not_launched(job, error, requeued, deferred)
                if requeued or deferred:
                    table.save_facts(requeued + deferred)
            elif table.stopping.pop(job.id, None) is not None:
                self.request_pass()  # ended while starting and nothing started: resources free
            return
        job.runner_pid, job.runner_started = started.result()
        if not current:
            return  # ended while starting: the executor passed the stop on, its exit follows
        self._launch_retries.forget(job.id)
        self.arm_time_limit(job)
        self._note_launched(job)
        self.events.emit(Started((job,)))

    def _not_launched(self, job: Job, e: BaseException, requeued: list[Job], deferred: list[Job]) -> None:
        if isinstance(e, OSError) and e.errno in _NO_SPACE:
            # no room for its runner files: not started, so back to the queue
            log.error("job %d not started, state disk full: %s", job.id, e)
            job.state, job.started_at, job.gpu_ids, job.reason = JobState.QUEUED, None, None, None
            self.table.sched.requeued(job)
            requeued.append(job)
            return
        delay = self._launch_retries.defer(job.id, e)
        if delay is not None:
            self._defer_launch(job, e, delay)
            deferred.append(job)
            return
        log.error("job %d could not be launched: %s", job.id, e)
        self._launch_retries.forget(job.id)
        self.events.emit(LaunchFailed(job, f"{Reason.SYSTEM_ERROR.value}:{e}"))

    def _note_launched(self, job: Job) -> None:
        """Its shepherd's pid, saved with the next commit rather than one of its own (within
        _FACTS_DELAY at the latest): a crash before that finds the shepherd again
        (executor.find_unrecorded), so no fsync per launch is owed for it. One timer at a
        time, that flushes only pids that waited that long: in a stream of short jobs the
        ends' commits carry every pid first (a timer armed after each commit flushed the
        pids of the launches since, 0.5 s later: one more fsync for nearly every end)."""
        self.table.store.defer([job])
        if self._facts_timer is None:
            self._facts_timer = asyncio.get_running_loop().call_later(_FACTS_DELAY, self._flush_facts)

    def _flush_facts(self) -> None:
        self._facts_timer = None
        since = self.table.store.deferred_since
        if since is None:
            return  # a commit carried them
        wait = since + _FACTS_DELAY - time.monotonic()
        if wait > 0:  # deferred since the last write: not due yet
            self._facts_timer = asyncio.get_running_loop().call_later(wait, self._flush_facts)
            return
        try:
            self.table.store.flush()
        except DiskFull as e:
            log.error("%s", e.message)
            self.table.later.add("facts", self._flush_facts)

    def _defer_launch(self, job: Job, error: BaseException, delay: float) -> None:
        """Back to the queue, never started: the machine is out of fds or memory for now."""
        log.warning("job %d not launched now (%s); trying again in %g s", job.id, error, delay)
        job.state, job.started_at, job.gpu_ids, job.reason = JobState.QUEUED, None, None, None
        # out of the scheduler's sight until the timer: no pass re-admits it meanwhile
        self.table.sched.deactivated(job)
        self._arm("launch-retry", job.id, time.time() + delay, lambda: self._eligible_again(job.id))

    def _run_spec(self, job: Job):
        env = self.table.store.get_env(job.env_from if job.env_from is not None else job.id)
        return runspec.build(job, env, self.machine.gpus.uuid, self.logs_dir, self.daemon_uid,
                             self.config.daemon.kill_grace_secs, self._passwd)

    def log_path(self, job: Job, create_dir: bool = False) -> str:
        return runspec.log_path(self.logs_dir, job, self.daemon_uid, create_dir)

    # ------------------------------------------------------------------ timers
    def arm_begin(self, job: Job) -> None:
        if job.scheduled_at is not None and job.scheduled_at > time.time():
            self._arm("begin", job.id, job.scheduled_at, lambda: self._eligible_again(job.id))

    def _eligible_again(self, job_id: int) -> None:
        """A begin time came, or a deferred launch may be tried again."""
        self.table.sched.touch([job_id])
        self.request_pass()

    def arm_time_limit(self, job: Job) -> None:
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

    def disarm(self, job_id: int) -> None:
        """A job ended or was held: its begin time and time limit no longer matter."""
        self._timers.cancel(("begin", job_id))
        self._timers.cancel(("limit", job_id))
