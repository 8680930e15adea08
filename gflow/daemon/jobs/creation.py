"""New jobs: a submission (all of its jobs in one transaction) and `gjob redo`, each checked
like the other (run directory, project policy, queue quota, can it ever start).

Creation sits above the lifecycle: committed new jobs are judged by `Lifecycle.settle`,
which cancels at once those whose dependency already failed."""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Optional

import msgspec

from ...core import deps as core_deps
from ...core import jobrules
from ...core import lineage
from ...core import names
from ...protocol import (
    GflowError,
    GpuSharing,
    Job,
    JobSpec,
    JobState,
    SubmitParams,
    SubmitResult,
)
from ...config import Config
from .. import identity
from . import admission
from ..events import EventBus, Submitted
from ..machine import Machine
from ..policy import Policy
from ..refusals import bad_request
from .lifecycle import Lifecycle
from .table import JobTable

# a submission bigger than this is committed in slices, the loop serving others in between
_COMMIT_SLICE = 10_000
_BUILD_SLICE = 2_000

# just enough of a stored job to find the ones `redo --cascade` needs, without decoding all
_CancelledRow = msgspec.defstruct(
    "_CancelledRow", [("id", int), ("reason", Optional[str], None)]
)
_CANCELLED_ROW = msgspec.msgpack.Decoder(_CancelledRow)


