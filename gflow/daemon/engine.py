"""The scheduler's state and every change to it. Owned by the one asyncio loop: no locks.

Handlers call the public methods here; each method validates, commits to the store, updates
memory, and asks for a scheduling pass. Pure rules come from `gflow.core`; process control
from `executor`. Terminal jobs leave memory (they are read back from SQLite on demand),
except while their process is still being stopped, when they keep holding resources.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import pwd
import time
import uuid
from typing import Callable, Iterable, Optional

import msgspec

from .. import paths as gpaths
from ..config import Config
from ..core import deps as core_deps
from ..core import fairshare
from ..core import lineage
from ..core import names
from ..core import scheduler as core_scheduler
from ..core import update as core_update
from ..protocol import (
    ACTIVE_STATES,
    ActionResult,
    DependencyMode,
    ErrorCode,
    GflowError,
    GpuSharing,
    Job,
    JobSpec,
    JobState,
    Reason,
    RedoParams,
    RedoResult,
    SubmitParams,
    SubmitResult,
    TERMINAL_STATES,
    UpdateParams,
    UpdateResult,
)
from . import admission, identity
from .executor import Executor, ExitStatus, RunSpec
from .gpu import GpuBackend
from .memwatch import Target
from . import statedir
from .later import Later
from .scheduling import SchedulingState
from .store import DiskFull, JobStore
from .wallclock import ClockStepWatch, WallTimers

log = logging.getLogger("gflow.engine")

_FAILURE_STATES = {JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT}
_WAITING_STATES = (JobState.QUEUED, JobState.HOLD)
# shepherds started per loop iteration: a pass that admits 10,000 jobs must not stall the
# daemon for the seconds all those spawns take
_LAUNCH_SLICE = 64
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def bad_request(message: str) -> GflowError:
    return GflowError(ErrorCode.BAD_REQUEST, message)


def not_found(job_id: int) -> GflowError:
    return GflowError(ErrorCode.NOT_FOUND, f"Job {job_id} not found")


def conflict(message: str) -> GflowError:
    return GflowError(ErrorCode.CONFLICT, message)


# just enough of a stored job to find the ones `redo --cascade` needs, without decoding all
_CancelledRow = msgspec.defstruct(
    "_CancelledRow", [("id", int), ("reason", Optional[str], None)]
)
_CANCELLED_ROW = msgspec.msgpack.Decoder(_CancelledRow)


class Engine:
    def __init__(
        self,
        config: Config,
        dirs: gpaths.DaemonPaths,
        store: JobStore,
        gpus: GpuBackend,
        executor_factory: Callable[[Callable[[int, ExitStatus], None]], Executor],
    ):
        self.config = config
        self.dirs = dirs
        self.store = store
        self.gpus = gpus
        self.executor = executor_factory(self._on_exit)
        self.daemon_uid = os.geteuid()
        self.started_at = time.time()
        self.jobs: dict[int, Job] = {}  # active: Queued, Hold, Running
        # dependency id -> active jobs naming it, so a failure finds its dependents without
        # scanning every job (auto-cancel, retries); maintained by _activate/_deactivate
        self._dependents: dict[int, set[int]] = {}
        self._names: set[str] = set()  # run names of active jobs (collision set, SPEC 3.11)
        self._launch_queue: list[Job] = []
        self.sched = SchedulingState()  # ordered queue and running index for the pass
        self.stopping: dict[int, Job] = {}  # terminal, but the process is still winding down
        self._terminal_states: dict[int, JobState] = {}
        # begin times and time limits are wall-clock instants: re-armed when the clock steps
        self._timers = WallTimers()
        self._clock_watch = ClockStepWatch(self._clock_stepped, lambda: len(self._timers) > 0)
        # told when the wall clock is stepped (the policy's reservation-edge timer)
        self.on_clock_step: list[Callable[[], None]] = []
        self._waiters: dict[int, list[asyncio.Future]] = {}
        self._pass_pending = False
        self.next_id = store.max_id() + 1
        # config and `gflowd up --gpus` win over a runtime `gctl set-gpus` (upstream 8.23)
        runtime = store.get_meta("allowed_gpus")
        configured = config.daemon.gpus if config.daemon.gpus is not None else runtime
        self.allowed_gpus: Optional[set[int]] = self._valid_gpu_set(configured)
        self.policy = None  # gflow.daemon.policy.Policy (quotas, reservations), set by the server
        # fair-share ledger (SPEC 4.12): user -> (GPU-seconds, when last decayed); saved with
        # the commit that records the terminal job it was charged for
        self.usage: fairshare.Ledger = {
            user: (float(u), float(t)) for user, (u, t) in store.get_meta(_USAGE_KEY, {}).items()
        }
        self._usage_changed = False
        # told about every slice of launched jobs (the server's GPU poll and memory watch)
        self.on_launch: list[Callable[[list[Job]], None]] = []
        # told about GPUs that jobs gave back (the GPU poll looks at them before reuse)
        self.on_gpus_freed: list[Callable[[set[int]], None]] = []
        self.host_memory_mb = _host_memory_mb()
        # a full state disk: work to save again later, and the jobs whose exit is known (in
        # their status file) but not yet recorded
        self._later = Later()
        self._unrecorded_exits: set[int] = set()

    def _valid_gpu_set(self, indices) -> Optional[set[int]]:
        """Drop indices the machine does not have; nothing left means every GPU."""
        if indices is None:
            return None
        present = {g.index for g in self.gpus.devices()}
        kept = {i for i in indices if i in present}
        dropped = sorted(set(indices) - kept)
        if dropped:
            log.warning("ignoring GPU indices %s: only %d GPUs detected", dropped, len(present))
        return kept or None

    def set_allowed_gpus(self, indices: Optional[list[int]]) -> None:
        if indices is not None:
            present = {g.index for g in self.gpus.devices()}
            bad = sorted(set(indices) - present)
            if bad:
                raise bad_request(f"Invalid GPU indices {bad} (only {len(present)} GPUs detected)")
        self.store.set_meta("allowed_gpus", indices)
        self.allowed_gpus = set(indices) if indices is not None else None
        self.request_pass()  # a settings change may let waiting jobs start (upstream 8.16)

    def gpu_holders(self) -> dict[int, Job]:
        holders: dict[int, Job] = {}
        for job in list(self.sched.running.values()) + list(self.stopping.values()):
            for i in job.gpu_ids or []:
                holders.setdefault(i, job)
        return holders

    def gpu_holders_all(self) -> dict[int, list[Job]]:
        """Every job on each GPU (several shared jobs may hold one)."""
        holders: dict[int, list[Job]] = {}
        for job in list(self.sched.running.values()) + list(self.stopping.values()):
            for i in job.gpu_ids or []:
                holders.setdefault(i, []).append(job)
        return holders

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        """Load active jobs, re-adopt running ones, arm timers and run a first pass."""
        self._clock_watch.start()
        loaded = self.store.load_active()
        for job in loaded:
            self._activate(job)
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
                        self.sched.requeued(job)
                        self.executor.remove_files(job.id)  # now: it may be relaunched at once
                        requeued.append(job)
                        self._arm_begin(job)
                        continue
                    shepherd = launched[job.id]
                    if shepherd is None:  # ended, or vanished: its status file decides
                        self.executor.collect(job.id)
                        continue
                    job.runner_pid, job.runner_started = shepherd
                    requeued.append(job)
                self.executor.adopt(job.id, job.runner_pid, job.runner_started or 0.0)
                self._arm_time_limit(job)
            elif job.state is JobState.QUEUED:
                self._arm_begin(job)
        if requeued:
            log.warning("recovered %d job(s) the previous daemon was launching when it stopped", len(requeued))
        self._save_facts(requeued)
        self.request_pass()

    def close(self) -> None:
        # Admitted but not yet started (the launch queue drains a slice per loop turn):
        # back to the queue, rather than found "vanished" and failed at the next start.
        unlaunched = [
            j for j in self._launch_queue
            if self.jobs.get(j.id) is j and j.state is JobState.RUNNING and j.runner_pid is None
        ]
        for job in unlaunched:
            job.state, job.started_at, job.gpu_ids, job.reason = JobState.QUEUED, None, None, None
            self.sched.requeued(job)
        self._launch_queue = []
        try:
            self._commit(unlaunched, rollback=False)
        except DiskFull as e:  # still Running without a shepherd: the next start requeues them
            log.error("%s", e.message)
        self._later.close()
        self._timers.clear()
        self._clock_watch.close()
        self.executor.close()

    # ------------------------------------------------------------------ lookups
    def find(self, job_id: int) -> Optional[Job]:
        job = self.jobs.get(job_id) or self.stopping.get(job_id)
        return job if job is not None else self.store.get(job_id)

    def get(self, job_id: int) -> Job:
        job = self.find(job_id)
        if job is None:
            raise not_found(job_id)
        return job

    def state_of(self, job_id: int) -> Optional[JobState]:
        job = self.jobs.get(job_id) or self.stopping.get(job_id)
        if job is not None:
            return job.state
        state = self._terminal_states.get(job_id)
        if state is None:
            state = self.store.state_of(job_id)
            if state is not None and state in TERMINAL_STATES:
                self._terminal_states[job_id] = state
        return state

    def purgeable(self, job: Job) -> bool:
        """A finished job may be forgotten unless an active job depends on it or its
        process is still winding down."""
        return job.id not in self.stopping and not self._dependents.get(job.id)

    def forget(self, ids: Iterable[int]) -> None:
        for job_id in ids:
            self._terminal_states.pop(job_id, None)

    def resolve_ref(self, caller: identity.Caller, ref: str | int) -> int:
        """An id, or `@` / `@~N` against the caller's own jobs (`@~1` is `@`, as upstream)."""
        if isinstance(ref, int):
            return ref
        text = ref.strip()
        if text.isdigit():
            return int(text)
        count = None
        if text == "@":
            count = 1
        elif text.startswith("@~") and text[2:].isdigit() and int(text[2:]) >= 1:
            count = int(text[2:])
        if count is not None:
            ids = self.store.recent_ids_of(caller.uid, count)
            if len(ids) == count:
                return ids[-1]
        raise bad_request(f"Cannot resolve dependency '{text}' for user '{caller.user}'")

    # ------------------------------------------------------------------ submit
    def submit(self, caller: identity.Caller, params: SubmitParams) -> SubmitResult:
        """Create every job of the request in one transaction (all or nothing)."""
        if not params.jobs:
            raise bad_request("a submission needs at least one job")
        now = time.time()
        group_id = str(uuid.uuid4()) if params.group_max_concurrent is not None else None
        ctx = _SubmitContext(caller, identity.group_ids(caller.uid))
        jobs: list[Job] = []
        envs: dict[int, dict[str, str]] = {}
        taken = _Taken(self._names)
        next_id = self.next_id
        # one stored environment per distinct snapshot: the jobs of an array share one row
        last_env: Optional[tuple[dict[str, str], int]] = None
        for spec in params.jobs:
            job = self._job_from_spec(ctx, spec, next_id, now)
            if group_id:
                job.group_id = group_id
                job.max_concurrent = params.group_max_concurrent
            job.run_name = names.run_name(next_id, job.requested_name, taken)
            taken.add(job.run_name)
            env = spec.env if spec.env is not None else (params.env or {})
            if last_env is not None and (env is last_env[0] or env == last_env[0]):
                job.env_from = last_env[1]
            else:
                envs[next_id] = env
                last_env = (env, next_id)
            jobs.append(job)
            next_id += 1
        self._check_queue_quota(jobs)
        strict = [job for job, spec in zip(jobs, params.jobs) if not spec.allow_pending]
        if strict:
            admission.refuse_impossible(strict, admission.capacity(self))
        self.store.write(new=jobs, envs=envs)
        self.next_id = next_id
        for job in jobs:
            self._activate(job)
        self._settle(jobs)
        return SubmitResult(jobs=[(j.id, j.run_name) for j in jobs], group_id=group_id)

    def _job_from_spec(self, ctx: "_SubmitContext", spec: JobSpec, job_id: int, now: float) -> Job:
        if (spec.command is None) == (spec.script is None):
            raise bad_request("a job needs exactly one of a command or a script")
        if spec.shared and spec.gpu_memory_limit_mb is None:
            raise bad_request(
                "Shared jobs must set a GPU memory limit. Use --gpu-memory (alias: --max-gpu-mem) with --shared."
            )
        if spec.shared and spec.gpu_memory_limit_mb == 0:
            raise bad_request("Shared jobs need a GPU memory limit above 0 (--gpu-memory).")
        caller = ctx.caller
        if spec.run_dir not in ctx.dirs:
            ctx.dirs[spec.run_dir] = identity.can_enter(spec.run_dir, caller.uid, ctx.gids)
        problem = ctx.dirs[spec.run_dir]
        if problem:
            raise bad_request(f"cannot run in {spec.run_dir}: {problem}")
        if spec.project not in ctx.projects:
            ctx.projects[spec.project] = self._project(spec.project)
        project = ctx.projects[spec.project]
        depends = []
        for ref in spec.depends_on:
            if ref not in ctx.refs:
                dep = self.resolve_ref(caller, ref)
                if self.state_of(dep) is None:
                    raise bad_request(f"Dependency job {dep} does not exist")
                ctx.refs[ref] = dep
            dep = ctx.refs[ref]
            if dep not in depends:
                depends.append(dep)
        return Job(
            id=job_id,
            state=JobState.HOLD if spec.hold else JobState.QUEUED,
            command=spec.command,
            script=spec.script,
            conda_env=spec.conda_env,
            run_dir=spec.run_dir,
            parameters=spec.parameters,
            task_id=spec.task_id,
            owner_uid=caller.uid,
            user=caller.user,
            requested_name=names.sanitize(spec.name or "") or None,
            project=project,
            max_retries=spec.max_retries,
            auto_close_tmux=spec.auto_close_tmux,
            notify_emails=spec.notify_emails,
            notify_on=spec.notify_on,
            depends_on_ids=depends,
            dependency_mode=spec.dependency_mode,
            auto_cancel_on_dependency_failure=spec.auto_cancel_on_dependency_failure,
            scheduled_at=spec.scheduled_at,
            priority=spec.priority,
            gpus=spec.gpus,
            gpu_sharing_mode=GpuSharing.SHARED if spec.shared else GpuSharing.EXCLUSIVE,
            gpu_memory_limit_mb=spec.gpu_memory_limit_mb,
            memory_limit_mb=spec.memory_limit_mb,
            time_limit=spec.time_limit,
            max_concurrent=spec.max_concurrent,
            submitted_at=now,
        )

    def _project(self, project: Optional[str]) -> Optional[str]:
        from ..core.parse import ParseError, normalize_project

        cfg = self.config.projects
        try:
            return normalize_project(project or "", cfg.known_projects, cfg.require_project)
        except ParseError as e:
            raise bad_request(str(e)) from None

    def _check_queue_quota(self, jobs: list[Job]) -> None:
        """Queue-depth quotas (SPEC 4.10): config `quota` overlaid by `gctl quota set`."""
        if self.policy is not None:
            self.policy.check_queue_quota(jobs, self.jobs.values())

    # ------------------------------------------------------------------ job actions
    def cancel(self, caller: identity.Caller, ids: list[int]) -> ActionResult:
        result = ActionResult()
        changed: list[Job] = []
        signal_ids: list[int] = []
        now = time.time()
        for job_id in ids:
            job = self.jobs.get(job_id)
            if job is None:
                stored = self.find(job_id)
                if stored is None:
                    result.errors.append((job_id, f"Job {job_id} not found"))
                else:
                    try:
                        identity.require_owner(caller, stored, "cancel")
                        result.errors.append(
                            (job_id, f"Job {job_id} is already {stored.state.value} and cannot be cancelled")
                        )
                    except GflowError as e:
                        result.errors.append((job_id, e.message))
                continue
            try:
                identity.require_owner(caller, job, "cancel")
            except GflowError as e:
                result.errors.append((job_id, e.message))
                continue
            was_running = job.state is JobState.RUNNING
            self._terminate(job, JobState.CANCELLED, Reason.CANCELLED_BY_USER.value, now)
            changed.append(job)
            if was_running:
                signal_ids.append(job_id)
            result.done.append(job_id)
        changed += self._cascade([j for j in changed], now)
        self._commit(changed)
        for job_id in signal_ids:
            self.executor.cancel(job_id)
        self._after_terminal(changed)
        return result

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

    def redo(self, caller: identity.Caller, params: RedoParams) -> RedoResult:
        """`gjob redo`: a new job from a finished one; with `cascade`, also new jobs for the
        dependents its failure cancelled, wired to the new jobs (SPEC 3.8)."""
        source_id = self.resolve_ref(caller, params.ref)
        source = self.find(source_id)
        if source is None:
            raise GflowError(ErrorCode.NOT_FOUND, f"Job {source_id} not found.")
        identity.require_owner(caller, source, "redo")
        if params.env is not None and caller.uid != source.owner_uid:
            # the job runs as its owner: an admin's environment (tokens, keys) must not go with it
            raise GflowError(
                ErrorCode.FORBIDDEN,
                f"only the owner of job {source.id} ({source.user}) may redo it with --current-env; "
                "an admin's redo reuses the job's stored environment (drop --current-env)",
            )
        if source.state in _WAITING_STATES:
            raise conflict(
                f"Job {source_id} is still in {source.state.value} state. "
                "Use `gjob update` to modify its parameters."
            )
        if source.state is JobState.RUNNING:
            raise conflict(f"Job {source_id} is still running. Wait for it to finish or cancel it first.")
        now = time.time()
        overrides: dict = {"redone_from": source.id}
        for field in ("gpus", "priority", "time_limit", "memory_limit_mb", "gpu_memory_limit_mb", "conda_env"):
            value = getattr(params, field)
            if value is not None:
                overrides[field] = value
        if params.clear_deps:
            overrides["depends_on_ids"] = []
        elif params.depends_on is not None:
            dep = self.resolve_ref(caller, params.depends_on)
            if self.state_of(dep) is None:
                raise bad_request(f"Dependency job {dep} does not exist")
            overrides["depends_on_ids"] = [dep]
            overrides["dependency_mode"] = DependencyMode.ALL
        # The new job keeps the source's owner: an admin redoing a user's job must not turn
        # that user's command into one running with the admin's identity.
        job = lineage.rerun(source, self.next_id, now, **overrides)
        if job.gpu_sharing_mode is GpuSharing.SHARED and job.gpu_memory_limit_mb is None:
            raise bad_request("Shared jobs must keep a GPU memory limit (--gpu-memory / --max-gpu-mem).")
        problem = identity.can_enter(job.run_dir, job.owner_uid, identity.group_ids(job.owner_uid))
        if problem:
            raise bad_request(f"cannot run in {job.run_dir}: {problem}")
        job.project = self._project(job.project)  # the policy may have changed since
        envs: dict[int, dict[str, str]] = {}
        if params.env is not None:
            envs[job.id] = params.env
            job.env_from = None
        jobs = [job]
        result = RedoResult(source_id=source.id, job=job)
        if params.cascade:
            jobs += self._redo_cascade(caller, source, job, now, result)
        taken = _Taken(self._names)
        for new in jobs:
            new.run_name = names.run_name(new.id, new.requested_name, taken)
            taken.add(new.run_name)
        result.cascade = [(new.redone_from, new.id, new.run_name) for new in jobs[1:]]
        self._check_queue_quota(jobs)
        self.store.write(new=jobs, envs=envs)
        self.next_id = jobs[-1].id + 1
        for new in jobs:
            self._activate(new)
        self._settle(jobs)
        return result

    def _redo_cascade(
        self, caller: identity.Caller, source: Job, new_source: Job, now: float, result: RedoResult
    ) -> list[Job]:
        def may_redo(job: Job) -> bool:
            try:
                identity.require_owner(caller, job, "redo")
            except GflowError as e:
                result.skipped.append((job.id, e.message))
                return False
            return True

        rows = [_CANCELLED_ROW.decode(blob) for blob in self.store.query_raw([JobState.CANCELLED])]
        stubs = [Job(id=r.id, state=JobState.CANCELLED, reason=r.reason) for r in rows]
        # refused ones are reported through may_redo as they are met
        found, _ = lineage.cascade_targets(source.id, stubs, lambda stub: may_redo(self.get(stub.id)))
        mapping = {source.id: new_source.id}
        for offset, stub in enumerate(found, start=1):
            mapping[stub.id] = new_source.id + offset
        created = []
        for stub in found:
            old = self.get(stub.id)
            new = lineage.rerun(old, mapping[old.id], now, redone_from=old.id)
            new.depends_on_ids = core_deps.remap(old.depends_on_ids, mapping)
            created.append(new)
        return created

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
        now = time.time()
        self._terminate(job, JobState.FINISHED if success else JobState.FAILED, None, now)
        changed = [job] + self._cascade([job], now)
        self._commit(changed)
        self.executor.cancel(job_id)
        self._after_terminal(changed)

    def set_group_limit(self, caller: identity.Caller, target: str, limit: int) -> dict:
        found_job = None
        text = target.strip()
        if text.isdigit():
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
        return {"group_id": group_id, "updated": len(members), "found_job": found_job}

    # ------------------------------------------------------------------ evaluation
    def _settle(self, jobs: list[Job]) -> None:
        """Evaluate new or released jobs like the scheduler would: a dependency that already
        failed cancels them at once; begin times arm a timer; then a pass."""
        now = time.time()
        cancelled = []
        for job in jobs:
            if job.state is not JobState.QUEUED:
                continue
            verdict, failed = core_deps.outcome(job, self.state_of)
            if verdict == core_deps.IMPOSSIBLE and job.auto_cancel_on_dependency_failure:
                self._terminate(job, JobState.CANCELLED, f"{Reason.DEPENDENCY_FAILED.value}:{failed}", now)
                cancelled.append(job)
                continue
            self._arm_begin(job)
        if cancelled:
            cancelled += self._cascade(cancelled, now)
            try:
                self._commit(cancelled)
            except DiskFull as e:  # the jobs were acknowledged: cancel them once it can be saved
                log.error("%s", e.message)
                self._later.add(("settle", cancelled[0].id), lambda: self._settle(jobs))
            else:
                self._after_terminal(cancelled)
        self.request_pass()

    def _cascade(self, failed: Iterable[Job], now: float) -> list[Job]:
        """Auto-cancel Queued dependents of failed jobs, transitively (SPEC 3.6)."""
        todo = [j for j in failed if j.state in _FAILURE_STATES]
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

    # ------------------------------------------------------------------ indexes
    def _activate(self, job: Job) -> None:
        self.jobs[job.id] = job
        self._names.add(job.run_name)
        self._index(job)
        self.sched.activated(job)

    def _deactivate(self, job: Job) -> None:
        if self.jobs.pop(job.id, None) is not None:
            self._names.discard(job.run_name)
            self._unindex(job)
            self.sched.deactivated(job)

    def _index(self, job: Job) -> None:
        for dep in job.depends_on_ids:
            self._dependents.setdefault(dep, set()).add(job.id)

    def _unindex(self, job: Job) -> None:
        for dep in job.depends_on_ids:
            waiting = self._dependents.get(dep)
            if waiting is not None:
                waiting.discard(job.id)
                if not waiting:
                    del self._dependents[dep]

    def _deps_of(self, job_id: int) -> list[int]:
        job = self.jobs.get(job_id) or self.find(job_id)
        return list(job.depends_on_ids) if job is not None else []

    def _after_terminal(self, jobs: list[Job]) -> None:
        for job in jobs:
            for fut in self._waiters.pop(job.id, []):
                if not fut.done():
                    fut.set_result(None)
        self.request_pass()

    def _commit(self, jobs: list[Job], rollback: bool = True) -> None:
        """Save changed jobs. On a full disk nothing was saved: with `rollback` the jobs are
        put back in memory as stored (a refused decision); without, memory keeps what it
        says (facts about processes, saved later) and DiskFull is raised either way."""
        if jobs:
            try:
                self.store.write(changed=_unique(jobs), meta=self._changed_meta())
            except DiskFull:
                if rollback:
                    self._rollback(jobs)
                else:
                    self._usage_changed = True
                raise

    def _save_facts(self, jobs: list[Job]) -> None:
        """Commit what happened to processes (launched, found, requeued); retried until the
        disk has room."""
        try:
            self._commit(jobs, rollback=False)
        except DiskFull as e:
            log.error("%s", e.message)
            self._later.add(("facts", jobs[0].id), lambda: self._save_facts(jobs))

    def _rollback(self, jobs: list[Job]) -> None:
        """Undo in memory the change a failed commit did not save: every job becomes its stored
        self again, in place (the launch queue and timers hold these objects)."""
        self.usage = {
            user: (float(u), float(t)) for user, (u, t) in self.store.get_meta(_USAGE_KEY, {}).items()
        }
        self._usage_changed = False
        for job in _unique(jobs):
            stored = self.store.get(job.id)
            self._deactivate(job)
            self.stopping.pop(job.id, None)
            self._terminal_states.pop(job.id, None)
            if stored is None:
                continue
            for field in job.__struct_fields__:
                setattr(job, field, getattr(stored, field))
            if job.state in ACTIVE_STATES:
                self._activate(job)
                if job.state is JobState.QUEUED:
                    self._arm_begin(job)
                elif job.time_limit is not None and (job.started_at or 0) + job.time_limit > time.time():
                    # a limit already due is retried by whoever failed to record it (no
                    # timer firing at once, failing, and re-arming itself in a loop)
                    self._arm_time_limit(job)
            else:
                self._terminal_states[job.id] = job.state
                if self.executor.is_watched(job.id) or job.id in self._unrecorded_exits:
                    self.stopping[job.id] = job  # its process still holds its resources

    def _changed_meta(self) -> Optional[dict]:
        if not self._usage_changed:
            return None
        self._usage_changed = False
        return {_USAGE_KEY: self.usage}

    # ------------------------------------------------------------------ scheduling
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
            for listener in self.on_gpus_freed:
                listener(freed)
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
            quota_allows=self.policy.quota_allows if self.policy else None,
            reservations=self.policy.reservation_gate(running) if self.policy else None,
            backfill=self.config.scheduler.backfill,
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
        now = time.time()
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
                log.error("job %d could not be launched: %s", job.id, e)
                self._record_launch_failure(job, f"{Reason.SYSTEM_ERROR.value}:{e}", now)
                continue
            job.runner_pid, job.runner_started = pid, created
            self._arm_time_limit(job)
            launched.append(job)
        if launched or requeued:
            self._save_facts(launched + requeued)
        if launched:
            for listener in self.on_launch:
                listener(launched)
        if self._launch_queue:
            asyncio.get_running_loop().call_soon(self._launch_slice)

    def _record_launch_failure(self, job: Job, reason: str, now: float) -> None:
        try:
            self._end_running(job, JobState.FAILED, reason, now)
        except DiskFull as e:
            log.error("%s", e.message)
            self._later.add(("launch", job.id), lambda: self._record_launch_failure(job, reason, now))

    def _run_spec(self, job: Job) -> RunSpec:
        entry = pwd.getpwuid(job.owner_uid)
        env = dict(self.store.get_env(job.env_from if job.env_from is not None else job.id))
        env.update(
            HOME=entry.pw_dir,
            USER=entry.pw_name,
            LOGNAME=entry.pw_name,
            SHELL=entry.pw_shell or "/bin/sh",
            GFLOW_JOB_ID=str(job.id),
            GFLOW_JOB_NAME=job.run_name,
            GFLOW_ARRAY_TASK_ID=str(job.task_id if job.task_id is not None else 0),
            CUDA_VISIBLE_DEVICES=",".join(str(i) for i in job.gpu_ids or []),
            # CUDA numbers devices fastest-first unless told otherwise; NVML (our indices)
            # numbers them by PCI bus: on a mixed machine index 1 could be another GPU
            CUDA_DEVICE_ORDER="PCI_BUS_ID",
        )
        uuids = [self.gpus.uuid(i) for i in job.gpu_ids or []]
        if uuids and all(uuids):
            env["GFLOW_GPU_UUIDS"] = ",".join(uuids)
        if job.script is not None:
            payload = f"bash {_shell_word(job.script)}"
        else:
            payload = names.substitute(job.command or "", job.parameters) if job.parameters else job.command or ""
        if job.conda_env:
            payload = (
                'eval "$(conda shell.bash hook 2>/dev/null)"; '
                f"conda activate {_shell_word(job.conda_env)} && {payload}"
            )
        argv = ["bash", job.script] if job.script is not None and not job.conda_env else ["bash", "-c", payload]
        return RunSpec(
            job_id=job.id,
            argv=argv,
            cwd=job.run_dir,
            env=env,
            uid=entry.pw_uid,
            gid=entry.pw_gid,
            user=entry.pw_name,
            drop_privileges=entry.pw_uid != self.daemon_uid,
            log_path=self.log_path(job, create_dir=True),
            grace_secs=self.config.daemon.kill_grace_secs,
        )

    def log_path(self, job: Job, create_dir: bool = False) -> str:
        """Jobs of the daemon's own account log to logs/<id>.log; other owners get a
        per-user directory they own, so the daemon never writes in a place they control."""
        if job.owner_uid == self.daemon_uid:
            directory = self.dirs.logs_dir
        else:
            directory = os.path.join(self.dirs.logs_dir, str(job.owner_uid))
        if create_dir:
            statedir.owned_log_dir(directory, job.owner_uid)
        return os.path.join(directory, f"{job.id}.log")

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
        self._end_running(job, state, reason, now)
        self.stopping.pop(job.id, None)

    def _end_running(self, job: Job, state: JobState, reason: Optional[str], now: float) -> None:
        """Record how a Running job's payload ended (SPEC 3.7). A failure with retry budget
        left queues the next attempt in the same transaction, and the jobs waiting on the
        failed attempt wait on the new one instead of being auto-cancelled."""
        retry = self._retry_for(job, now) if state is JobState.FAILED else None
        changed: list[Job] = []
        if retry is not None:
            changed += self._repoint_dependents(job.id, retry.id)
        self._terminate(job, state, reason, now)
        changed.append(job)
        if retry is None:
            changed += self._cascade([job], now)
            self._commit(changed)
        else:
            try:
                self.store.write(new=[retry], changed=_unique(changed), meta=self._changed_meta())
            except DiskFull:
                self._rollback(changed)
                raise
            self.next_id = retry.id + 1
            self._activate(retry)
            self._settle([retry])
        self._after_terminal(changed)

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

    # ------------------------------------------------------------------ timers
    def _arm_begin(self, job: Job) -> None:
        if job.scheduled_at is not None and job.scheduled_at > time.time():
            self._arm("begin", job.id, job.scheduled_at, lambda: self._begin_reached(job.id))

    def _begin_reached(self, job_id: int) -> None:
        self.sched.touch([job_id])
        self.request_pass()

    def _arm_time_limit(self, job: Job) -> None:
        if job.time_limit is not None and job.started_at is not None:
            self._arm("limit", job.id, job.started_at + job.time_limit, lambda: self._time_out(job.id))

    def _arm(self, kind: str, job_id: int, when: float, callback: Callable[[], None]) -> None:
        self._timers.arm((kind, job_id), when, callback)
        self._clock_watch.poke()

    def _clock_stepped(self) -> None:
        self._timers.clock_stepped()
        for listener in self.on_clock_step:
            listener()
        self.request_pass()  # begin times may have come, or gone back

    def _cancel_timer(self, kind: str, job_id: int) -> None:
        self._timers.cancel((kind, job_id))

    def _time_out(self, job_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.state is not JobState.RUNNING:
            return
        now = time.time()
        self._terminate(job, JobState.TIMEOUT, None, now)
        changed = [job] + self._cascade([job], now)
        try:
            self._commit(changed)
        except DiskFull as e:  # the job runs on until its timeout can be recorded
            log.error("%s", e.message)
            self._later.add(("limit", job_id), lambda: self._time_out(job_id))
            return
        self.executor.timeout(job_id)
        self._after_terminal(changed)

    def memory_targets(self) -> list[Target]:
        """Running jobs with a host-memory limit and a live shepherd to measure under."""
        return [
            Target(job.id, job.runner_pid, job.memory_limit_mb)
            for job in self.jobs.values()
            if job.memory_limit_mb and job.state is JobState.RUNNING and job.runner_pid
            and self.executor.is_watched(job.id)
        ]

    def memory_exceeded(self, job_id: int, used_mb: float) -> None:
        """A job's processes outgrew `--memory`: killed at once, Failed with reason
        MemoryLimitExceeded, not retried (it would only grow again)."""
        job = self.jobs.get(job_id)
        if job is None or job.state is not JobState.RUNNING:
            return
        log.warning("job %d uses %.0f MB, over its %d MB limit: killed", job_id, used_mb, job.memory_limit_mb)
        now = time.time()
        self._terminate(job, JobState.FAILED, Reason.MEMORY_LIMIT.value, now)
        changed = [job] + self._cascade([job], now)
        try:
            self._commit(changed)
        except DiskFull as e:  # the next check (seconds away) tries again
            log.error("%s", e.message)
            return
        self.executor.kill(job_id)
        self._after_terminal(changed)

    # ------------------------------------------------------------------ waiting
    async def wait(self, ids: list[int], timeout: Optional[float]) -> list[Job]:
        for job_id in ids:
            self.get(job_id)
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
        return [self.get(i) for i in ids]

    # ------------------------------------------------------------------ listing
    def encoded_jobs(self, states, users, ids, since) -> list[msgspec.Raw]:
        """Active jobs from memory (with liveness), finished ones straight from SQLite."""
        encode = msgspec.msgpack.encode
        wanted = set(states) if states is not None else None
        out: dict[int, bytes] = {}
        id_set = set(ids) if ids is not None else None
        user_set = set(users) if users is not None else None
        for job in self.jobs.values():
            if wanted is not None and job.state not in wanted:
                continue
            if id_set is not None and job.id not in id_set:
                continue
            if user_set is not None and job.user not in user_set:
                continue
            if since is not None and job.submitted_at < since:
                continue
            if job.state is JobState.RUNNING:
                job = msgspec.structs.replace(job, alive=self.executor.is_watched(job.id))
            out[job.id] = encode(job)
        terminal = TERMINAL_STATES if wanted is None else wanted & TERMINAL_STATES
        rows = self.store.query_rows(terminal, users, ids, since) if terminal else []
        if not out:  # nothing active matched: the stored rows are already in id order
            return [msgspec.Raw(blob) for _, blob in rows]
        for job_id, blob in rows:
            out.setdefault(job_id, blob)  # stopping jobs are terminal and already stored
        return [msgspec.Raw(out[k]) for k in sorted(out)]


_USAGE_KEY = "fair_share_usage"
_RESOURCE_FIELDS = frozenset({"gpus", "memory_limit_mb", "gpu_memory_limit_mb"})


class _Taken:
    """Run names in use: the active jobs' plus those given out by the request being built,
    without copying the (possibly 100k) active names for every submission."""

    def __init__(self, active: set[str]):
        self.active = active
        self.new: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self.new or name in self.active

    def add(self, name: str) -> None:
        self.new.add(name)


class _SubmitContext:
    """What one submission request looks up once for all its jobs."""

    def __init__(self, caller: identity.Caller, gids: set[int]):
        self.caller = caller
        self.gids = gids
        self.dirs: dict[str, Optional[str]] = {}  # run dir -> why the owner cannot enter it
        self.refs: dict[str, int] = {}  # dependency token -> job id
        self.projects: dict[Optional[str], Optional[str]] = {}


def _unique(jobs: list[Job]) -> list[Job]:
    seen: dict[int, Job] = {}
    for job in jobs:
        seen[job.id] = job
    return list(seen.values())


def _shell_word(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _host_memory_mb() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 16 * 1024
