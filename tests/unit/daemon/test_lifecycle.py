"""Every way a job ends goes through the lifecycle's one `end` path: the state and reason
stored, the process stopped the right way, one Ended event, dependents handled."""
from __future__ import annotations

import asyncio
import inspect

import pytest

from gflow.daemon import events
from gflow.protocol import DependencyMode, JobState, Reason

from engine_stub import make_engine, settled, submit as _submit


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(tmp_path)
    yield eng
    eng.close()


async def submit(engine, **fields) -> int:
    job_id = _submit(engine, **fields)
    return await job_id if inspect.isawaitable(job_id) else job_id


def ended(engine) -> list[tuple]:
    seen: list[tuple] = []
    engine.events.subscribe(events.Ended, lambda e: seen.append((e.job.id, e.state, e.reason)))
    return seen


def test_a_reached_time_limit_times_the_job_out_and_stops_it(engine):
    async def main():
        engine.start()
        job_id = await submit(engine, time_limit=3600)
        await settled()
        seen = ended(engine)
        engine.events.emit(events.TimeLimitReached(job_id))  # what the timer reports
        return job_id, seen

    job_id, seen = asyncio.run(main())
    assert seen == [(job_id, JobState.TIMEOUT, None)]
    assert engine.executor.stopped == [("timeout", job_id)]
    assert engine.store.state_of(job_id) is JobState.TIMEOUT


def test_a_failed_launch_fails_the_job_without_stopping_anything(engine):
    async def main():
        engine.start()
        engine.executor.fail_launch = RuntimeError("no shell")
        job_id = await submit(engine)
        await settled()
        return job_id

    job_id = asyncio.run(main())
    job = engine.table.find(job_id)
    assert job.state is JobState.FAILED and job.reason == f"{Reason.SYSTEM_ERROR.value}:no shell"
    assert engine.executor.stopped == []


def test_a_memory_kill_fails_the_job_and_cancels_its_dependents(engine):
    async def main():
        engine.start()
        first = await submit(engine, memory_limit_mb=100)
        await settled()
        second = await submit(engine, depends_on=[str(first)])
        seen = ended(engine)
        engine.lifecycle.memory_exceeded(first, 500.0)
        return first, second, seen

    first, second, seen = asyncio.run(main())
    assert seen == [
        (first, JobState.FAILED, Reason.MEMORY_LIMIT.value),
        (second, JobState.CANCELLED, f"{Reason.DEPENDENCY_FAILED.value}:{first}"),
    ]
    assert engine.executor.stopped == [("kill", first)]


def test_a_failure_with_retries_left_queues_the_next_attempt_for_its_dependents(engine):
    async def main():
        engine.start()
        first = await submit(engine, max_retries=1)
        await settled()
        second = await submit(engine, depends_on=[str(first)])
        seen: list = []
        engine.events.subscribe(events.Submitted, lambda e: seen.extend(("Submitted", j.id) for j in e.jobs))
        engine.events.subscribe(events.Ended, lambda e: seen.append(("Ended", e.job.id, e.state)))
        engine.executor.exited(first, 1)
        await settled()
        return first, second, seen

    first, second, seen = asyncio.run(main())
    retry = second + 1
    assert seen == [("Ended", first, JobState.FAILED), ("Submitted", retry)]
    assert engine.table.find(retry).retried_from == first
    assert engine.table.find(second).depends_on_ids == [retry], "the dependent was not moved to the retry"
    assert engine.table.find(second).state is JobState.QUEUED


def test_a_success_cancels_the_afternotok_dependents_it_leaves_waiting(engine):
    async def main():
        engine.start()
        ok = await submit(engine)
        await settled()
        never = await submit(engine, depends_on=[str(ok)], dependency_mode=DependencyMode.AFTER_NOT_OK)
        seen = ended(engine)
        engine.executor.exited(ok, 0)
        await settled()
        return ok, never, seen

    ok, never, seen = asyncio.run(main())
    assert seen == [(ok, JobState.FINISHED, None), (never, JobState.CANCELLED, f"{Reason.DEPENDENCY_FAILED.value}:{ok}")]
