"""Dependency rules (SPEC 3.6): when a job may start, and when it never can."""
from __future__ import annotations

from typing import Callable, Optional

from ..protocol import DependencyMode, Job, JobState

SATISFIED = "satisfied"
PENDING = "pending"
IMPOSSIBLE = "impossible"

_FAILURES = {JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT}


def outcome(job: Job, state_of: Callable[[int], Optional[JobState]]) -> tuple[str, Optional[int]]:
    """(verdict, failing dependency id). A vanished dependency counts as failed."""
    deps = job.depends_on_ids
    if not deps:
        return SATISFIED, None
    states = [(d, state_of(d)) for d in deps]
    failed = [d for d, s in states if s is None or s in _FAILURES]
    succeeded = [d for d, s in states if s is JobState.FINISHED]
    if job.dependency_mode is DependencyMode.ANY:
        if succeeded:
            return SATISFIED, None
        if len(failed) == len(deps):
            return IMPOSSIBLE, failed[-1]
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
