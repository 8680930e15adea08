"""Dependency verdicts (SPEC 3.6), cycles, and rewriting dependency lists."""
from __future__ import annotations

import pytest

from gflow.core import deps
from gflow.protocol import DependencyMode, Job, JobState

Q, H, R = JobState.QUEUED, JobState.HOLD, JobState.RUNNING
CD, F, CA, TO = JobState.FINISHED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT


def verdict(dep_states: dict[int, JobState | None], mode=DependencyMode.ALL):
    job = Job(id=100, depends_on_ids=list(dep_states), dependency_mode=mode)
    return deps.outcome(job, dep_states.get)


def test_no_dependencies_is_satisfied():
    assert deps.outcome(Job(id=1), lambda _: None) == (deps.SATISFIED, None)


@pytest.mark.parametrize(
    "states,expected",
    [
        ({1: CD}, (deps.SATISFIED, None)),
        ({1: CD, 2: CD}, (deps.SATISFIED, None)),
        ({1: CD, 2: Q}, (deps.PENDING, None)),
        ({1: R, 2: H}, (deps.PENDING, None)),
        ({1: CD, 2: F}, (deps.IMPOSSIBLE, 2)),
        ({1: CA, 2: TO}, (deps.IMPOSSIBLE, 1)),  # the first failed one in the list
        ({1: Q, 2: TO}, (deps.IMPOSSIBLE, 2)),  # one failure is enough, others pending
        ({1: CD, 2: None}, (deps.IMPOSSIBLE, 2)),  # a vanished dependency counts as failed
    ],
)
def test_mode_all(states, expected):
    assert verdict(states) == expected


@pytest.mark.parametrize(
    "states,expected",
    [
        ({1: Q, 2: CD}, (deps.SATISFIED, None)),
        ({1: F, 2: CD}, (deps.SATISFIED, None)),  # one success is enough
        ({1: F, 2: R}, (deps.PENDING, None)),  # a failure is not final while one may succeed
        ({1: Q, 2: H}, (deps.PENDING, None)),
        ({1: F, 2: CA, 3: TO}, (deps.IMPOSSIBLE, 1)),  # all terminal, none succeeded
    ],
)
def test_mode_any(states, expected):
    assert verdict(states, DependencyMode.ANY) == expected


def graph(edges: dict[int, list[int]]):
    return lambda job_id: edges.get(job_id, [])


def test_find_cycle_direct_and_transitive():
    # 3 -> 2 -> 1 (3 depends on 2, 2 on 1)
    edges = {3: [2], 2: [1]}
    assert deps.find_cycle(1, [3], graph(edges)) == 3  # 1 -> 3 -> 2 -> 1
    assert deps.find_cycle(1, [2], graph(edges)) == 2
    assert deps.find_cycle(3, [1], graph(edges)) is None  # 3 -> 1 adds no loop
    assert deps.find_cycle(5, [5], graph(edges)) == 5  # a job on itself


def test_find_cycle_reports_the_offending_dependency_and_survives_diamonds():
    edges = {4: [2, 3], 3: [1], 2: [1]}
    assert deps.find_cycle(1, [7, 4], graph(edges)) == 4
    assert deps.find_cycle(9, [4, 4], graph(edges)) is None
    loop = {1: [2], 2: [1]}  # an existing loop elsewhere must not hang the search
    assert deps.find_cycle(3, [1], graph(loop)) is None


def test_cycle_message_is_spec_text():
    assert deps.cycle_message(5, 7) == (
        "Circular dependency detected: Job 5 depends on Job 7, which has a path back to Job 5"
    )


def test_remap_replaces_and_deduplicates_in_order():
    assert deps.remap([1, 2, 3], {2: 9}) == [1, 9, 3]
    assert deps.remap([1, 2, 9], {2: 9}) == [1, 9]  # retry already listed: once
    assert deps.remap([4, 5], {4: 10, 5: 11}) == [10, 11]
    assert deps.remap([], {1: 2}) == []
    assert deps.unique([3, 1, 3, 2, 1]) == [3, 1, 2]
