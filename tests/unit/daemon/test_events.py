"""The lifecycle's event stream: each transition emitted exactly once, after its commit."""
from __future__ import annotations

import asyncio
import inspect

import pytest

from gflow.daemon import events
from gflow.protocol import JobSpec, JobState, Reason, SubmitParams

from engine_stub import cancel, hold, make_engine, release, settled, submit as _submit


async def submit(engine, **fields) -> int:
    job_id = _submit(engine, **fields)
    return await job_id if inspect.isawaitable(job_id) else job_id


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(tmp_path)
    yield eng
    eng.close()


def record(engine) -> list[tuple]:
    """(event name, job id[, state, reason]) per job, in emission order."""
    seen: list[tuple] = []

    def batch(name):
        return lambda e: seen.extend((name, j.id) for j in e.jobs)

    for kind in (events.Submitted, events.Held, events.Released, events.Started):
        engine.events.subscribe(kind, batch(kind.__name__))
    engine.events.subscribe(events.Ended, lambda e: seen.append(("Ended", e.job.id, e.state, e.reason)))
    return seen


def test_submit_hold_release_run_cancel_emits_each_transition_once(engine):
    async def main():
        engine.start()
        seen = record(engine)
        job_id = await submit(engine)  # may start at once: hold it before the pass runs
        hold(engine, [job_id])
        await settled()
        assert engine.table.jobs[job_id].state is JobState.HOLD
        release(engine, [job_id])
        await settled()
        assert engine.table.jobs[job_id].state is JobState.RUNNING
        # the stored state agrees when the event is seen: emitted after the commit
        engine.events.subscribe(
            events.Ended, lambda e: seen.append(("stored", engine.store.state_of(e.job.id)))
        )
        cancel(engine, [job_id])
        await settled()
        return seen

    seen = asyncio.run(main())
    assert seen == [
        ("Submitted", 1),
        ("Held", 1),
        ("Released", 1),
        ("Started", 1),
        ("Ended", 1, JobState.CANCELLED, Reason.CANCELLED_BY_USER.value),
        ("stored", JobState.CANCELLED),
    ]


def test_a_dependency_auto_cancel_emits_ended_for_each_dependent(engine):
    async def main():
        engine.start()
        first = await submit(engine, hold=True)
        second = await submit(engine, depends_on=[str(first)])
        third = await submit(engine, depends_on=[str(second)])
        seen = record(engine)
        cancel(engine, [first])
        await settled()
        return first, second, third, seen

    first, second, third, seen = asyncio.run(main())
    failed = Reason.DEPENDENCY_FAILED.value
    assert sorted(seen) == sorted([
        ("Ended", first, JobState.CANCELLED, Reason.CANCELLED_BY_USER.value),
        ("Ended", second, JobState.CANCELLED, f"{failed}:{first}"),
        ("Ended", third, JobState.CANCELLED, f"{failed}:{second}"),
    ])


def test_a_natural_exit_ends_once_and_wakes_waiters(engine):
    async def main():
        engine.start()
        seen = record(engine)
        job_id = await submit(engine)
        await settled()
        waiting = asyncio.ensure_future(engine.lifecycle.wait([job_id], timeout=None))
        await settled()
        engine.executor.exited(job_id, 3)
        await waiting
        return job_id, seen

    job_id, seen = asyncio.run(main())
    assert seen == [("Submitted", job_id), ("Started", job_id), ("Ended", job_id, JobState.FAILED, None)]


def test_a_slow_subscriber_loses_the_oldest_events_not_the_loop():
    bus = events.EventBus()
    async def main():
        q = bus.queue(events.ClockStepped, maxsize=2)
        for _ in range(5):
            bus.emit(events.ClockStepped())
        return q.qsize()

    assert asyncio.run(main()) == 2
