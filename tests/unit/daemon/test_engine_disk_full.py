"""Failure: the state disk is full (a fault injected into the store, so this runs without a
tmpfs or root). A refused change leaves memory exactly as stored; an exit that cannot be
recorded stays pending and is recorded once writes succeed again, without a restart."""
from __future__ import annotations

import asyncio

import pytest

from gflow.daemon.store import DiskFull
from gflow.protocol import ErrorCode, JobSpec, JobState, SubmitParams

from engine_stub import cancel as _cancel, caller as _caller, make_engine, release, settled, submit as _submit


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(tmp_path)
    eng.later.interval = 0.01
    yield eng
    eng.close()


def test_a_refused_change_leaves_memory_as_stored(engine):
    async def main():
        engine.start()
        held = _submit(engine, hold=True)
        engine.store.full = True
        with pytest.raises(DiskFull) as refused:
            release(engine, [held])
        assert refused.value.code == ErrorCode.DISK_FULL and refused.value.message.startswith("state disk full: ")
        assert engine.table.jobs[held].state is JobState.HOLD, "a release refused for a full disk changed the job anyway"
        with pytest.raises(DiskFull):
            engine.creation.submit(_caller(), SubmitParams(jobs=[JobSpec(command="true", run_dir="/")], env={}))
        assert list(engine.table.jobs) == [held] and engine.table.next_id == held + 1, "a refused submission left a job behind"
        with pytest.raises(DiskFull):
            _cancel(engine, [held])
        assert engine.table.jobs[held].state is JobState.HOLD and held not in engine.table._terminal_states
        engine.store.full = False
        assert release(engine, [held]).done == [held]

    asyncio.run(main())


def test_an_exit_on_a_full_disk_is_recorded_once_space_returns(engine):
    async def main():
        engine.start()
        job_id = _submit(engine)
        await settled()
        assert engine.table.jobs[job_id].state is JobState.RUNNING
        engine.store.full = True
        engine.executor.exited(job_id, 0)
        assert engine.table.jobs[job_id].state is JobState.RUNNING, "an exit that could not be saved was kept only in memory"
        assert engine.store.state_of(job_id) is JobState.RUNNING
        await asyncio.sleep(0.05)  # retries while the disk stays full
        assert engine.table.find(job_id).state is JobState.RUNNING
        engine.store.full = False
        (job,) = await engine.lifecycle.wait([job_id], timeout=10)
        assert job.state is JobState.FINISHED and job.exit_code == 0, "the exit was not recorded once space returned"
        assert engine.store.state_of(job_id) is JobState.FINISHED

    asyncio.run(main())
