"""A launched job's shepherd pid is saved with the next commit, or by one timer once it has
waited the delay: never a commit of its own per launch, never lost."""
from __future__ import annotations

import asyncio
import time

import msgspec
import pytest

from gflow.daemon.jobs import scheduling
from gflow.protocol import Job

from engine_stub import make_engine, settled, submit


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(tmp_path)
    yield eng
    eng.close()


def _stored_pid(engine, job_id: int):
    """What the database says, not the store's deferred rows."""
    (blob,) = engine.store.db.execute("SELECT data FROM jobs WHERE id=?", (job_id,)).fetchone()
    return msgspec.msgpack.decode(blob, type=Job).runner_pid


def _count_fact_timers(monkeypatch, engine) -> list:
    armed = []
    loop = asyncio.get_running_loop()
    real = loop.call_later

    def call_later(delay, fn, *args):
        if fn == engine.scheduling._flush_facts:
            armed.append(delay)
        return real(delay, fn, *args)

    monkeypatch.setattr(loop, "call_later", call_later)
    return armed


def test_one_timer_serves_a_stream_of_launches_and_commits(engine, monkeypatch):
    async def main():
        engine.start()
        armed = _count_fact_timers(monkeypatch, engine)
        for _ in range(5):  # each submission commits, carrying the pids launched before it
            submit(engine)
            await settled()
        return armed

    armed = asyncio.run(main())
    assert armed == [scheduling._FACTS_DELAY], f"a facts timer per launch or commit: {armed}"


def test_the_timer_saves_only_pids_that_waited_the_delay(engine, monkeypatch):
    async def main():
        engine.start()
        job_id = submit(engine)
        await settled()
        assert engine.table.find(job_id).runner_pid == 4242
        engine.scheduling._flush_facts()  # fired early (a timer armed for an older pid)
        not_yet = _stored_pid(engine, job_id)
        later = time.monotonic() + scheduling._FACTS_DELAY
        monkeypatch.setattr(time, "monotonic", lambda: later)
        engine.scheduling._flush_facts()
        return job_id, not_yet

    job_id, not_yet = asyncio.run(main())
    assert not_yet is None, "a pid was saved before it waited the delay"
    assert _stored_pid(engine, job_id) == 4242, "a pid that waited the delay was not saved"