@dataclass(eq=False)
class Creation:
    table: JobTable
    lifecycle: Lifecycle
    policy: Policy
    machine: Machine
    events: EventBus
    config: Config

    def submit(self, caller: identity.Caller, params: SubmitParams) -> SubmitResult:
        """Create every job of the request at once (see `_submit_steps`)."""
        steps = self._submit_steps(caller, params)
        while True:
            finished, result = _step(steps)
            if finished:
                return result

    async def submit_in_turns(self, caller: identity.Caller, params: SubmitParams) -> SubmitResult:
        """`submit`, letting the loop serve other clients between the slices of a big batch."""
        steps = self._submit_steps(caller, params)
        while True:
            finished, result = _step(steps)
            if finished:
                return result
            await asyncio.sleep(0)

    def _submit_steps(self, caller: identity.Caller, params: SubmitParams):
        """Create every job of the request; a generator that pauses (yields) where others may
        be served. Up to _COMMIT_SLICE jobs: one transaction, all or nothing. A bigger batch
        would hold the loop for seconds, so it is built and then committed a slice at a time;
        every job is validated and the quota checked before the first slice is committed."""
        if not params.jobs:
            raise bad_request("a submission needs at least one job")
        now = time.time()
        group_id = str(uuid.uuid4()) if params.group_max_concurrent is not None else None
        ctx = _SubmitContext(caller, identity.group_ids(caller.uid))
        jobs: list[Job] = []
        envs: dict[int, dict[str, str]] = {}
        taken = _Taken(self.table.names)
        first = next_id = self.table.next_id
        sliced = len(params.jobs) > _COMMIT_SLICE
        if sliced:  # requests served between slices take ids after this batch
            self.table.next_id += len(params.jobs)
        # one stored environment per distinct snapshot: the jobs of an array share one row
        last_env: Optional[tuple[dict[str, str], int]] = None
        try:
            for spec in params.jobs:
                if sliced and (next_id - first) % _BUILD_SLICE == 0 and next_id > first:
                    yield
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
            self.policy.check_queue_quota(jobs)
            strict = [job for job, spec in zip(jobs, params.jobs) if not spec.allow_pending]
            if strict:
                admission.refuse_impossible(strict, admission.capacity(self.machine, self.policy))
        except BaseException:
            if sliced and self.table.next_id == first + len(params.jobs):
                self.table.next_id = first  # nobody took ids meanwhile: leave no gap
            raise
        if not sliced:
            self.table.store.write(new=jobs, envs=envs)
            self.table.next_id = next_id
            self._admit_new(jobs)
        else:
            for start in range(0, len(jobs), _COMMIT_SLICE):
                part = jobs[start:start + _COMMIT_SLICE]
                try:
                    self.table.store.write(new=part, envs={i: envs[i] for i in range(part[0].id, part[-1].id + 1) if i in envs})
                except GflowError as e:
                    if start:
                        e.message += f" (jobs {first}-{part[0].id - 1} of this batch were already submitted)"
                    raise
                self._admit_new(part)
                yield
        return SubmitResult(jobs=[(j.id, j.run_name) for j in jobs], group_id=group_id)

    def _admit_new(self, jobs: list[Job]) -> None:
        """Committed new jobs join the table, are announced, and are judged like the
        scheduler would (a failed dependency cancels them at once)."""
        activate = self.table.activate
        for job in jobs:
            activate(job)
        self.events.emit(Submitted(tuple(jobs)))
        self.lifecycle.settle(jobs)

    def _job_from_spec(self, ctx: "_SubmitContext", spec: JobSpec, job_id: int, now: float) -> Job:
        problem = jobrules.runs_one_thing(spec.command, spec.script) or jobrules.shared_gpu_memory(
            spec.shared, spec.gpu_memory_limit_mb
        )
        if problem:
            raise bad_request(problem)
        caller = ctx.caller
        if spec.run_dir not in ctx.dirs:
            ctx.dirs[spec.run_dir] = identity.can_enter(spec.run_dir, caller.uid, ctx.gids)
        problem = ctx.dirs[spec.run_dir]
        if problem:
            raise bad_request(f"cannot run in {spec.run_dir}: {problem}")
        if spec.project not in ctx.projects:
            ctx.projects[spec.project] = admission.project(self.config.projects, spec.project)
        project = ctx.projects[spec.project]
        depends = []
        for ref in spec.depends_on:
            if ref not in ctx.refs:
                dep = self.table.resolve_ref(caller, ref)
                if self.table.state_of(dep) is None:
                    raise bad_request(jobrules.missing_dependency(dep))
                ctx.refs[ref] = dep
            dep = ctx.refs[ref]
            if dep not in depends:
                depends.append(dep)
        return lineage.submitted(
            spec, job_id, now,
            owner_uid=caller.uid,
            user=caller.user,
            requested_name=names.sanitize(spec.name or "") or None,
            project=project,
            depends_on_ids=depends,
        )

    def redo_jobs(
        self, caller: identity.Caller, source: Job, overrides: dict, env: Optional[dict[str, str]],
        cascade: bool, skipped: list[tuple[int, str]], allow_pending: bool = False,
    ) -> list[Job]:
        """`gjob redo` of a finished job the caller may redo (handlers/jobs.py decides):
        a new job from `source` with `overrides`; with `cascade`, also new jobs for the
        dependents its failure cancelled, wired to the new jobs, those the caller
        may not redo left in `skipped`. Refused, like a submission, if one of them could
        never start here, unless `allow_pending`. All committed at once; the new jobs,
        source's first."""
        now = time.time()
        # The new job keeps the source's owner: an admin redoing a user's job must not turn
        # that user's command into one running with the admin's identity.
        job = lineage.rerun(source, self.table.next_id, now, redone_from=source.id, **overrides)
        problem = jobrules.shared_gpu_memory(
            job.gpu_sharing_mode is GpuSharing.SHARED, job.gpu_memory_limit_mb, existing=True
        )
        if problem:
            raise bad_request(problem)
        problem = identity.can_enter(job.run_dir, job.owner_uid, identity.group_ids(job.owner_uid))
        if problem:
            raise bad_request(f"cannot run in {job.run_dir}: {problem}")
        job.project = admission.project(self.config.projects, job.project)  # the policy may have changed since
        envs: dict[int, dict[str, str]] = {}
        if env is not None:
            envs[job.id] = env
            job.env_from = None
        jobs = [job]
        if cascade:
            jobs += self._redo_cascade(caller, source, job, now, skipped)
        taken = _Taken(self.table.names)
        for new in jobs:
            new.run_name = names.run_name(new.id, new.requested_name, taken)
            taken.add(new.run_name)
        self.policy.check_queue_quota(jobs)
        if not allow_pending:
            admission.refuse_impossible(jobs, admission.capacity(self.machine, self.policy), "redo")
        self.table.store.write(new=jobs, envs=envs)
        self.table.next_id = jobs[-1].id + 1
        self._admit_new(jobs)
        return jobs

    def _redo_cascade(
        self, caller: identity.Caller, source: Job, new_source: Job, now: float, skipped: list[tuple[int, str]]
    ) -> list[Job]:
        def may_redo(job: Job) -> bool:
            try:
                identity.require_owner(caller, job, "redo")
            except GflowError as e:
                skipped.append((job.id, e.message))
                return False
            return True

        rows = [_CANCELLED_ROW.decode(blob) for _, blob in self.table.store.query_rows([JobState.CANCELLED])]
        stubs = [Job(id=r.id, state=JobState.CANCELLED, reason=r.reason) for r in rows]
        # refused ones are reported through may_redo as they are met
        found, _ = lineage.cascade_targets(source.id, stubs, lambda stub: may_redo(self.table.get(stub.id)))
        mapping = {source.id: new_source.id}
        for offset, stub in enumerate(found, start=1):
            mapping[stub.id] = new_source.id + offset
        created = []
        for stub in found:
            old = self.table.get(stub.id)
            new = lineage.rerun(old, mapping[old.id], now, redone_from=old.id)
            new.depends_on_ids = core_deps.remap(old.depends_on_ids, mapping)
            created.append(new)
        return created


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


def _step(steps) -> tuple[bool, Optional[SubmitResult]]:
    """Run a submission to its next pause: (finished, its result once finished)."""
    try:
        next(steps)
    except StopIteration as done:
        return True, done.value
    return False, None
