"""Dependency rules: when a job may start, when it never can, and how dependency
lists are rewritten when the jobs they name are replaced (retries, redo --cascade)."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Optional

from ..protocol import DependencyMode, Job, JobState

SATISFIED = "satisfied"
PENDING = "pending"
IMPOSSIBLE = "impossible"

_FAILURES = {JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT}


def outcome(job: Job, state_of: Callable[[int], Optional[JobState]]) -> tuple[str, Optional[int]]:
    """(verdict, failing dependency id). A vanished dependency counts as failed.

    The id is the first failed dependency in the list (what upstream reports for a job judged
    at submission or release); the cascade of a live failure names its own trigger instead.
    """
    deps = job.depends_on_ids
    if not deps:
        return SATISFIED, None
    states = [(d, state_of(d)) for d in deps]
    failed = [d for d, s in states if s is None or s in _FAILURES]
    succeeded = [d for d, s in states if s is JobState.FINISHED]
    if job.dependency_mode is DependencyMode.AFTER_ANY:
        ended = len(failed) + len(succeeded)
        return (SATISFIED, None) if ended == len(deps) else (PENDING, None)
    if job.dependency_mode is DependencyMode.AFTER_NOT_OK:
        if succeeded:  # it was waiting for a failure that can no longer happen
            return IMPOSSIBLE, succeeded[0]
        return (SATISFIED, None) if len(failed) == len(deps) else (PENDING, None)
    if job.dependency_mode is DependencyMode.ANY:
        if succeeded:
            return SATISFIED, None
        if len(failed) == len(deps):
            return IMPOSSIBLE, failed[0]
        return PENDING, None
    if failed:
        return IMPOSSIBLE, failed[0]
    if len(succeeded) == len(deps):
        return SATISFIED, None
    return PENDING, None


def find_cycle(job_id: int, new_deps: list[int], deps_of: Callable[[int], list[int]]) -> Optional[int]:
    """The first of `new_deps` from which `job_id` is reachable (a cycle), else None."""
    for start in new_deps:
        seen: set[int] = set()
        stack = [start]
        while stack:
            current = stack.pop()
            if current == job_id:
                return start
            if current in seen:
                continue
            seen.add(current)
            stack.extend(deps_of(current))
    return None


def cycle_message(job_id: int, dep: int) -> str:
    return (
        f"Circular dependency detected: Job {job_id} depends on Job {dep}, "
        f"which has a path back to Job {job_id}"
    )


def unique(ids: Iterable[int]) -> list[int]:
    """Ids in first-seen order without repeats."""
    return list(dict.fromkeys(ids))


def remap(deps: list[int], mapping: Mapping[int, int]) -> list[int]:
    """Dependencies with every id in `mapping` replaced by its new id, duplicates dropped:
    a retry takes its failed attempt's place, a cascaded redo its old job's."""
    return unique(mapping.get(d, d) for d in deps)
