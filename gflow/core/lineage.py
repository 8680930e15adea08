"""Where a new job's fields come from: a submission takes its request's, a retry or a redo
those of the job it repeats; how many attempts a job gets; which cancelled dependents
`gjob redo --cascade` brings back. Pure: the daemon passes lookups in and applies the result.

The fields a job is asked to be are declared once, in `protocol.JobRequest`; every copy here
iterates them, so a new field needs no line in this module. What is named here is a choice:
what a new run leaves behind, and which resolved fields of a Job it keeps.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterable, Optional

from ..protocol import GpuSharing, Job, JobRequest, JobSpec, JobState, RedoParams, Reason

_DEPENDENCY_FAILED = Reason.DEPENDENCY_FAILED.value + ":"

REQUESTED = JobRequest.__struct_fields__
# a request's field a new run does not keep: the begin time was asked for the first run
NOT_RERUN = frozenset({"scheduled_at"})
# Job fields (not in the request) that a new run keeps: who it runs as, the name asked for,
# what the request's dependency tokens and `shared` were resolved to, its group
KEPT = ("owner_uid", "user", "requested_name", "depends_on_ids", "gpu_sharing_mode", "group_id")
RERUN = tuple(name for name in REQUESTED if name not in NOT_RERUN) + KEPT


def _copy(value):
    """Lists and maps are copied: the new job must not share them with its source."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def submitted(
    spec: JobSpec, job_id: int, now: float, *, owner_uid: int, user: str,
    requested_name: Optional[str], project: Optional[str], depends_on_ids: list[int],
) -> Job:
    """A new job from a checked request: every `JobRequest` field of `spec`, the state its
    `hold` asks for, its `shared` as a mode, and what the daemon resolved: the caller, the
    sanitised name, the project as the policy accepts it, the dependency ids."""
    job = Job(
        id=job_id,
        state=JobState.HOLD if spec.hold else JobState.QUEUED,
        owner_uid=owner_uid,
        user=user,
        requested_name=requested_name,
        depends_on_ids=depends_on_ids,
        gpu_sharing_mode=GpuSharing.SHARED if spec.shared else GpuSharing.EXCLUSIVE,
        submitted_at=now,
    )
    # The decoded request owns its lists and maps: the job takes them as they are. Set one
    # by one: building keyword arguments would take twice as long for a 10,000-job array.
    for name in REQUESTED:
        setattr(job, name, getattr(spec, name))
    job.project = project
    return job


def redo_overrides(params: RedoParams) -> dict[str, Any]:
    """The `JobRequest` fields a `gjob redo` replaces: those of its params given a value
    (RedoParams names them alike; dependencies are resolved by the handler)."""
    return {
        name: getattr(params, name)
        for name in RedoParams.__struct_fields__
        if name in REQUESTED and getattr(params, name) is not None
    }


def attempts_so_far(job: Job, retried_from_of: Callable[[int], Optional[int]]) -> int:
    """Retries that led to `job`: the length of its `retried_from` chain (0 for the original)."""
    count, seen = 0, {job.id}
    previous = job.retried_from
    while previous is not None and previous not in seen:
        count += 1
        seen.add(previous)
        previous = retried_from_of(previous)
    return count


def may_retry(job: Job, attempts: int) -> bool:
    """A failed attempt is retried while the retries so far are below its own budget."""
    return attempts < job.max_retries


def rerun(source: Job, new_id: int, now: float, **overrides) -> Job:
    """A fresh Queued job doing what `source` did.

    Copied: every `JobRequest` field but the begin time (`NOT_RERUN`), and the resolved
    fields in `KEPT` (owner, name request, dependency ids, sharing mode, group).
    Not copied: the run name itself (creation names the new id), and everything that
    belongs to the old run (state, reason, times, GPUs, exit status).
    """
    fields = {name: _copy(getattr(source, name)) for name in RERUN}
    fields.update(
        id=new_id,
        state=JobState.QUEUED,
        submitted_at=now,
        env_from=source.env_from if source.env_from is not None else source.id,
    )
    fields.update(overrides)
    return Job(**fields)


def retry_of(failed: Job, new_id: int, now: float) -> Job:
    """The next attempt of a failed job: same lineage root, linked to the attempt it replaces."""
    root = failed.redone_from if failed.redone_from is not None else failed.id
    return rerun(failed, new_id, now, redone_from=root, retried_from=failed.id)


def failed_because_of(job: Job) -> Optional[int]:
    """The dependency whose failure auto-cancelled `job`, if that is how it ended."""
    reason = job.reason or ""
    if job.state is JobState.CANCELLED and reason.startswith(_DEPENDENCY_FAILED):
        tail = reason[len(_DEPENDENCY_FAILED):]
        if tail.isdigit():
            return int(tail)
    return None


def cascade_targets(
    source_id: int,
    cancelled: Iterable[Job],
    may_redo: Callable[[Job], bool] = lambda job: True,
) -> tuple[list[Job], list[Job]]:
    """Jobs `redo --cascade` re-creates: those cancelled by the failure of the source or of a
    job already collected (breadth first, transitively), in ascending id order; and those
    found but refused by `may_redo` (another user's job), whose own dependents are not
    followed since they could never run without it."""
    by_trigger: dict[int, list[Job]] = {}
    for job in cancelled:
        trigger = failed_because_of(job)
        if trigger is not None:
            by_trigger.setdefault(trigger, []).append(job)
    collected: dict[int, Job] = {}
    refused: dict[int, Job] = {}
    queue = deque([source_id])
    while queue:
        parent = queue.popleft()
        for job in by_trigger.get(parent, ()):
            if job.id in collected or job.id in refused or job.id == source_id:
                continue
            if may_redo(job):
                collected[job.id] = job
                queue.append(job.id)
            else:
                refused[job.id] = job
    return [collected[k] for k in sorted(collected)], [refused[k] for k in sorted(refused)]
