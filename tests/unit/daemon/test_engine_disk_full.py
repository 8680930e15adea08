"""Failure: the state disk is full (a fault injected into the store, so this runs without a
tmpfs or root). A refused change leaves memory exactly as stored; an exit that cannot be
recorded stays pending and is recorded once writes succeed again, without a restart."""
from __future__ import annotations

import asyncio
import os

import pytest

from gflow.config import Config, GpuConfig
from gflow.daemon import identity
from gflow.daemon.engine import Engine
from gflow.daemon.executor import ExitStatus
from gflow.daemon.gpu import open_backend
from gflow.daemon.store import DiskFull, JobStore
from gflow.paths import DaemonPaths
from gflow.protocol import ErrorCode, JobSpec, JobState, SubmitParams


class FullableStore(JobStore):
    """The real store, with a switch that makes every write fail as SQLite does on ENOSPC."""

    full = False

    def write(self, *args, **kwargs):
        if self.full:
            raise DiskFull(self.path, "database or disk is full")
        return super().write(*args, **kwargs)


class StubExecutor:
    def __init__(self, on_exit):
        self.on_exit = on_exit
        self.running: set[int] = set()

    def launch(self, spec):
        self.running.add(spec.job_id)
        return 4242, 1.0

    def adopt(self, *a):
        pass

    def collect(self, job_id):
        pass

    def find_unrecorded(self, ids):
        return {}

    def is_watched(self, job_id):
        return job_id in self.running

    def exited(self, job_id, code):
        self.running.discard(job_id)
        self.on_exit(job_id, ExitStatus(exit_code=code, signal=None, started_at=1.0, finished_at=2.0))

    def cleanup(self, job_id):
        pass

    def cancel(self, job_id):
        return True

    timeout = kill = cancel

    def close(self):
        pass


@pytest.fixture
def engine(tmp_path):
    dirs = DaemonPaths("user", str(tmp_path / "s.sock"), str(tmp_path / "state"))
    os.makedirs(dirs.logs_dir)
    store = FullableStore(dirs.database)
    config = Config(gpu=GpuConfig(backend="none"))
    eng = Engine(config, dirs, store, open_backend(config.gpu), StubExecutor)
    eng._later.interval = 0.01
    yield eng
    eng.close()


def _caller():
    uid = os.geteuid()
    return identity.Caller(pid=os.getpid(), uid=uid, gid=os.getegid(), user=identity.user_name(uid), admin=True)


def _submit(engine, hold=False):
    spec = JobSpec(command="true", run_dir="/", hold=hold)
    return engine.submit(_caller(), SubmitParams(jobs=[spec], env={})).jobs[0][0]


async def _settled():
    for _ in range(3):
        await asyncio.sleep(0)


def test_a_refused_change_leaves_memory_as_stored(engine):
    async def main():
        engine.start()
        held = _submit(engine, hold=True)
        engine.store.full = True
        with pytest.raises(DiskFull) as refused:
            engine.release(_caller(), [held], None)
        assert refused.value.code == ErrorCode.DISK_FULL and refused.value.message.startswith("state disk full: ")
        assert engine.jobs[held].state is JobState.HOLD, "a release refused for a full disk changed the job anyway"
        with pytest.raises(DiskFull):
            engine.submit(_caller(), SubmitParams(jobs=[JobSpec(command="true", run_dir="/")], env={}))
        assert list(engine.jobs) == [held] and engine.next_id == held + 1, "a refused submission left a job behind"
        with pytest.raises(DiskFull):
            engine.cancel(_caller(), [held])
        assert engine.jobs[held].state is JobState.HOLD and held not in engine._terminal_states
        engine.store.full = False
        assert engine.release(_caller(), [held], None).done == [held]

    asyncio.run(main())


def test_an_exit_on_a_full_disk_is_recorded_once_space_returns(engine):
    async def main():
        engine.start()
        job_id = _submit(engine)
        await _settled()
        assert engine.jobs[job_id].state is JobState.RUNNING
        engine.store.full = True
        engine.executor.exited(job_id, 0)
        assert engine.jobs[job_id].state is JobState.RUNNING, "an exit that could not be saved was kept only in memory"
        assert engine.store.state_of(job_id) is JobState.RUNNING
        await asyncio.sleep(0.05)  # retries while the disk stays full
        assert engine.find(job_id).state is JobState.RUNNING
        engine.store.full = False
        (job,) = await engine.wait([job_id], timeout=10)
        assert job.state is JobState.FINISHED and job.exit_code == 0, "the exit was not recorded once space returned"
        assert engine.store.state_of(job_id) is JobState.FINISHED

    asyncio.run(main())
