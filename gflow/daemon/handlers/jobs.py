"""Job methods: submit, list, get, cancel, hold, release, update, redo, outcome, log, wait, resolve."""
from __future__ import annotations

import asyncio
import os

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
from .. import identity
from . import rpc


@rpc("jobs.submit", SubmitParams)
def submit(ctx, caller, params: SubmitParams):
    return ctx.engine.submit(caller, params)


@rpc("jobs.list", ListParams)
def list_jobs(ctx, caller, params: ListParams):
    return ctx.engine.encoded_jobs(params.states, params.users, params.ids, params.since)


@rpc("jobs.get", JobRef)
def get(ctx, caller, params: JobRef):
    return ctx.engine.get(ctx.engine.resolve_ref(caller, params.ref))


@rpc("jobs.resolve", JobRef)
def resolve(ctx, caller, params: JobRef) -> int:
    return ctx.engine.resolve_ref(caller, params.ref)


@rpc("jobs.cancel", IdsParams)
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


@rpc("jobs.hold", IdsParams)
def hold(ctx, caller, params: IdsParams):
    return ctx.engine.hold(caller, params.ids)


@rpc("jobs.release", ReleaseParams)
def release(ctx, caller, params: ReleaseParams):
    return ctx.engine.release(caller, params.ids, params.at)


@rpc("jobs.update", UpdateParams)
def update(ctx, caller, params: UpdateParams):
    return ctx.engine.update(caller, params)


@rpc("jobs.redo", RedoParams)
def redo(ctx, caller, params: RedoParams):
    return ctx.engine.redo(caller, params)


@rpc("jobs.outcome", OutcomeParams)
def outcome(ctx, caller, params: OutcomeParams):
    """`gcancel --finish/--fail`: the owner (or an admin) reports how a payload ended."""
    return ctx.engine.report_outcome(caller, params.id, params.success)


@rpc("jobs.wait", WaitParams)
async def wait(ctx, caller, params: WaitParams):
    return await ctx.engine.wait(params.ids, params.timeout)


@rpc("jobs.log", LogParams)
async def log(ctx, caller, params: LogParams) -> LogResult:
    engine = ctx.engine
    job = engine.get(engine.resolve_ref(caller, params.ref))
    identity.require_owner(caller, job, "log")
    path = engine.log_path(job)
    loop = asyncio.get_running_loop()
    content = await loop.run_in_executor(None, _read_log, path, params)
    return LogResult(job_id=job.id, path=path, content=content)


def _read_log(path: str, params: LogParams):
    """Read without following a symlink: the log directory may belong to the job's owner."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise GflowError(ErrorCode.CONFLICT, f"Failed to open log file '{path}': {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if params.first is not None:
            lines = []
            for _ in range(params.first):
                line = f.readline()
                if not line:
                    break
                lines.append(line)
            return b"".join(lines)
        if size > params.max_bytes:
            f.seek(size - params.max_bytes)
        data = f.read()
    if params.last is not None:
        lines = data.splitlines(keepends=True)
        return b"".join(lines[-params.last:])
    return data
