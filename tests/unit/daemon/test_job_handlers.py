"""The job methods' handlers decide which jobs a request may change (owner or admin, the right
state, each id alone); the lifecycle makes the change. Run as the daemon runs them, against an
engine with a stub executor."""
from __future__ import annotations

import asyncio
import os

import pytest

from gflow.daemon import events, identity
from gflow.protocol import (
    ErrorCode,
    GflowError,
    JobState,
    OutcomeParams,
    RedoParams,
    SetLimitParams,
    UpdateParams,
)

from engine_stub import call, hold, make_engine, release, settled, submit


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(tmp_path)
    yield eng
    eng.close()


def owner() -> identity.Caller:
    """The submitter of the stub's jobs, without admin rights."""
    uid = os.geteuid()
    return identity.Caller(pid=os.getpid(), uid=uid, gid=os.getegid(), user=identity.user_name(uid), admin=False)


STRANGER = identity.Caller(pid=1, uid=os.geteuid() + 4242, gid=4242, user="stranger", admin=False)


def run(body):
    """`body(engine)` inside the loop (a transition asks for a pass), after start-up."""

    async def main(engine):
        engine.start()
        result = body(engine)
        await settled()
        return result

    return lambda engine: asyncio.run(main(engine))


def queued_behind_held(engine) -> tuple[int, int]:
    """A held job, and a job Queued behind it (it cannot start while the first is held)."""
    first = submit(engine, hold=True)
    return first, submit(engine, depends_on=[str(first)])


def test_the_owner_holds_then_releases_a_queued_job(engine):
    seen: list[tuple] = []
    engine.events.subscribe(events.Held, lambda e: seen.append(("Held", [j.id for j in e.jobs])))
    engine.events.subscribe(events.Released, lambda e: seen.append(("Released", [j.id for j in e.jobs])))

    def body(engine):
        _, job_id = queued_behind_held(engine)
        held = hold(engine, [job_id], who=owner())
        assert engine.store.get(job_id).state is JobState.HOLD
        released = release(engine, [job_id], at=4e9, who=owner())
        return job_id, held, released

    job_id, held, released = run(body)(engine)
    assert (held.done, held.errors) == ([job_id], [])
    assert (released.done, released.errors) == ([job_id], [])
    stored = engine.store.get(job_id)
    assert stored.state is JobState.QUEUED and stored.scheduled_at == 4e9
    assert seen == [("Held", [job_id]), ("Released", [job_id])]


def test_each_id_is_refused_alone(engine):
    def body(engine):
        held, queued = queued_behind_held(engine)
        return held, queued, hold(engine, [queued, held, 999, queued], who=owner())

    held, queued, result = run(body)(engine)
    assert result.done == [queued]
    assert result.errors == [
        (held, f"Job {held} is in state 'Hold' and cannot be held. Only Queued jobs can be held."),
        (999, "Job 999 not found"),
        # named twice: the second mention finds it held already
        (queued, f"Job {queued} is in state 'Hold' and cannot be held. Only Queued jobs can be held."),
    ]
    assert engine.table.jobs[queued].state is JobState.HOLD and engine.table.jobs[held].state is JobState.HOLD


def test_another_users_job_is_left_alone(engine):
    def body(engine):
        held, queued = queued_behind_held(engine)
        results = (
            hold(engine, [queued], who=STRANGER),
            release(engine, [held], who=STRANGER),
            call(engine, "jobs.update", UpdateParams(ids=[queued], priority=9), STRANGER),
        )
        return held, queued, results

    held, queued, (held_result, released, updated) = run(body)(engine)
    for result, job_id in ((held_result, queued), (released, held), (updated, queued)):
        ((refused_id, why),) = result.errors
        assert refused_id == job_id and f"job {job_id} belongs to " in why
    assert held_result.done == released.done == updated.updated == []
    assert engine.store.get(held).state is JobState.HOLD
    stored = engine.store.get(queued)
    assert stored.state is JobState.QUEUED and stored.priority != 9


