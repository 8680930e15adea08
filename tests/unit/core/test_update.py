"""`gjob update` rules: state, shared GPU memory, command/script, dependencies, field order."""
from __future__ import annotations

import msgspec
import pytest

from gflow.core import update
from gflow.protocol import DependencyMode, GpuSharing, Job, JobState, UpdateParams


def plan(job: Job, existing=(1, 2, 3, 4, 5), edges=None, **changes):
    edges = edges or {}
    return update.plan(job, changes, lambda d: d in existing, lambda d: edges.get(d, []))


@pytest.mark.parametrize("state", [JobState.RUNNING, JobState.FINISHED, JobState.FAILED,
                                   JobState.CANCELLED, JobState.TIMEOUT])
def test_only_queued_or_held_jobs_change(state):
    with pytest.raises(update.UpdateError) as e:
        plan(Job(id=3, state=state), priority=5)
    assert str(e.value) == (
        f"Job 3 is in state '{state.value}' and cannot be updated. Only queued or held jobs can be updated."
    )


def test_values_come_back_in_spec_order():
    values = plan(Job(id=3, state=JobState.HOLD), max_retries=1, priority=5, gpus=2, command="x")
    assert update.changed_fields(values) == ["command", "gpus", "priority", "max_retries"]


def test_shared_job_keeps_its_gpu_memory_limit():
    job = Job(id=3, gpus=1, gpu_sharing_mode=GpuSharing.SHARED, gpu_memory_limit_mb=100)
    with pytest.raises(update.UpdateError, match="Shared jobs must keep a GPU memory limit"):
        plan(job, gpu_memory_limit_mb=None)
    with pytest.raises(update.UpdateError, match=r"^Shared jobs need a GPU memory limit above 0"):
        plan(job, gpu_memory_limit_mb=0)
    assert plan(job, gpu_memory_limit_mb=200) == {"gpu_memory_limit_mb": 200}
    assert plan(Job(id=4), gpu_memory_limit_mb=None) == {"gpu_memory_limit_mb": None}


def test_command_and_script_replace_each_other():
    assert plan(Job(id=3, script="/a.sh"), command="echo hi") == {"command": "echo hi", "script": None}
    assert plan(Job(id=3, command="echo"), script="/b.sh") == {"command": None, "script": "/b.sh"}
    with pytest.raises(update.UpdateError):
        plan(Job(id=3, command="echo"), script="/b.sh", command="x")


def test_clearing_max_retries_means_zero():
    assert plan(Job(id=3, max_retries=4), max_retries=None) == {"max_retries": 0}


def test_dependencies_must_exist_and_not_loop():
    job = Job(id=3)
    with pytest.raises(update.UpdateError, match="^Dependency job 9 does not exist$"):
        plan(job, depends_on_ids=[1, 9])
    with pytest.raises(update.UpdateError) as e:
        plan(job, edges={5: [4], 4: [3]}, depends_on_ids=[1, 5])
    assert str(e.value) == (
        "Circular dependency detected: Job 3 depends on Job 5, which has a path back to Job 3"
    )
    with pytest.raises(update.UpdateError, match="Job 3 depends on Job 3"):
        plan(job, existing=(3,), depends_on_ids=[3])
    values = plan(job, depends_on_ids=[2, 1, 2], dependency_mode=DependencyMode.ANY)
    assert values == {"depends_on_ids": [2, 1], "dependency_mode": DependencyMode.ANY}


def test_a_refused_plan_changes_nothing():
    job = Job(id=3, priority=7)
    before = msgspec.structs.asdict(job)
    with pytest.raises(update.UpdateError):
        plan(job, priority=50, depends_on_ids=[99])
    assert msgspec.structs.asdict(job) == before


def test_requested_reads_only_the_fields_sent():
    params = UpdateParams(ids=[1], priority=3, time_limit=None)
    assert update.requested(params) == {"priority": 3, "time_limit": None}
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(params), type=UpdateParams)
    assert update.requested(decoded) == {"priority": 3, "time_limit": None}
    with pytest.raises(msgspec.ValidationError, match="priority"):
        msgspec.msgpack.decode(msgspec.msgpack.encode({"ids": [1], "priority": 256}), type=UpdateParams)
