"""Retries and redo: what a new attempt copies, how many attempts a job
gets, and which cancelled dependents `gjob redo --cascade` brings back. Pure: the daemon
passes lookups in and applies the result."""
from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Optional

from ..protocol import Job, JobState, Reason

_DEPENDENCY_FAILED = Reason.DEPENDENCY_FAILED.value + ":"


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


# What a new run of a job keeps: what to run, resources, limits, dependencies and their mode,
# run dir, task id, parameters, group, project, notifications, retry budget, owner, name request.
COPIED = (
    "command", "script", "conda_env", "run_dir", "parameters", "task_id", "owner_uid", "user",
    "requested_name", "project", "max_retries", "auto_close_tmux", "notify_emails", "notify_on",
    "depends_on_ids", "dependency_mode", "auto_cancel_on_dependency_failure", "priority", "gpus",
    "gpu_sharing_mode", "gpu_memory_limit_mb", "memory_limit_mb", "time_limit", "group_id",
    "max_concurrent",
)


def _copy(value):
    """Lists and maps are copied: the new job must not share them with its source."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def rerun(source: Job, new_id: int, now: float, **overrides) -> Job:
    """A fresh Queued job doing what `source` did.

    Copied: what to run, resources, limits, dependencies and their mode, run dir, task id,
    parameters, group, project, notifications, retry budget, owner and the name request.
    Not copied: the begin time, the run name itself (creation names the new id), and
    everything that belongs to the old run (state, reason, times, GPUs, exit status).
    """
    fields = {name: _copy(getattr(source, name)) for name in COPIED}
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
