"""Helpers for the tests that run the process executor with real shepherds."""
from __future__ import annotations

import asyncio
import os
import pwd
import time
from pathlib import Path

import psutil

from gflow.daemon.executors.base import ExitStatus, RunSpec

WAIT = 15.0  # upper bound for any single awaited event


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def make_spec(tmp: Path, job_id: int, argv: list[str], **kw) -> RunSpec:
    fields = dict(
        job_id=job_id, argv=argv, cwd=str(tmp),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GFLOW_TEST": "yes"},
        uid=os.getuid(), gid=os.getgid(), user=pwd.getpwuid(os.getuid()).pw_name,
        drop_privileges=False, log_path=str(tmp / f"{job_id}.log"), grace_secs=5.0,
    )
    fields.update(kw)
    return RunSpec(**fields)


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


class Exits:
    """on_exit callback that turns each job's exit into an awaitable future."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.futures: dict[int, asyncio.Future] = {}
        self.calls: list[int] = []

    def _future(self, job_id: int) -> asyncio.Future:
        return self.futures.setdefault(job_id, self.loop.create_future())

    def __call__(self, job_id: int, status: ExitStatus) -> None:
        self.calls.append(job_id)
        fut = self._future(job_id)
        if not fut.done():
            fut.set_result(status)

    async def wait(self, job_id: int, timeout: float = WAIT) -> ExitStatus:
        return await asyncio.wait_for(asyncio.shield(self._future(job_id)), timeout)


async def wait_for_text(path: Path, text: str, timeout: float = WAIT) -> None:
    """The job's readiness is only visible in its log; poll it under a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if text in path.read_text():
                return
        except FileNotFoundError:
            pass
        await asyncio.sleep(0.01)
    raise AssertionError(f"{text!r} never appeared in {path}")


def wait_gone(pid: int, timeout: float = WAIT) -> bool:
    """True once pid is dead (gone or a zombie waiting for init)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.01)
    return False
