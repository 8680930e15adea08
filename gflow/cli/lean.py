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
