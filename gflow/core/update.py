"""`gjob update` rules: which jobs may change, what a change means, and the
field names reported back. Pure: lookups for dependency checks are passed in."""
from __future__ import annotations

from typing import Any, Callable

import msgspec

from ..protocol import GpuSharing, Job, JobState, UpdateParams
from . import deps as core_deps
from . import jobrules

# A choice, not a copy of the schema: the fields `gjob update` may change (a subset of
# `protocol.JobRequest`, plus the resolved dependency ids), in the order upstream prints
# `UpdatedFields=` in. A new job field is updatable only once it is added here and to
# `UpdateParams`.
FIELDS = (
    "command", "script", "gpus", "conda_env", "priority", "parameters", "time_limit",
    "memory_limit_mb", "gpu_memory_limit_mb", "depends_on_ids", "dependency_mode",
    "auto_cancel_on_dependency_failure", "max_concurrent", "max_retries",
)
UPDATABLE = (JobState.QUEUED, JobState.HOLD)


class UpdateError(ValueError):
    """Why one job was left unchanged; str() is the message for the user."""


def requested(params: UpdateParams) -> dict[str, Any]:
    """The fields an update names (UNSET left out), in upstream's order."""
    return {f: getattr(params, f) for f in FIELDS if getattr(params, f) is not msgspec.UNSET}


def plan(
    job: Job,
    changes: dict[str, Any],
    exists: Callable[[int], bool],
    deps_of: Callable[[int], list[int]],
) -> dict[str, Any]:
    """The new values to assign to `job`, or UpdateError. Nothing is changed here, so a
    refused update leaves the job exactly as it was."""
    if job.state not in UPDATABLE:
        raise UpdateError(
            f"Job {job.id} is in state '{job.state.value}' and cannot be updated. "
            "Only queued or held jobs can be updated."
        )
    new = dict(changes)
    if "command" in new and "script" in new:
        raise UpdateError("Give either a command or a script, not both")
    # A job runs its script or its command, never both: setting one replaces the other,
    # so `--command` on a script job is not silently ignored (upstream 8.19).
    if "command" in new and job.script is not None:
        new["script"] = None
    if "script" in new and job.command is not None:
        new["command"] = None
    if new.get("max_retries", 0) is None:
        new["max_retries"] = 0
    if "gpu_memory_limit_mb" in new:
        shared = job.gpu_sharing_mode is GpuSharing.SHARED
        problem = jobrules.shared_gpu_memory(shared, new["gpu_memory_limit_mb"], existing=True)
        if problem:
            raise UpdateError(problem)
    if "depends_on_ids" in new:
        deps = core_deps.unique(new["depends_on_ids"])
        for dep in deps:
            if not exists(dep):
                raise UpdateError(jobrules.missing_dependency(dep))
        looped = core_deps.find_cycle(job.id, deps, deps_of)
        if looped is not None:
            raise UpdateError(core_deps.cycle_message(job.id, looped))
        new["depends_on_ids"] = deps
    return {f: new[f] for f in FIELDS if f in new}


def changed_fields(values: dict[str, Any]) -> list[str]:
    """What `UpdatedFields=` lists: every field the update set, in upstream's order."""
    return [f for f in FIELDS if f in values]


def apply(job: Job, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(job, name, value)
