"""Job methods: submit, list, get, cancel, hold, release, update, redo, outcome, log, wait, resolve."""
from __future__ import annotations

from ...core import limits
from ...protocol import (
    ActionResult,
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
    ReleaseParams,
    SubmitParams,
    UpdateParams,
    WaitParams,
)
from .. import identity, listing
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
    return await ctx.engine.submit_in_turns(caller, params)


@rpc("jobs.list")
def list_jobs(ctx, caller, params: ListParams):
    return Stream(listing.pages(ctx.engine, params.states, params.users, params.ids, params.since, _PAGE))


@rpc("jobs.get")
def get(ctx, caller, params: JobRef):
    return ctx.engine.get(ctx.engine.resolve_ref(caller, params.ref))


@rpc("jobs.resolve")
def resolve(ctx, caller, params: JobRef) -> int:
    return ctx.engine.resolve_ref(caller, params.ref)


@rpc("jobs.cancel")
def cancel(ctx, caller, params: IdsParams) -> ActionResult:
    """Each id is cancelled or refused alone; the cancelled ones end together, in one commit
    (with the dependents their cancel dooms), and their running payloads are then stopped."""
    engine = ctx.engine
    result = ActionResult()
    ending: dict[int, Job] = {}
    for job_id in params.ids:
        job = engine.jobs.get(job_id)
        if job_id in ending:
            result.errors.append((job_id, f"Job {job_id} is already Cancelled and cannot be cancelled"))
            continue
        if job is None:
            stored = engine.find(job_id)
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
    engine.end([(job, JobState.CANCELLED, reason) for job in ending.values()], stop=engine.executor.cancel)
    return result


@rpc("jobs.hold")
def hold(ctx, caller, params: IdsParams):
    return ctx.engine.hold(caller, params.ids)


@rpc("jobs.release")
def release(ctx, caller, params: ReleaseParams):
    return ctx.engine.release(caller, params.ids, params.at)


@rpc("jobs.update")
def update(ctx, caller, params: UpdateParams):
    _checked(limits.check_update, params)
    return ctx.engine.update(caller, params)


@rpc("jobs.redo")
def redo(ctx, caller, params: RedoParams):
    _checked(limits.check_redo, params)
    return ctx.engine.redo(caller, params)


@rpc("jobs.outcome")
def outcome(ctx, caller, params: OutcomeParams):
    """`gcancel --finish/--fail`: the owner (or an admin) reports how a payload ended."""
    return ctx.engine.report_outcome(caller, params.id, params.success)


@rpc("jobs.wait")
async def wait(ctx, caller, params: WaitParams):
    engine = ctx.engine
    await engine.wait_until_done(params.ids, params.timeout)
    ids = params.ids
    # read back a page at a time: finished jobs come from SQLite, 100k of them at once
    # would be built in memory for as long as a slow reader takes
    return Stream([engine.get(i) for i in ids[at:at + _PAGE]] for at in range(0, max(len(ids), 1), _PAGE))


@rpc("jobs.log")
async def log(ctx, caller, params: LogParams):
    engine = ctx.engine
    job = engine.get(engine.resolve_ref(caller, params.ref))
    identity.require_owner(caller, job, "log")
    path = engine.log_path(job)
    chunks = ctx.log_reader.read(caller.uid, path, job.owner_uid, params.first, params.last, params.max_bytes)
    return Stream(_log_parts(chunks, job.id, path))


async def _log_parts(chunks, job_id: int, path: str):
    try:
        async for chunk in chunks:
            yield LogResult(job_id=job_id, path=path, content=chunk)
    finally:
        await chunks.aclose()  # closes the file now, even when the client went away
