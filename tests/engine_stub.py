"""The daemon's object graph (app.build: job table, scheduling, lifecycle, creation, policy)
on an in-memory store, with a stub executor (no processes) and a switch that makes the
store's writes fail as on a full disk: for the daemon's unit tests."""
from __future__ import annotations

import asyncio
import os

from gflow.config import Config, GpuConfig
from gflow.daemon import identity
from gflow.daemon.app import App, build
from gflow.daemon.executors.base import ExitStatus
from gflow.daemon.gpu import open_backend
from gflow.daemon.store import MEMORY, DiskFull, JobStore
from gflow.paths import DaemonPaths
from gflow.protocol import JobSpec, SubmitParams


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
        self.stopped = []
        self.fail_launch = None  # an exception the next launch raises

    def launch(self, spec):
        if self.fail_launch is not None:
            error, self.fail_launch = self.fail_launch, None
            raise error
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

    remove_files = cleanup

    stopped: list  # (how, job id) per stop request, in order

    def cancel(self, job_id):
        self.stopped.append(("cancel", job_id))
        return True

    def timeout(self, job_id):
        self.stopped.append(("timeout", job_id))
        return True

    def kill(self, job_id):
        self.stopped.append(("kill", job_id))
        return True

    def close(self):
        pass


def make_engine(tmp_path) -> App:
    dirs = DaemonPaths("user", str(tmp_path / "s.sock"), str(tmp_path / "state"))
    os.makedirs(dirs.logs_dir)
    store = FullableStore(MEMORY)  # the state lives in memory: no file, no fsync
    config = Config(gpu=GpuConfig(backend="none"))
    return build(config, dirs, store, open_backend(config.gpu), StubExecutor)


def caller():
    uid = os.geteuid()
    return identity.Caller(pid=os.getpid(), uid=uid, gid=os.getegid(), user=identity.user_name(uid), admin=True)


def submit(engine, hold=False, **fields):
    spec = JobSpec(command="true", run_dir="/", hold=hold, **fields)
    return engine.creation.submit(caller(), SubmitParams(jobs=[spec], env={})).jobs[0][0]


async def settled():
    for _ in range(3):
        await asyncio.sleep(0)


def context(engine: App):
    """The handlers' Context over the graph (no GPU poll, log reader, stop or reload)."""
    from gflow.daemon.dispatch import Context

    def unused():
        raise AssertionError("not reached in these tests")

    return Context.of(engine, None, None, unused, unused)


def call(engine, method: str, params, who=None):
    """An RPC method as the daemon runs it: its handler, with the graph as its context."""
    from gflow.daemon import handlers

    return handlers.load()[method].fn(context(engine), who or caller(), params)


def cancel(engine, ids, who=None):
    from gflow.protocol import IdsParams

    return call(engine, "jobs.cancel", IdsParams(ids=list(ids)), who)


def hold(engine, ids, who=None):
    from gflow.protocol import IdsParams

    return call(engine, "jobs.hold", IdsParams(ids=list(ids)), who)


def release(engine, ids, at=None, who=None):
    from gflow.protocol import ReleaseParams

    return call(engine, "jobs.release", ReleaseParams(ids=list(ids), at=at), who)