def test_an_update_changes_a_waiting_job_and_refuses_a_running_one(engine):
    async def main():
        engine.start()
        running = submit(engine)
        await settled()
        _, queued = queued_behind_held(engine)
        result = call(engine, "jobs.update", UpdateParams(ids=[queued, running], priority=9, gpus=0), owner())
        await settled()
        return queued, running, result

    queued, running, result = asyncio.run(main())
    assert result.updated == [(queued, ["gpus", "priority"])]
    ((refused_id, why),) = result.errors
    assert refused_id == running and "cannot be updated" in why
    assert engine.store.get(queued).priority == 9
    assert engine.store.get(running).priority != 9


def test_an_update_with_nothing_to_change_is_a_bad_request(engine):
    with pytest.raises(GflowError) as refused:
        call(engine, "jobs.update", UpdateParams(ids=[1]))
    assert refused.value.code is ErrorCode.BAD_REQUEST


def test_the_owner_reports_a_running_jobs_outcome_a_stranger_may_not(engine):
    async def main():
        engine.start()
        job_id = submit(engine)
        await settled()
        with pytest.raises(GflowError) as forbidden:
            call(engine, "jobs.outcome", OutcomeParams(id=job_id, success=True), STRANGER)
        assert engine.table.jobs[job_id].state is JobState.RUNNING
        call(engine, "jobs.outcome", OutcomeParams(id=job_id, success=False), owner())
        with pytest.raises(GflowError) as again:
            call(engine, "jobs.outcome", OutcomeParams(id=job_id, success=True), owner())
        return job_id, forbidden.value, again.value

    job_id, forbidden, again = asyncio.run(main())
    assert forbidden.code is ErrorCode.FORBIDDEN
    assert again.code is ErrorCode.CONFLICT and again.message == f"Job {job_id} is Failed, not Running"
    assert engine.store.get(job_id).state is JobState.FAILED
    assert engine.executor.stopped == [("cancel", job_id)]


def test_redo_makes_a_new_job_from_a_finished_one_only(engine):
    async def main():
        engine.start()
        job_id = submit(engine)
        await settled()
        engine.executor.exited(job_id, 0)
        _, queued = queued_behind_held(engine)
        with pytest.raises(GflowError) as waiting:
            call(engine, "jobs.redo", RedoParams(ref=str(queued)), owner())
        with pytest.raises(GflowError) as forbidden:
            call(engine, "jobs.redo", RedoParams(ref=str(job_id)), STRANGER)
        redone = call(engine, "jobs.redo", RedoParams(ref=str(job_id), priority=7), owner())
        return job_id, waiting.value, forbidden.value, redone

    job_id, waiting, forbidden, redone = asyncio.run(main())
    assert waiting.code is ErrorCode.CONFLICT and forbidden.code is ErrorCode.FORBIDDEN
    assert redone.source_id == job_id and redone.cascade == [] and redone.skipped == []
    new = engine.table.find(redone.job.id)
    assert new.redone_from == job_id and new.priority == 7 and new.owner_uid == os.geteuid()


def test_a_group_limit_is_set_on_every_member_by_their_owner_only(engine):
    from gflow.protocol import JobSpec, SubmitParams

    def body(engine):
        spec = JobSpec(command="true", run_dir="/", hold=True)
        group = SubmitParams(jobs=[spec, spec], env={}, group_max_concurrent=2)
        ids = [j for j, _ in engine.creation.submit(owner(), group).jobs]
        with pytest.raises(GflowError) as forbidden:
            call(engine, "groups.set_limit", SetLimitParams(target=str(ids[0]), limit=0), STRANGER)
        limited = call(engine, "groups.set_limit", SetLimitParams(target=str(ids[1]), limit=1), owner())
        return ids, forbidden.value, limited

    ids, forbidden, result = run(body)(engine)
    assert forbidden.code is ErrorCode.FORBIDDEN
    assert result.updated == 2 and result.found_job == ids[1]
    assert [engine.store.get(j).max_concurrent for j in ids] == [1, 1]
