"""The lean codec of the CLI's hot path agrees with msgspec, so it cannot drift from the schema."""
from __future__ import annotations

import msgspec
import pytest

from gflow import protocol, wire
from gflow.cli import lean

VALUES = [
    None, True, False, 0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63),
    0.0, 1.5, -2.25, 1e300, "", "a", "x" * 31, "x" * 32, "é" * 200, "y" * 70000,
    b"", b"\x00\xff", b"z" * 300, b"z" * 70000,
    [], [1, "a", None], list(range(20)), list(range(70000)),
    {}, {"a": 1}, {str(i): i for i in range(20)}, {"nested": {"list": [{"k": [1.5, None]}]}},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:30])
def test_same_bytes_as_msgspec_and_back(value):
    packed = wire.packb(value)
    assert packed == msgspec.msgpack.encode(value)
    assert wire.unpackb(packed) == value
    assert wire.unpackb(msgspec.msgpack.encode(value)) == value


def test_tuples_pack_as_arrays_and_errors_are_wire_errors():
    assert wire.packb((1, "a")) == msgspec.msgpack.encode([1, "a"])
    for bad in (b"", b"\x92\x01", b"\xa5abc", b"\xc1", b"\x01\x02", b"\xd4\x00\x00"):
        with pytest.raises(wire.WireError):
            wire.unpackb(bad)
    with pytest.raises(TypeError):
        wire.packb(object())


def _roundtrip(params: dict, struct_type):
    """The lean map decodes into the Struct (unknown fields are forbidden there), and encodes
    exactly as msgspec encodes that Struct."""
    decoded = msgspec.msgpack.decode(wire.packb(params), type=struct_type)
    assert wire.packb(params) == msgspec.msgpack.encode(decoded)
    return decoded


def test_lean_requests_are_the_protocol_structs():
    assert _roundtrip(lean.list_params(["Queued", "Running"], ["ann"], [1, 2], 5.5), protocol.ListParams) == \
        protocol.ListParams(states=[protocol.JobState.QUEUED, protocol.JobState.RUNNING], users=["ann"], ids=[1, 2], since=5.5)
    assert _roundtrip(lean.list_params(), protocol.ListParams) == protocol.ListParams()
    assert _roundtrip(lean.ids_params([3, 4]), protocol.IdsParams) == protocol.IdsParams(ids=[3, 4])
    assert _roundtrip(lean.job_ref("@~2"), protocol.JobRef) == protocol.JobRef(ref="@~2")
    hello = {"protocol": wire.PROTOCOL_VERSION, "client": "gflow"}  # what Client.connect sends
    assert _roundtrip(hello, protocol.Hello) == protocol.Hello(protocol=protocol.PROTOCOL_VERSION)


def test_lean_submission_decodes_into_submit_params():
    job = dict(command="true", script=None, gpus=1, shared=False, priority=10, conda_env=None,
               auto_cancel_on_dependency_failure=True, max_retries=0, auto_close_tmux=False,
               hold=True, name="x", run_dir="/tmp", depends_on=["@"], dependency_mode="Any")
    params = msgspec.msgpack.decode(wire.packb(lean.submit_params([job], {"A": "1"}, 2)), type=protocol.SubmitParams)
    assert params.env == {"A": "1"} and params.group_max_concurrent == 2
    assert params.jobs[0] == protocol.JobSpec(**dict(job, dependency_mode=protocol.DependencyMode.ANY))


def test_replies_split_and_decode_like_msgspec():
    job = protocol.Job(id=3, command="true", user="ann", submitted_at=1.5, state=protocol.JobState.RUNNING)
    for result in ([], [job], protocol.SubmitResult(jobs=[(3, "gjob-3")]), protocol.ActionResult(done=[1], errors=[(2, "no")])):
        frame = msgspec.msgpack.encode(protocol.Response(id=7, result=result))
        envelope, raw = wire.split_reply(frame)
        assert envelope == {"id": 7}
        assert wire.unpackb(raw) == msgspec.msgpack.decode(msgspec.msgpack.encode(result))
    assert lean.decode_jobs(wire.split_reply(msgspec.msgpack.encode(protocol.Response(id=1, result=[job])))[1]) == [job]
    assert lean.decode_jobs(lean.EMPTY_ARRAY) == []
    error = msgspec.msgpack.encode(protocol.Response(id=2, error=protocol.RpcError(code="not_found", message="Job 9 not found")))
    envelope, raw = wire.split_reply(error)
    assert raw is None and envelope["error"] == {"code": "not_found", "message": "Job 9 not found"}


def test_state_table_matches_the_enum():
    from gflow.core import states

    assert [s.value for s in protocol.JobState] == [name for name, _ in states.STATES]
    assert {s.value: s.code for s in protocol.JobState} == states.CODES
    assert protocol.JobState.parse("cd") is protocol.JobState.FINISHED


def test_job_view_reads_like_the_job_struct():
    """The lean view of a job (what `gjob show` renders) fills in exactly the Struct's defaults."""
    # regenerate with: python -m gflow.cli.fastargs
    expected = {}
    exec(lean.job_defaults_source(), expected)
    assert lean.JOB_DEFAULTS == expected["JOB_DEFAULTS"]
    assert set(lean.JOB_DEFAULTS) == {f.name for f in msgspec.structs.fields(protocol.Job) if not f.required}
    job = protocol.Job(id=4, command="echo {a}", parameters={"a": "1"}, state=protocol.JobState.FINISHED,
                       exit_code=0, started_at=10.0, finished_at=12.0, submitted_at=9.0, depends_on_ids=[2],
                       gpu_sharing_mode=protocol.GpuSharing.SHARED, gpu_memory_limit_mb=1024)
    view = lean.decode_job_view(msgspec.msgpack.encode(job))
    from gflow.cli.render.show import job_show

    assert job_show(view, 20.0) == job_show(job, 20.0)
    assert view.priority == 10 and view.state == "Finished"
