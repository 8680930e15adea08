"""Requests of the CLI's hot commands as plain maps, for `Client.call_lean`.

Each builder returns exactly the fields of a `gflow.protocol` params Struct (the one schema);
tests decode every builder's output into its Struct with msgspec (unknown fields forbidden),
so a renamed or retyped field fails there rather than on the wire.
"""
from __future__ import annotations

EMPTY_ARRAY = b"\x90"  # msgpack for []


def list_params(states=None, users=None, ids=None, since=None) -> dict:
    """`protocol.ListParams`."""
    return {"states": states, "users": users, "ids": ids, "since": since}


def ids_params(ids) -> dict:
    """`protocol.IdsParams`."""
    return {"ids": list(ids)}


def job_ref(ref) -> dict:
    """`protocol.JobRef`."""
    return {"ref": str(ref)}


def submit_params(jobs: list[dict], env: dict | None, group_max_concurrent: int | None) -> dict:
    """`protocol.SubmitParams`; each job holds `protocol.JobSpec` fields (run_dir required)."""
    return {"jobs": jobs, "env": env, "group_max_concurrent": group_max_concurrent}


def decode(raw: bytes):
    """A result as plain values (lists, maps, str, int, float, bytes)."""
    from ..wire import unpackb

    return unpackb(raw)


def decode_jobs(raw: bytes) -> list:
    """A `list[protocol.Job]` result; msgspec is only imported when there is a job to show."""
    if raw == EMPTY_ARRAY:
        return []
    import msgspec

    from ..protocol import Job

    return msgspec.msgpack.decode(raw, type=list[Job])


def decode_job(raw: bytes):
    import msgspec

    from ..protocol import Job

    return msgspec.msgpack.decode(raw, type=Job)


# `protocol.Job`'s defaults, enums as their values: the daemon leaves default fields out of
# the wire (omit_defaults), so a view must fill them in. A test compares this with the Struct.
JOB_DEFAULTS = {
    "state": "Queued", "reason": None, "command": None, "script": None, "conda_env": None,
    "run_dir": "/", "parameters": {}, "task_id": None, "owner_uid": -1, "user": "unknown",
    "run_name": "", "requested_name": None, "project": None, "redone_from": None,
    "retried_from": None, "max_retries": 0, "auto_close_tmux": False, "notify_emails": [],
    "notify_on": [], "depends_on_ids": [], "dependency_mode": "All",
    "auto_cancel_on_dependency_failure": True, "scheduled_at": None, "priority": 10, "gpus": 0,
    "gpu_sharing_mode": "Exclusive", "gpu_memory_limit_mb": None, "memory_limit_mb": None,
    "time_limit": None, "gpu_ids": None, "group_id": None, "max_concurrent": None,
    "submitted_at": 0.0, "started_at": None, "finished_at": None, "exit_code": None,
    "exit_signal": None, "cpu_secs": None, "runner_pid": None, "runner_started": None,
    "alive": None, "env_from": None, "planned_start": None,
}


class JobView:
    """A job as plain values with `protocol.Job`'s attribute names (enums are their string
    values): what `gjob show` renders without importing msgspec."""

    __slots__ = ("_values",)

    def __init__(self, values: dict):
        self._values = values

    def __getattr__(self, name: str):
        values = self._values
        if name in values:
            return values[name]
        if name in JOB_DEFAULTS:
            return JOB_DEFAULTS[name]
        raise AttributeError(name)


def decode_job_view(raw: bytes) -> JobView:
    from ..wire import unpackb

    values = unpackb(raw)
    if not isinstance(values, dict) or "id" not in values:
        raise ValueError("gflowd sent something that is not a job")
    return JobView(values)
