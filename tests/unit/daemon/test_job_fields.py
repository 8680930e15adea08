"""Every `protocol.JobRequest` field survives the daemon's own path: a submission's checks and
commit, the store, and a `gjob redo` of the job."""
from __future__ import annotations

import asyncio

import pytest

from gflow.core import lineage
from gflow.protocol import JobState, RedoParams, SubmitParams

from engine_stub import call, caller, cancel, make_engine, settled
from job_samples import requested_values, spec_with


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(tmp_path)
    yield eng
    eng.close()


@pytest.mark.parametrize("runs", ["command", "script"])  # a job runs one or the other
def test_every_requested_field_is_stored_and_redone(engine, tmp_path, runs):
    values = requested_values(run_dir=str(tmp_path))
    values["script" if runs == "command" else "command"] = None
    spec = spec_with(values, hold=True, allow_pending=True)  # 7 GPUs: not on this machine

    async def submit_cancel_redo():
        engine.start()
        job_id = engine.creation.submit(caller(), SubmitParams(jobs=[spec], env={})).jobs[0][0]
        stored = engine.store.get(job_id)
        assert cancel(engine, [job_id]).done == [job_id]
        redone = call(engine, "jobs.redo", RedoParams(ref=str(job_id), allow_pending=True)).job.id
        await settled()
        return stored, engine.store.get(redone)

    stored, redone = asyncio.run(submit_cancel_redo())
    assert stored.state is JobState.HOLD and redone.redone_from == stored.id
    for name, value in values.items():
        assert getattr(stored, name) == value, f"submit loses {name}"
        if name not in lineage.NOT_RERUN:
            assert getattr(redone, name) == value, f"a redo loses {name}"
