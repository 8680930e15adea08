"""The GPU process poll: who runs on each GPU, asked off the loop and applied on it.

NVML offers no events, so the driver is asked (in a worker thread):
- every `daemon.gpu_poll_interval_secs`, all GPUs;
- at once after GPU jobs start, all GPUs, so the picture never lags a launch;
- at once for each GPU a job gives back, that GPU only: it stays unavailable until this
  answer comes (see `gpu.GpuBackend.freed`), so it is never handed on beside a process
  (the ended job's leftover, a foreign one) that the last full poll could not see.
The poll survives every error: a failure is logged (at most once a minute, unless the
message changes) and kept for `gflowd status`, and the next round tries again.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Callable, Optional, Protocol

from ..protocol import Job
from .events import EventBus, GpusFreed, Started
from .gpu import GpuBackend, Query

if TYPE_CHECKING:
    from .policy import Policy


class GpuHolders(Protocol):
    """What the poll reads of the job table: which jobs hold which GPU."""

    def gpu_holders(self) -> dict[int, Job]: ...

    def gpu_holders_all(self) -> dict[int, list[Job]]: ...

log = logging.getLogger("gflow.gpu")

LOG_EVERY_SECS = 60.0


def process_trees(runners: dict[int, list[int]]) -> dict[int, set[int]]:
    """GPU -> pids of its holders' process trees (shepherd and descendants). Worker thread."""
    import psutil

    trees: dict[int, set[int]] = {}
    seen: dict[int, set[int]] = {}
    for gpu, pids in runners.items():
        tree: set[int] = set()
        for pid in pids:
            if pid not in seen:
                found = {pid}
                try:
                    found.update(c.pid for c in psutil.Process(pid).children(recursive=True))
                except psutil.Error:
                    pass
                seen[pid] = found
            tree |= seen[pid]
        trees[gpu] = tree
    return trees


class GpuPoll:
    def __init__(
        self, holders: "GpuHolders", backend: GpuBackend, events: EventBus,
        request_pass: Callable[[], None], policy: "Policy", interval_secs: float, pool=None,
    ):
        self.holders = holders
        self.events = events
        self.request_pass = request_pass  # a GPU's look changed what may be used
        self._pool = pool  # a thread of its own (the server's): no client IO can queue ahead
        self.policy = policy
        self.backend = backend
        self.interval = interval_secs
        self.last_ok: Optional[float] = None
        self.last_error: Optional[str] = None
        self._logged: tuple[float, str] = (0.0, "")
        self._wake = asyncio.Event()
        self._full = True
        self._targets: set[int] = set()
        self._task: Optional[asyncio.Task] = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.events.subscribe(Started, lambda e: self._launched(e.jobs))
        self.events.subscribe(GpusFreed, lambda e: self._freed(e.gpus))
        self._task = asyncio.create_task(self._run())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _launched(self, jobs) -> None:
        if any(job.gpus for job in jobs):
            self._full = True
            self._wake.set()

    def _freed(self, indices) -> None:
        if self.backend.sees_processes:
            self._targets.update(indices)
            self._wake.set()

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            indices = None if self._full else sorted(self._targets)
            self._full, self._targets = False, set()
            await self.poll(indices)
            if self._full or self._targets:
                continue  # asked for again while this round ran
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except asyncio.TimeoutError:
                self._full = True

    async def poll(self, indices: Optional[list[int]] = None) -> Optional[Query]:
        """One round (all GPUs when `indices` is None); returns the raw answer. Never raises
        (but lets cancellation through)."""
        try:
            runners = {
                gpu: [j.runner_pid for j in holders if j.runner_pid]
                for gpu, holders in self.holders.gpu_holders_all().items()
            }
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(self._pool, self._ask, indices, runners)
            if answer is None:
                return None
            raw = dict(answer.pids)
            self.apply(answer, full=indices is None)
            if answer.failed:
                first = min(answer.failed)
                self._failed(f"GPU {first}: {answer.failed[first]}")
            elif indices is None:  # a round about some GPUs says nothing of the others
                self.last_ok, self.last_error = answer.at, None
            answer.pids = raw
            return answer
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the poll must outlive any surprise from a driver or psutil
            self._failed(f"{type(e).__name__}: {e}")
            return None

    def _ask(self, indices, runners) -> Optional[Query]:
        answer = self.backend.query(indices)
        if answer is not None:
            answer.trees = process_trees(runners)
        return answer

    def apply(self, answer: Query, full: bool) -> None:
        """The ignore list first, then the backend's picture; a pass when it changed."""
        if full:
            answer.pids = self.policy.observe_gpu_processes(answer.pids) or {}
        else:  # a partial answer says nothing about other GPUs' ignore entries
            ignored = self.policy.ignored
            answer.pids = {g: [p for p in ps if (g, p) not in ignored] for g, ps in answer.pids.items()}
        if self.backend.apply(answer, set(self.holders.gpu_holders())):
            self.request_pass()

    def _failed(self, message: str) -> None:
        self.last_error = message
        now = time.monotonic()
        at, said = self._logged
        if message != said or now - at >= LOG_EVERY_SECS:
            log.warning("GPU process query failed: %s", message)
            self._logged = (now, message)
