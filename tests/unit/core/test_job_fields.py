"""A job field is declared once (`protocol.JobRequest`) and every copy carries it: a request to
its job, the job through the store, and on to its retries and redos."""
from __future__ import annotations

import msgspec
import pytest

from gflow.core import lineage
from gflow.protocol import Job, JobRequest, JobSpec, JobState, RedoParams

from job_samples import requested_values, spec_with

REQUESTED = set(JobRequest.__struct_fields__)


def default_of(name: str):
    field = next(f for f in msgspec.structs.fields(Job) if f.name == name)
    return field.default if field.default_factory is msgspec.NODEFAULT else field.default_factory()


def submitted(spec: JobSpec, job_id: int) -> Job:
    """As the daemon makes a job of a checked request (the project as its policy accepts it)."""
    return lineage.submitted(spec, job_id, 10.0, owner_uid=1000, user="alice", requested_name=None,
                             project=spec.project, depends_on_ids=[])


def test_every_requested_field_goes_from_the_request_to_the_job_and_its_new_runs():
    values = requested_values()
    spec = spec_with(values, hold=True)
    job = submitted(spec, 1)
    job = msgspec.msgpack.decode(msgspec.msgpack.encode(job), type=Job)  # as stored, as listed
    retry = lineage.retry_of(job, 2, 20.0)
    redo = lineage.rerun(job, 3, 20.0, redone_from=1)
    for name, value in values.items():
        assert getattr(job, name) == value, f"submit loses {name}"
        if name in lineage.NOT_RERUN:
            assert getattr(retry, name) == getattr(redo, name) == default_of(name), name
        else:
            assert getattr(retry, name) == value, f"a retry loses {name}"
            assert getattr(redo, name) == value, f"a redo loses {name}"
    assert (job.state, retry.state, redo.state) == (JobState.HOLD, JobState.QUEUED, JobState.QUEUED)


def test_new_runs_copy_lists_and_maps_rather_than_share_them():
    job = submitted(spec_with(requested_values()), 1)
    retry = lineage.retry_of(job, 2, 0.0)
    for name in REQUESTED:
        value = getattr(job, name)
        if isinstance(value, (list, dict)):
            assert getattr(retry, name) == value and getattr(retry, name) is not value, name


def test_a_redo_overrides_the_requested_fields_its_params_name():
    params = RedoParams(ref="1", gpus=3, priority=40, time_limit=60, memory_limit_mb=512,
                        gpu_memory_limit_mb=1024, conda_env="torch", cascade=True)
    assert lineage.redo_overrides(params) == {
        "gpus": 3, "priority": 40, "time_limit": 60, "memory_limit_mb": 512,
        "gpu_memory_limit_mb": 1024, "conda_env": "torch",
    }
    assert lineage.redo_overrides(RedoParams(ref="1")) == {}


# What only a request carries: the daemon resolves or acts on it once. A field added to
# JobSpec alone would be dropped at submission; it belongs in JobRequest unless it is one of these.
REQUEST_ONLY = {"env", "name", "shared", "depends_on", "hold", "allow_pending"}
# Job fields beyond the request that a new run starts afresh (its own id, run and lineage)
RUN_STATE = {
    "id", "state", "reason", "run_name", "redone_from", "retried_from", "gpu_ids", "submitted_at",
    "started_at", "finished_at", "exit_code", "exit_signal", "cpu_secs", "runner_pid",
    "runner_started", "alive", "planned_start", "env_from",
}


def test_every_job_field_has_a_place():
    assert set(JobSpec.__struct_fields__) - REQUESTED == REQUEST_ONLY, \
        "a JobSpec field outside JobRequest is never stored: declare it in JobRequest"
    job_only = set(Job.__struct_fields__) - REQUESTED
    assert job_only == set(lineage.KEPT) | RUN_STATE, \
        "say whether a new Job field is kept by a retry or redo (lineage.KEPT) or run state"
    assert set(lineage.KEPT).isdisjoint(RUN_STATE)


def test_a_stored_job_is_read_back_without_the_requests_bounds():
    """A request is checked as it decodes; a stored row is not refused for a bound (a group
    held at 0, a value from an older version): one bad row would break every listing. And
    a row leaves the default run dir out, which a request must give."""
    stored = msgspec.msgpack.encode(Job(id=1, group_id="g", max_concurrent=0, priority=300, project="p" * 600))
    assert b"run_dir" not in stored
    job = msgspec.msgpack.decode(stored, type=Job)
    assert (job.max_concurrent, job.priority, len(job.project), job.run_dir) == (0, 300, 600, "/")
    request = {"command": "true", "run_dir": "/"}
    for field, value in (("max_concurrent", 0), ("priority", 300), ("project", "p" * 600)):
        with pytest.raises(msgspec.ValidationError, match=field):
            msgspec.convert({**request, field: value}, JobSpec)
    with pytest.raises(msgspec.ValidationError, match="run_dir"):
        msgspec.convert({"command": "true"}, JobSpec)
    assert isinstance(job, JobRequest) and isinstance(JobSpec(run_dir="/"), JobRequest)
