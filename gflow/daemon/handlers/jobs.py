"""Job methods: submit, list, get, cancel, hold, release, update, redo, outcome, log, wait, resolve."""
from __future__ import annotations

from ...core import jobrules, limits, lineage
from ...core import update as core_update
from ...protocol import (
    ActionResult,
    DependencyMode,
    ErrorCode,
    GflowError,
    IdsParams,
    Job,
    JobRef,
    JobState,
    ListParams,
    LogParams,
    LogResult,
    OutcomeParams,
    Reason,
    RedoParams,
    RedoResult,
    ReleaseParams,
    SubmitParams,
    UpdateParams,
    UpdateResult,
    WaitParams,
)
from .. import identity, listing
from ..jobs.table import JobTable
from ..refusals import bad_request, conflict, not_found
from . import Stream, rpc

# jobs per frame of a streamed listing: small enough that a reader who stops reading costs
# little, big enough that a 100k-job `gqueue -a` is a few hundred frames
_PAGE = 1000


def _checked(check, params):
    try:
        check(params)
    except limits.LimitError as e:
        raise GflowError(ErrorCode.BAD_REQUEST, str(e)) from None


@rpc("jobs.submit")
async def submit(ctx, caller, params: SubmitParams):
    _checked(limits.check_submit, params)
    return await ctx.creation.submit_in_turns(caller, params)


@rpc("jobs.list")
def list_jobs(ctx, caller, params: ListParams):
    return Stream(listing.pages(ctx.table, params.states, params.users, params.ids, params.since, _PAGE))


@rpc("jobs.get")
def get(ctx, caller, params: JobRef):
    return ctx.table.get(ctx.table.resolve_ref(caller, params.ref))


@rpc("jobs.resolve")
def resolve(ctx, caller, params: JobRef) -> int:
    return ctx.table.resolve_ref(caller, params.ref)


@rpc("jobs.cancel")
def cancel(ctx, caller, params: IdsParams) -> ActionResult:
    """Each id is cancelled or refused alone; the cancelled ones end together, in one commit
    (with the dependents their cancel dooms), and their running payloads are then stopped."""
    table = ctx.table
    result = ActionResult()
    ending: dict[int, Job] = {}
    for job_id in params.ids:
        job = table.jobs.get(job_id)
        if job_id in ending:
            result.errors.append((job_id, f"Job {job_id} is already Cancelled and cannot be cancelled"))
            continue
        if job is None:
            stored = table.find(job_id)
            if stored is None:
                result.errors.append((job_id, f"Job {job_id} not found"))
                continue
            job = stored
        try:
            identity.require_owner(caller, job, "cancel")
        except GflowError as e:
            result.errors.append((job_id, e.message))
            continue
        if job.state.is_terminal:
            result.errors.append((job_id, f"Job {job_id} is already {job.state.value} and cannot be cancelled"))
            continue
        ending[job_id] = job
        result.done.append(job_id)
    reason = Reason.CANCELLED_BY_USER.value
    ctx.lifecycle.end([(job, JobState.CANCELLED, reason) for job in ending.values()], stop=ctx.executor.cancel)
    return result


@rpc("jobs.hold")
def hold(ctx, caller, params: IdsParams) -> ActionResult:
    """Each Queued id the caller owns is held, or refused alone; the held ones in one commit."""
    result, jobs = _waiting(ctx.table, caller, params.ids, "hold", JobState.QUEUED, JobState.HOLD)
    ctx.lifecycle.hold_jobs(jobs)
    return result


@rpc("jobs.release")
def release(ctx, caller, params: ReleaseParams) -> ActionResult:
    """Each Held id the caller owns is released (to begin at `at` if given), or refused alone."""
    result, jobs = _waiting(ctx.table, caller, params.ids, "release", JobState.HOLD, JobState.QUEUED)
    ctx.lifecycle.release_jobs(jobs, params.at)
    return result


def _waiting(table: JobTable, caller, ids, action: str, source: JobState, target: JobState) -> tuple[ActionResult, list[Job]]:
    """The jobs of `ids` that `action` may move from `source` to `target`, and the refusals."""
    result = ActionResult()
    jobs: dict[int, Job] = {}
    for job_id in ids:
        job = table.find(job_id)
        if job is None:
            result.errors.append((job_id, f"Job {job_id} not found"))
            continue
        try:
            identity.require_owner(caller, job, action)
        except GflowError as e:
            result.errors.append((job_id, e.message))
            continue
        # an id named twice: its second mention finds it already moved
        state = target if job_id in jobs else job.state
        if state is not source:
            verb = "held" if action == "hold" else "released"
            result.errors.append((
                job_id,
                f"Job {job_id} is in state '{state.value}' and cannot be {verb}. "
                f"Only {source.value} jobs can be {verb}.",
            ))
            continue
        jobs[job_id] = job
        result.done.append(job_id)
    return result, list(jobs.values())


