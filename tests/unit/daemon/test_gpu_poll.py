"""The GPU poll outlives any error of the driver or of psutil, and says when it last worked."""
from __future__ import annotations

import asyncio
import logging
import threading
import time

from gflow.daemon.gpu import GpuBackend, Query
from gflow.daemon.events import EventBus, GpusFreed
from gflow.daemon.gpu_poll import GpuPoll


class _Backend(GpuBackend):
    name = "test"
    sees_processes = True

    def __init__(self, answers):
        super().__init__()
        from gflow.core.scheduler import Gpu

        self._devices = [Gpu(0, 1000), Gpu(1, 1000)]
        self.answers = list(answers)

    def query(self, indices=None):
        item = self.answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return Query(pids=item, failed={}, at=1.0, started=1.0)


class _Engine:
    def __init__(self, backend):
        self.gpus = backend
        self.passes = 0
        self.events = EventBus()

    def gpu_holders_all(self):
        return {}

    def gpu_holders(self):
        return {}

    def request_pass(self):
        self.passes += 1


class _Policy:
    ignored: set = set()

    def observe_gpu_processes(self, pids):
        return pids


def test_a_poll_round_that_raises_is_logged_and_the_next_one_works(caplog):
    backend = _Backend([KeyError("weird"), KeyError("weird"), {0: [], 1: [4242]}])
    engine = _Engine(backend)
    poll = GpuPoll(engine, backend, engine.events, lambda: engine.request_pass(), _Policy(), interval_secs=1)

    async def rounds():
        first = await poll.poll()
        second = await poll.poll()
        third = await poll.poll()
        return first, second, third

    with caplog.at_level(logging.WARNING, logger="gflow.gpu"):
        first, second, third = asyncio.run(rounds())
    assert first is None and second is None
    assert [r.getMessage() for r in caplog.records] == ["GPU process query failed: KeyError: 'weird'"]  # once
    assert third.pids == {0: [], 1: [4242]}
    assert poll.last_error is None and poll.last_ok == 1.0
    assert backend.reason(1) == "unmanaged(pid=4242)" and engine.passes == 1


def test_a_given_back_gpu_is_asked_about_alone():
    asked = []
    first_round = threading.Event()

    class Recording(_Backend):
        def query(self, indices=None):
            asked.append(indices)
            first_round.set()
            now = time.time()
            return Query(pids={i: [] for i in (indices or [0, 1])}, failed={}, at=now, started=now)

    backend = Recording([])
    engine = _Engine(backend)
    poll = GpuPoll(engine, backend, engine.events, lambda: engine.request_pass(), _Policy(), interval_secs=3600)

    async def run():
        looked = asyncio.Event()
        engine.request_pass = looked.set  # the GPU's look changed what may be used
        poll.start()
        await asyncio.get_running_loop().run_in_executor(None, first_round.wait)
        backend.freed({1})
        engine.events.emit(GpusFreed(frozenset({1})))
        await looked.wait()
        poll.close()

    asyncio.run(run())
    assert asked == [None, [1]]
    assert backend.reason(1) is None