@rpc("jobs.update")
def update(ctx, caller, params: UpdateParams) -> UpdateResult:
    """`gjob update`: the same changes for every id; each id succeeds or fails alone, and a
    refused one is left exactly as it was."""
    _checked(limits.check_update, params)
    table = ctx.table
    changes = core_update.requested(params)
    if not changes:
        raise bad_request("No updates specified. Use --help to see available options.")
    result = UpdateResult()
    updates: list[tuple[Job, dict]] = []
    for job_id in params.ids:
        job = table.find(job_id)
        if job is None:
            result.errors.append((job_id, f"Job {job_id} not found"))
            continue
        try:
            identity.require_owner(caller, job, "update")
            values = core_update.plan(job, changes, lambda d: table.state_of(d) is not None, table.deps_of)
        except GflowError as e:
            result.errors.append((job_id, e.message))
            continue
        except core_update.UpdateError as e:
            result.errors.append((job_id, str(e)))
            continue
        problem = ctx.lifecycle.never_fits_after(job, values, params.allow_pending)
        if problem:
            result.errors.append((job_id, problem))
            continue
        updates.append((job, values))
        result.updated.append((job_id, core_update.changed_fields(values)))
    ctx.lifecycle.update_jobs(updates)
    return result


@rpc("jobs.redo")
def redo(ctx, caller, params: RedoParams) -> RedoResult:
    """`gjob redo`: a new job from a finished one the caller may redo; with `cascade`, also
    new jobs for the dependents its failure cancelled."""
    _checked(limits.check_redo, params)
    table = ctx.table
    source_id = table.resolve_ref(caller, params.ref)
    source = table.find(source_id)
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
    if source.state in (JobState.QUEUED, JobState.HOLD):
        raise conflict(
            f"Job {source_id} is still in {source.state.value} state. "
            "Use `gjob update` to modify its parameters."
        )
    if source.state is JobState.RUNNING:
        raise conflict(f"Job {source_id} is still running. Wait for it to finish or cancel it first.")
    overrides = lineage.redo_overrides(params)
    if params.clear_deps:
        overrides["depends_on_ids"] = []
    elif params.depends_on is not None:
        dep = table.resolve_ref(caller, params.depends_on)
        if table.state_of(dep) is None:
            raise bad_request(jobrules.missing_dependency(dep))
        overrides["depends_on_ids"] = [dep]
        overrides["dependency_mode"] = DependencyMode.ALL
    skipped: list[tuple[int, str]] = []
    jobs = ctx.creation.redo_jobs(caller, source, overrides, params.env, params.cascade, skipped, params.allow_pending)
    return RedoResult(
        source_id=source.id,
        job=jobs[0],
        cascade=[(new.redone_from, new.id, new.run_name) for new in jobs[1:]],
        skipped=skipped,
    )


@rpc("jobs.outcome")
def outcome(ctx, caller, params: OutcomeParams) -> None:
    """`gcancel --finish/--fail`: the owner (or an admin) records how a Running job's payload
    ended. Never retried (the owner's verdict is final); a payload still running is stopped."""
    job = ctx.table.find(params.id)
    if job is None:
        raise not_found(params.id)
    identity.require_owner(caller, job, "finish it" if params.success else "fail it")
    if job.state is not JobState.RUNNING:
        raise conflict(f"Job {params.id} is {job.state.value}, not Running")
    state = JobState.FINISHED if params.success else JobState.FAILED
    ctx.lifecycle.end([(job, state, None)], stop=ctx.executor.cancel)


@rpc("jobs.wait")
async def wait(ctx, caller, params: WaitParams):
    await ctx.lifecycle.wait_until_done(params.ids, params.timeout)
    ids = params.ids
    # read back a page at a time: finished jobs come from SQLite, 100k of them at once
    # would be built in memory for as long as a slow reader takes
    table = ctx.table
    return Stream([table.get(i) for i in ids[at:at + _PAGE]] for at in range(0, max(len(ids), 1), _PAGE))


@rpc("jobs.log")
async def log(ctx, caller, params: LogParams):
    job = ctx.table.get(ctx.table.resolve_ref(caller, params.ref))
    identity.require_owner(caller, job, "log")
    path = ctx.scheduling.log_path(job)
    chunks = ctx.log_reader.read(caller.uid, path, job.owner_uid, params.first, params.last, params.max_bytes)
    return Stream(_log_parts(chunks, job.id, path))


async def _log_parts(chunks, job_id: int, path: str):
    try:
        async for chunk in chunks:
            yield LogResult(job_id=job_id, path=path, content=chunk)
    finally:
        await chunks.aclose()  # closes the file now, even when the client went away
